"""SMTP acceptance throughput: Roost vs Postfix 3.7, side by side, reported as ratios.

Both servers queue every accepted message durably before answering 250 and never deliver it:
Postfix puts it on hold (cleanup fsyncs the queue file first), Roost queues it for a remote
recipient from a trusted network (blob fsynced + SQLite WAL commit with synchronous=FULL, group
commit). Load comes from Postfix's own `smtp-source`. Runs alternate A B A B (Postfix, Roost);
each ratio is taken within its pair and the median is reported (see /work/shared/bench.md).

    .venv/bin/python bench/smtp_accept.py [--quick] [--messages N] [--pairs K]
        [--sessions 10,50] [--sizes 5120] [--modes new,reuse]

Must run as root (it starts a private Postfix instance). Writes bench/results/smtp_accept-*.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
VENV_BIN = Path(sys.executable).parent
SBIN = Path("/usr/sbin")
SMTP_SOURCE = SBIN / "smtp-source"
POSTFIX = SBIN / "postfix"
POSTCONF = SBIN / "postconf"
POSTSUPER = SBIN / "postsuper"
SENDER, RECIPIENT = "a@x.test", "b@y.test"
QUEUE_WAIT_SECONDS = 30.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cmd: list[str | Path], **kw: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_banner(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    with contextlib.suppress(OSError):
                        s.recv(512)
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no SMTP banner on 127.0.0.1:{port} after {timeout}s")
        time.sleep(0.05)


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields]
    busy = sum(ticks) - ticks[3] - ticks[4]  # minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cell:
    sessions: int
    size: int
    reuse: bool  # smtp-source -d: each session keeps its connection

    @property
    def label(self) -> str:
        mode = "reuse (-d)" if self.reuse else "new conn/msg"
        return f"-s {self.sessions} -l {self.size} {mode}"


@dataclass
class Sample:
    server: str
    messages: int
    seconds: float
    rate: float
    machine_cpu_ms_per_msg: float
    stored: int


@dataclass
class CellResult:
    cell: Cell
    messages: int
    samples: list[Sample] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)

    def rates(self, server: str) -> list[float]:
        return [s.rate for s in self.samples if s.server == server]


def smtp_source(port: int, cell: Cell, messages: int) -> tuple[float, float]:
    """Send `messages` with smtp-source; (wall seconds, machine CPU seconds)."""
    cmd = [str(SMTP_SOURCE), "-s", str(cell.sessions), "-l", str(cell.size), "-m", str(messages)]
    if cell.reuse:
        cmd.append("-d")
    cmd += ["-f", SENDER, "-t", RECIPIENT, f"127.0.0.1:{port}"]
    cpu0 = machine_cpu_seconds()
    t0 = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - t0
    cpu = machine_cpu_seconds() - cpu0
    if result.returncode != 0 or "fatal" in result.stderr:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr}")
    return elapsed, cpu


# --- Postfix ------------------------------------------------------------------------------------


class PostfixInstance:
    """A private Postfix: own config, queue and data dirs; one loopback port; all mail on hold."""

    def __init__(self, root: Path, port: int, maillog: bool) -> None:
        self.root = root
        self.port = port
        self.conf = root / "etc"
        self.queue = root / "spool"
        self.data = root / "lib"
        self.maillog = maillog
        self.running = False

    def postconf(self, *args: str) -> None:
        run([POSTCONF, "-c", self.conf, *args])

    def setup(self) -> None:
        for d in (self.conf, self.queue, self.data):
            d.mkdir(parents=True, exist_ok=True)
        shutil.copy("/etc/postfix/master.cf", self.conf / "master.cf")
        (self.conf / "main.cf").write_text("")
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue),
            "data_directory": str(self.data),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "postfix.bench.test",
            "mydomain": "bench.test",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "mydestination": "",
            "local_recipient_maps": "",
            "relay_domains": "",
            "alias_maps": "",
            "alias_database": "",
            "smtpd_recipient_restrictions": (
                "check_client_access static:HOLD, permit_mynetworks, reject"
            ),
            "biff": "no",
            "smtpd_banner": "$myhostname ESMTP",
        }
        if self.maillog:  # postlogd to a file (costs CPU: ~4 lines per message); else syslog
            settings["maillog_file"] = str(self.root / "maillog")
        self.postconf("-e", *(f"{k}={v}" for k, v in settings.items()))
        self.postconf("-M#", "smtp/inet")
        addr = f"127.0.0.1:{self.port}"
        self.postconf("-M", f"{addr}/inet={addr} inet n - n - - smtpd")
        self.postconf("-F", "*/*/chroot = n")
        # Creates the queue directories with Debian's owners and modes (post-install).
        run([POSTFIX, "-c", self.conf, "set-permissions"])
        run([POSTFIX, "-c", self.conf, "check"])

    def start(self) -> None:
        run([POSTFIX, "-c", self.conf, "start"])
        self.running = True
        wait_for_banner(self.port)

    def master_pid(self) -> int | None:
        try:
            pid = int((self.queue / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if Path(f"/proc/{pid}").exists() else None

    def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        pid = self.master_pid()
        with contextlib.suppress(RuntimeError):
            run([POSTFIX, "-c", self.conf, "stop"])
        deadline = time.monotonic() + 15
        while pid is not None and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid is not None and Path(f"/proc/{pid}").exists():
            log(f"postfix master {pid} still running; SIGKILL")
            os.kill(pid, signal.SIGKILL)

    def clear(self) -> None:
        run([POSTSUPER, "-c", self.conf, "-d", "ALL"])

    def count(self, queue: str = "hold") -> int:
        return sum(len(files) for _, _, files in os.walk(self.queue / queue))

    def wait_count(self, expected: int) -> int:
        deadline = time.monotonic() + QUEUE_WAIT_SECONDS
        while True:
            n = self.count()
            if n >= expected or time.monotonic() > deadline:
                return n
            time.sleep(0.1)


# --- Roost --------------------------------------------------------------------------------------


class RoostInstance:
    """`roost init` once into a template; every run starts `roost serve` on a fresh copy."""

    def __init__(self, root: Path, port: int, log_level: str) -> None:
        self.root = root
        self.port = port
        self.template = root / "template"
        self.log_level = log_level
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.current: Path | None = None

    def roost(self, config: Path, *args: str) -> None:
        run([VENV_BIN / "roost", "--config", config, *args])

    def setup(self) -> None:
        run([VENV_BIN / "roost", "init", "--dir", self.template, "--domain", "bench.test"])
        cfg = self.template / "roost.toml"
        for key, value in [
            ("listeners.mx.address", f"127.0.0.1:{self.port}"),
            ("listeners.submission.enabled", "false"),
            ("listeners.submissions.enabled", "false"),
            ("log.level", self.log_level),
            ("storage.backend", "sqlite"),
            # Postfix exempts $mynetworks from its per-client connection limit; so do we here.
            ("limits.max_connections_per_ip", "1000"),
            # Postfix holds what it accepts; Roost's delivery engine stays off likewise, so both
            # only accept and queue durably.
            ("delivery.enabled", "false"),
        ]:
            self.roost(cfg, "config", "set", key, value)

    @contextlib.contextmanager
    def serve(self, extra_cmd: list[str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
        self.runs += 1
        self.current = self.root / f"run-{self.runs}"
        shutil.copytree(self.template, self.current)
        cfg = self.current / "roost.toml"
        logf = (self.current / "serve.log").open("wb")
        cmd = [str(VENV_BIN / "roost"), "--config", str(cfg), "serve"]
        self.proc = subprocess.Popen(
            (extra_cmd or []) + cmd, stdout=logf, stderr=subprocess.STDOUT, cwd=self.current
        )
        try:
            wait_for_banner(self.port)
            yield self.proc
        finally:
            self.stop()
            logf.close()

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.returncode not in (0, -signal.SIGTERM):
            assert self.current is not None
            tail = (self.current / "serve.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"roost serve exited with {proc.returncode}:\n{tail}")

    def count(self) -> int:
        """Queued messages in the last run's store (open_store on that config)."""
        assert self.current is not None
        sys.path.insert(0, str(REPO / "src"))
        from roost.config import load_config
        from roost.store import open_store

        store = open_store(load_config(self.current / "roost.toml"))
        try:
            entries = store.list_queue()
        finally:
            store.close()
        bad = [e for e in entries if [r.address for r in e.recipients] != [RECIPIENT]]
        if bad:
            raise RuntimeError(f"unexpected queue entries, e.g. {bad[0]}")
        return len(entries)

    def cleanup_run(self) -> None:
        if self.current is not None:
            shutil.rmtree(self.current, ignore_errors=True)


