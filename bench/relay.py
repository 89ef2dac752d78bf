"""Relay end to end: Roost vs Postfix 3.7, each relaying to the same `smtp-sink`, as ratios.

Each server accepts N messages from `smtp-source` (a@x.test -> b@y.test) and relays them to
Postfix's `smtp-sink` on a loopback port: Postfix through `relayhost = [127.0.0.1]:SINK`, Roost
through `delivery.transport = {"y.test" = "[127.0.0.1]:SINK"}`. The clock runs from the start of
`smtp-source` (its first connection) until the server's queue is empty and the sink has counted
every message. Runs alternate A B A B (Postfix, Roost); each ratio is taken within its pair and the
median is reported (see /work/shared/bench.md).

    .venv/bin/python bench/relay.py [--quick] [--messages N] [--pairs K] [--sessions 10]

Must run as root (it starts a private Postfix instance). Writes bench/results/relay-*.json.
Shares the Postfix/Roost harness with smtp_accept.py.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from smtp_accept import (
    POSTCONF,
    POSTFIX,
    POSTSUPER,
    RECIPIENT,
    REPO,
    RESULTS,
    SBIN,
    SENDER,
    SMTP_SOURCE,
    VENV_BIN,
    PostfixInstance,
    RoostInstance,
    check_no_system_postfix,
    free_port,
    git_commit,
    log,
    machine_cpu_seconds,
    run,
    wait_for_banner,
)

SMTP_SINK = SBIN / "smtp-sink"
POLL_SECONDS = 0.05  # queue/sink polling while waiting for the queue to drain
DRAIN_TIMEOUT = 300.0  # a run that has not drained by then fails
POSTFIX_QUEUES = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt")
# Postfix's default_destination_concurrency_limit (smtp_destination_concurrency_limit inherits it)
POSTFIX_DEST_CONCURRENCY = 20


# --- the sink -----------------------------------------------------------------------------------


class Sink:
    """`smtp-sink -c` on a loopback port: discards mail, prints running counters to a file.

    With -c it rewrites `sess=S quit=Q mesg=M` after every session end, QUIT and "."; `mesg` is the
    number of messages received (a "." answered 250). A fresh sink per run, so counts start at 0.
    """

    MESG = re.compile(rb"mesg=(\d+)")
    SESS = re.compile(rb"sess=(\d+)")

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.out: Path | None = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        self.out = self.root / f"sink-{self.runs}.out"
        with self.out.open("wb") as f:
            # 1000: listen backlog; -m 1000 connections at most (default 256); -u: drop root
            self.proc = subprocess.Popen(
                [SMTP_SINK, "-c", "-m", "1000", "-u", "postfix", f"127.0.0.1:{self.port}", "1000"],
                stdout=f,
                stderr=subprocess.STDOUT,
            )
        wait_for_banner(self.port)

    def count(self) -> int:
        """Messages received so far (the last `mesg=` in the counter output)."""
        assert self.out is not None
        with self.out.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 200))
            found = self.MESG.findall(f.read())
        # wait_for_banner's probe session prints "sess=1 quit=1" with no mesg= yet
        return int(found[-1]) if found else 0

    def sessions(self) -> int:
        """Sessions so far, minus the banner probe of `start`."""
        assert self.out is not None
        found = self.SESS.findall(self.out.read_bytes()[-200:])
        return int(found[-1]) - 1 if found else 0

    def stop(self) -> tuple[int, int]:
        """Stop the sink; the final message and session counts."""
        if self.proc is None:
            return 0, 0
        proc, self.proc = self.proc, None
        time.sleep(0.1)  # the last counter update follows the last QUIT
        n, sessions = self.count(), self.sessions()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return n, sessions


# --- the two servers, configured to relay -------------------------------------------------------


class RelayPostfix(PostfixInstance):
    """smtp_accept's private Postfix, but relaying from loopback to the sink (no hold)."""

    def __init__(self, root: Path, port: int, maillog: bool, sink_port: int) -> None:
        super().__init__(root, port, maillog)
        self.sink_port = sink_port

    def setup(self) -> None:
        super().setup()
        self.postconf(
            "-e",
            "smtpd_recipient_restrictions = permit_mynetworks, reject",
            f"relayhost = [127.0.0.1]:{self.sink_port}",
            # Debian's compiled-in defaults, spelled out: no TLS towards the sink, 20 parallel
            # connections per destination (qmgr starts at 5 and raises it while deliveries work).
            "smtp_tls_security_level = none",
            f"default_destination_concurrency_limit = {POSTFIX_DEST_CONCURRENCY}",
        )
        run([POSTFIX, "-c", self.conf, "check"])

    def queued(self) -> int:
        return sum(self.count(q) for q in POSTFIX_QUEUES)