# --- the matrix ---------------------------------------------------------------------------------


def warmup_messages(cell: Cell) -> int:
    return max(20, 2 * cell.sessions)


def run_postfix(pf: PostfixInstance, cell: Cell, messages: int) -> Sample:
    pf.clear()
    warm = warmup_messages(cell)
    smtp_source(pf.port, cell, warm)
    seconds, cpu = smtp_source(pf.port, cell, messages)
    stored = pf.wait_count(warm + messages)
    if stored != warm + messages:
        raise RuntimeError(f"postfix: {stored} in hold/, expected {warm + messages} ({cell})")
    pf.clear()
    return Sample("postfix", messages, seconds, messages / seconds, 1000 * cpu / messages, stored)


def run_roost(rs: RoostInstance, cell: Cell, messages: int) -> Sample:
    warm = warmup_messages(cell)
    with rs.serve():
        smtp_source(rs.port, cell, warm)
        seconds, cpu = smtp_source(rs.port, cell, messages)
    stored = rs.count()
    rs.cleanup_run()
    if stored != warm + messages:
        raise RuntimeError(f"roost: {stored} queued, expected {warm + messages} ({cell})")
    return Sample("roost", messages, seconds, messages / seconds, 1000 * cpu / messages, stored)


def calibrate(pf: PostfixInstance, cell: Cell, target_seconds: float) -> int:
    """Messages for ~target_seconds of Postfix at this cell (Roost then takes less)."""
    pf.clear()
    probe = max(100, 10 * cell.sessions)
    smtp_source(pf.port, cell, warmup_messages(cell))
    seconds, _ = smtp_source(pf.port, cell, probe)
    pf.clear()
    n = int(probe / seconds * target_seconds)
    return max(5 * cell.sessions, 50, round(n, -1))


def run_cell(
    pf: PostfixInstance, rs: RoostInstance, cell: Cell, messages: int, pairs: int
) -> CellResult:
    result = CellResult(cell, messages)
    for i in range(pairs):
        a = run_postfix(pf, cell, messages)
        b = run_roost(rs, cell, messages)
        result.samples += [a, b]
        result.ratios.append(b.rate / a.rate)
        log(
            f"  pair {i + 1}: postfix {a.rate:7.0f}/s ({a.machine_cpu_ms_per_msg:.2f} ms CPU/msg)"
            f"  roost {b.rate:7.0f}/s ({b.machine_cpu_ms_per_msg:.2f} ms CPU/msg)"
            f"  ratio {b.rate / a.rate:.2f}"
        )
    return result


def table(results: list[CellResult]) -> str:
    lines = [
        "| sessions | size | connections | msgs/run | Postfix msg/s | Roost msg/s "
        "| ratio (median) | ratios | CPU ms/msg P / R |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        c = r.cell
        pcpu = statistics.median(
            s.machine_cpu_ms_per_msg for s in r.samples if s.server == "postfix"
        )
        rcpu = statistics.median(s.machine_cpu_ms_per_msg for s in r.samples if s.server == "roost")
        lines.append(
            f"| {c.sessions} | {c.size // 1024} KB | {'reuse (-d)' if c.reuse else 'new per msg'} "
            f"| {r.messages} | {statistics.median(r.rates('postfix')):.0f} "
            f"| {statistics.median(r.rates('roost')):.0f} "
            f"| **{statistics.median(r.ratios):.2f}x** "
            f"| {', '.join(f'{x:.2f}' for x in r.ratios)} | {pcpu:.2f} / {rcpu:.2f} |"
        )
    return "\n".join(lines)


def git_commit() -> str:
    with contextlib.suppress(Exception):
        out = run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = run(["git", "-C", REPO, "status", "--porcelain", "--", "src"]).stdout.strip()
        return out + ("+dirty-src" if dirty else "")
    return "unknown"


def check_no_system_postfix() -> list[str]:
    """Warnings if any Postfix master is still running or anything listens on port 25."""
    warnings = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if argv and argv[0].endswith(b"/postfix/sbin/master"):
                warnings.append(f"a Postfix master is running: pid {proc.name}")
    ss = subprocess.run(["ss", "-Hltn", "sport = :25"], capture_output=True, text=True)
    if ss.stdout.strip():
        warnings.append(f"something listens on port 25: {ss.stdout.strip()}")
    return warnings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 5 KB only, ~1 s runs, 1 pair")
    p.add_argument("--messages", type=int, help="messages per run (default: ~4 s of Postfix)")
    p.add_argument("--pairs", type=int, help="A B pairs per cell (default 3; --quick: 1)")
    p.add_argument("--sessions", default="1,10,50", help="comma list (default 1,10,50)")
    p.add_argument("--sizes", default="1024,5120,51200", help="bytes, comma list")
    p.add_argument("--modes", default="new,reuse", help="new (connection per message), reuse (-d)")
    p.add_argument(
        "--reuse-sizes", default="", help="sizes run with -d (default: all sizes in --sizes)"
    )
    p.add_argument("--seconds", type=float, default=4.0, help="target Postfix seconds per run")
    p.add_argument("--log-level", default="warning", help="Roost log.level (default warning)")
    p.add_argument("--postfix-maillog", action="store_true", help="Postfix logs to a file")
    p.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = p.parse_args(argv)
    if args.quick:
        args.pairs = args.pairs or 1
        args.seconds = 1.0
        if args.sizes == "1024,5120,51200":
            args.sizes = "5120"
        if args.sessions == "1,10,50":
            args.sessions = "10,50"
    args.pairs = args.pairs or 3
    return args


def cells(args: argparse.Namespace) -> list[Cell]:
    sessions = [int(x) for x in args.sessions.split(",")]
    sizes = [int(x) for x in args.sizes.split(",")]
    reuse_sizes = [int(x) for x in args.reuse_sizes.split(",")] if args.reuse_sizes else sizes
    modes = args.modes.split(",")
    out = []
    for size in sizes:
        for reuse in (False, True):
            if (reuse and ("reuse" not in modes or size not in reuse_sizes)) or (
                not reuse and "new" not in modes
            ):
                continue
            out += [Cell(s, size, reuse) for s in sessions]
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        log("run as root: the private Postfix instance needs it")
        return 2
    for tool in (SMTP_SOURCE, POSTFIX, POSTCONF, POSTSUPER):
        if not tool.exists():
            log(f"{tool} missing: apt-get install postfix (debconf: No configuration)")
            return 2
    RESULTS.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="roost-bench-", dir="/var/tmp"))
    os.chmod(work, 0o755)  # postfix daemons (uid postfix) must traverse it
    pf = PostfixInstance(work / "postfix", free_port(), args.postfix_maillog)
    rs = RoostInstance(work / "roost", free_port(), args.log_level)
    results: list[CellResult] = []
    started = dt.datetime.now(dt.UTC)
    try:
        log(f"work dir {work}; postfix :{pf.port}, roost :{rs.port}")
        pf.setup()
        rs.setup()
        pf.start()
        for cell in cells(args):
            messages = args.messages or calibrate(pf, cell, args.seconds)
            log(f"{cell.label}: {messages} messages x {args.pairs} pairs")
            results.append(run_cell(pf, rs, cell, messages, args.pairs))
    finally:
        rs.stop()
        pf.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        for w in check_no_system_postfix():
            log(f"WARNING: {w}")
    md = table(results)
    meta = {
        "date": started.isoformat(timespec="seconds"),
        "commit": git_commit(),
        "python": platform.python_version(),
        "postfix": run([POSTCONF, "-dh", "mail_version"]).stdout.strip(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "roost_log_level": args.log_level,
        "postfix_logging": "maillog_file" if args.postfix_maillog else "syslog (no /dev/log here)",
        "pairs": args.pairs,
        "argv": sys.argv[1:],
    }
    out = RESULTS / f"smtp_accept-{started:%Y%m%dT%H%M%SZ}.json"
    out.write_text(
        json.dumps(
            {"meta": meta, "cells": [asdict(r) for r in results], "table": md},
            indent=2,
        )
    )
    head = (
        f"\n{meta['date']} commit {meta['commit']}, {meta['cpus']} CPUs, Postfix {meta['postfix']}"
    )
    print(head)
    print(md)
    log(f"raw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