class RelayRoost(RoostInstance):
    """smtp_accept's Roost template, with the delivery engine on and y.test routed to the sink."""

    def __init__(self, root: Path, port: int, log_level: str, sink_port: int, match: bool) -> None:
        super().__init__(root, port, log_level)
        self.sink_port = sink_port
        self.match_concurrency = match

    def setup(self) -> None:
        super().setup()
        cfg = self.template / "roost.toml"
        settings = [
            ("delivery.enabled", "true"),
            ("delivery.transport", f'{{"y.test" = "[127.0.0.1]:{self.sink_port}"}}'),
            # The sink has no STARTTLS; Postfix's smtp_tls_security_level is none as well.
            ("delivery.default_tls", "none"),
            # Postfix does not sign; x.test is not a local domain anyway, so nothing would be.
            ("dkim.sign", "false"),
        ]
        if self.match_concurrency:
            # Postfix may open 20 connections to the relayhost; Roost's defaults are 10 per domain
            # and 5 per host. Give Roost the same 20 (messages_per_connection stays 100).
            settings += [
                ("delivery.max_connections_per_domain", str(POSTFIX_DEST_CONCURRENCY)),
                ("delivery.max_connections_per_host", str(POSTFIX_DEST_CONCURRENCY)),
            ]
        for key, value in settings:
            self.roost(cfg, "config", "set", key, value)

    def db_path(self) -> Path:
        assert self.current is not None
        sys.path.insert(0, str(REPO / "src"))
        from roost.config import load_config, resolve_path

        config = load_config(self.current / "roost.toml")
        return Path(resolve_path(config, config.storage.sqlite_path))

    def queue_list(self) -> list[object]:
        """`roost queue list --json` of the current run (the official view of the queue)."""
        assert self.current is not None
        out = run([VENV_BIN / "roost", "--config", self.current / "roost.toml", "queue", "list",
                   "--json"]).stdout  # fmt: skip
        return list(json.loads(out))


# --- one run ------------------------------------------------------------------------------------


@dataclass
class Sample:
    server: str
    messages: int
    accept_seconds: float  # smtp-source start -> smtp-source done (every message has its 250)
    drain_seconds: float  # smtp-source start -> queue empty and the sink has every message
    rate: float  # messages / drain_seconds: the end-to-end relay rate
    accept_rate: float  # messages / accept_seconds (acceptance while delivery runs)
    machine_cpu_ms_per_msg: float  # whole machine, over drain_seconds
    sink_received: int
    queue_left: int
    sink_sessions: int = 0  # SMTP connections the server opened to the sink (warm-up included)
    thread_cpu_ms_per_msg: dict[str, float] = field(default_factory=dict)  # Roost, by thread name


def smtp_source(port: int, sessions: int, size: int, messages: int) -> None:
    cmd = [str(SMTP_SOURCE), "-s", str(sessions), "-l", str(size), "-m", str(messages),
           "-f", SENDER, "-t", RECIPIENT, f"127.0.0.1:{port}"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if result.returncode != 0 or "fatal" in result.stderr:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr}")


def wait_drained(sink: Sink, expected: int, queued: Callable[[], int]) -> float:
    """Poll until the sink has `expected` messages and the queue is empty; the time it was seen."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        now = time.perf_counter()
        if sink.count() >= expected and queued() == 0:
            return now
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"not drained after {DRAIN_TIMEOUT}s: sink {sink.count()}/{expected}, "
                f"{queued()} still queued"
            )
        time.sleep(POLL_SECONDS)


def timed(
    server: str,
    port: int,
    sink: Sink,
    queued: Callable[[], int],
    args: argparse.Namespace,
    hooks: tuple[Callable[[], None], Callable[[], None]] | None = None,
) -> Sample:
    """Warm-up, then the timed run, against a fresh sink; verifies every message arrived.
    `hooks` run just before and just after the timed part (profilers, CPU counters)."""
    warm = max(20, 2 * args.sessions)
    smtp_source(port, args.sessions, args.size, warm)
    wait_drained(sink, warm, queued)
    n = args.messages
    if hooks:
        hooks[0]()
    cpu0 = machine_cpu_seconds()
    t0 = time.perf_counter()
    smtp_source(port, args.sessions, args.size, n)
    t_accept = time.perf_counter()
    t_drain = wait_drained(sink, warm + n, queued)
    cpu = machine_cpu_seconds() - cpu0
    if hooks:
        hooks[1]()
    drain = t_drain - t0
    accept = t_accept - t0
    return Sample(server, n, accept, drain, n / drain, n / accept, 1000 * cpu / n, 0, queued())


def run_postfix(pf: RelayPostfix, sink: Sink, args: argparse.Namespace) -> Sample:
    pf.clear()
    if pf.queued():
        raise RuntimeError(f"postfix queue not empty at start: {pf.queued()}")
    sink.start()
    try:
        s = timed("postfix", pf.port, sink, pf.queued, args)
    finally:
        received = sink.stop()
    return check(s, received, args)


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) per thread of process `pid`: "main" (the event loop) and
    "tid N" for the others (Python threads all share the process name)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            stat = (task / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            name = "main" if int(task.name) == pid else f"tid {task.name}"
            out[name] = (int(fields[11]) + int(fields[12])) / tick
    return out


class RoostProbe:
    """Per-thread CPU of `roost serve` over the timed part; optionally a py-spy raw profile."""

    def __init__(self, pid: int, py_spy_out: Path | None) -> None:
        self.pid = pid
        self.py_spy_out = py_spy_out
        self.spy: subprocess.Popen[bytes] | None = None
        self.before: dict[str, float] = {}
        self.delta: dict[str, float] = {}

    def start(self) -> None:
        if self.py_spy_out is not None:
            self.spy = subprocess.Popen(
                [VENV_BIN / "py-spy", "record", "--pid", str(self.pid), "--threads", "--format",
                 "raw", "--rate", "100", "--output", self.py_spy_out, "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(0.5)  # attached before the load starts
        self.before = thread_cpu(self.pid)

    def stop(self) -> None:
        after = thread_cpu(self.pid)
        self.delta = {k: v - self.before.get(k, 0.0) for k, v in after.items()}
        if self.spy is not None:
            self.spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                self.spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.spy.kill()
                self.spy.wait()


def run_roost(
    rs: RelayRoost, sink: Sink, args: argparse.Namespace, py_spy_out: Path | None = None
) -> Sample:
    sink.start()
    try:
        with rs.serve() as proc:
            db = sqlite3.connect(f"file:{rs.db_path()}?mode=ro", uri=True)
            probe = RoostProbe(proc.pid, py_spy_out)
            try:

                def queued() -> int:
                    return int(db.execute("SELECT count(*) FROM queue").fetchone()[0])

                s = timed("roost", rs.port, sink, queued, args, (probe.start, probe.stop))
            finally:
                db.close()
            left = rs.queue_list()
            if left:
                raise RuntimeError(f"roost queue list not empty: {left[:2]}")
    finally:
        received = sink.stop()
    rs.cleanup_run()
    busy = sorted(probe.delta.items(), key=lambda kv: -kv[1])
    s.thread_cpu_ms_per_msg = {k: round(1000 * v / s.messages, 3) for k, v in busy if v > 0}
    return check(s, received, args)


def check(s: Sample, counts: tuple[int, int], args: argparse.Namespace) -> Sample:
    warm = max(20, 2 * args.sessions)
    received, s.sink_sessions = counts
    s.sink_received = received - warm
    if s.sink_received != s.messages or s.queue_left:
        raise RuntimeError(
            f"{s.server}: sink got {received} (expected {warm} + {s.messages}), "
            f"{s.queue_left} left in the queue"
        )
    return s


# --- the whole run ------------------------------------------------------------------------------


@dataclass
class Result:
    messages: int
    samples: list[Sample] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    accept_ratios: list[float] = field(default_factory=list)

    def med(self, server: str, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples if s.server == server)


def table(r: Result, args: argparse.Namespace) -> str:
    def ratios(xs: list[float]) -> str:
        return ", ".join(f"{x:.2f}" for x in xs)

    return "\n".join(
        [
            "| what | msgs/run | Postfix | Roost | ratio (median) | ratios |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
            f"| relay end to end, msg/s (-s {args.sessions}, {args.size // 1024} KB) "
            f"| {r.messages} | {r.med('postfix', 'rate'):.0f} | {r.med('roost', 'rate'):.0f} "
            f"| **{statistics.median(r.ratios):.2f}x** | {ratios(r.ratios)} |",
            f"| acceptance during that run, msg/s | {r.messages} "
            f"| {r.med('postfix', 'accept_rate'):.0f} | {r.med('roost', 'accept_rate'):.0f} "
            f"| {statistics.median(r.accept_ratios):.2f}x | {ratios(r.accept_ratios)} |",
            f"| seconds to empty queue | | {r.med('postfix', 'drain_seconds'):.2f} "
            f"| {r.med('roost', 'drain_seconds'):.2f} | | |",
            f"| machine CPU ms/msg (whole machine, to empty) | "
            f"| {r.med('postfix', 'machine_cpu_ms_per_msg'):.2f} "
            f"| {r.med('roost', 'machine_cpu_ms_per_msg'):.2f} | | |",
        ]
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 500 messages, 1 pair")
    p.add_argument("--messages", type=int, default=3000, help="messages per run (default 3000)")
    p.add_argument("--pairs", type=int, help="A B pairs (default 3; --quick: 1)")
    p.add_argument("--sessions", type=int, default=10, help="smtp-source -s (default 10)")
    p.add_argument("--size", type=int, default=5120, help="smtp-source -l (default 5120)")
    p.add_argument("--log-level", default="warning", help="Roost log.level (default warning)")
    p.add_argument(
        "--roost-defaults",
        action="store_true",
        help="keep Roost's own connection limits (10 per domain, 5 per host) instead of "
        "Postfix's 20 per destination",
    )
    p.add_argument("--postfix-maillog", action="store_true", help="Postfix logs to a file")
    p.add_argument("--keep", action="store_true", help="keep the temp directory")
    p.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="record a py-spy raw profile (--threads, 100 Hz) of each Roost run into DIR",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.pairs = args.pairs or 1
        if "--messages" not in " ".join(argv if argv is not None else sys.argv):
            args.messages = 500
    args.pairs = args.pairs or 3
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        log("run as root: the private Postfix instance needs it")
        return 2
    for tool in (SMTP_SOURCE, SMTP_SINK, POSTFIX, POSTCONF, POSTSUPER):
        if not tool.exists():
            log(f"{tool} missing: apt-get install postfix (debconf: No configuration)")
            return 2
    RESULTS.mkdir(exist_ok=True)
    if args.py_spy:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="roost-bench-relay-", dir="/var/tmp"))
    os.chmod(work, 0o755)  # postfix daemons (uid postfix) must traverse it
    sink = Sink(work, free_port())
    pf = RelayPostfix(work / "postfix", free_port(), args.postfix_maillog, sink.port)
    rs = RelayRoost(work / "roost", free_port(), args.log_level, sink.port, not args.roost_defaults)
    result = Result(args.messages)
    started = dt.datetime.now(dt.UTC)
    try:
        log(f"work dir {work}; postfix :{pf.port}, roost :{rs.port}, sink :{sink.port}")
        pf.setup()
        rs.setup()
        pf.start()
        log(f"-s {args.sessions} -l {args.size}: {args.messages} messages x {args.pairs} pairs")
        for i in range(args.pairs):
            a = run_postfix(pf, sink, args)
            spy = args.py_spy / f"roost-pair{i + 1}.txt" if args.py_spy else None
            b = run_roost(rs, sink, args, spy)
            result.samples += [a, b]
            result.ratios.append(b.rate / a.rate)
            result.accept_ratios.append(b.accept_rate / a.accept_rate)
            log(
                f"  pair {i + 1}: postfix {a.rate:6.0f}/s ({a.drain_seconds:.2f} s, accept "
                f"{a.accept_rate:.0f}/s, {a.machine_cpu_ms_per_msg:.2f} ms CPU/msg)"
                f"  roost {b.rate:6.0f}/s ({b.drain_seconds:.2f} s, accept {b.accept_rate:.0f}/s,"
                f" {b.machine_cpu_ms_per_msg:.2f} ms CPU/msg)  ratio {b.rate / a.rate:.2f}"
            )
            log(
                f"    sink sessions: postfix {a.sink_sessions}, roost {b.sink_sessions}; roost "
                f"thread CPU ms/msg: {b.thread_cpu_ms_per_msg}"
            )
    finally:
        with contextlib.suppress(Exception):
            sink.stop()
        rs.stop()
        pf.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        for w in check_no_system_postfix():
            log(f"WARNING: {w}")
    md = table(result, args)
    meta = {
        "date": started.isoformat(timespec="seconds"),
        "commit": git_commit(),
        "python": platform.python_version(),
        "postfix": run([POSTCONF, "-dh", "mail_version"]).stdout.strip(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "roost_log_level": args.log_level,
        "roost_connections": "defaults (10/domain, 5/host)" if args.roost_defaults else "20/20",
        "postfix_logging": "maillog_file" if args.postfix_maillog else "syslog (no /dev/log here)",
        "pairs": args.pairs,
        "argv": sys.argv[1:],
    }
    out = RESULTS / f"relay-{started:%Y%m%dT%H%M%SZ}.json"
    out.write_text(
        json.dumps({"meta": meta, "result": asdict(result), "table": md}, indent=2) + "\n"
    )
    print(
        f"\n{meta['date']} commit {meta['commit']}, {meta['cpus']} CPUs, Postfix {meta['postfix']}"
        f", Roost connections {meta['roost_connections']}"
    )
    print(md)
    log(f"raw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
