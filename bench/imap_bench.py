"""IMAP: Roost vs Dovecot 2.3 on the same 10,000-message mailbox, reported as ratios.

Both servers get the same Maildir (Dovecot reads it directly, Roost imports it with
`roost mailbox import`), plain TCP on loopback, LOGIN without TLS. One client (bench/imap_wire.py,
literals skipped by length, so client cost is small and equal) times each operation; runs
alternate A B A B (Dovecot, Roost), each ratio is taken within its pair, the median is reported
(see /work/shared/bench.md). Then memory: 1,000 idle connections (logged in with INBOX selected,
and separately only logged in) and the servers' memory before and after.

    .venv/bin/python bench/imap_bench.py [--quick] [--messages N] [--pairs K] [--reps R]
        [--idle N] [--only dovecot|roost] [--skip-idle] [--keep]

Must run as root (it starts a private Dovecot; Debian's dovecot-imapd must be installed).
Writes bench/results/imap-*.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from imap_corpus import SEARCH_FROM, write_maildir
from imap_wire import Wire, count, search_hits
from smtp_accept import free_port, log, run

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
VENV_BIN = Path(sys.executable).parent
DOVECOT = Path("/usr/sbin/dovecot")
USER, PASSWORD = "bench@bench.test", "bench-password"
IDLE_USER = "idle@bench.test"  # a small mailbox for the idle-connection memory figures
IDLE_MESSAGES = 20

OPS: list[tuple[str, str]] = [
    ("SELECT INBOX", "SELECT INBOX"),
    ("FETCH 1:* (UID FLAGS)", "FETCH 1:* (UID FLAGS)"),
    (
        "FETCH 1:* header fields",
        "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])",
    ),
    ("UID SEARCH UNSEEN", "UID SEARCH UNSEEN"),
    (f'UID SEARCH FROM "{SEARCH_FROM}"', f'UID SEARCH FROM "{SEARCH_FROM}"'),
    ("STORE 1:* +FLAGS (\\Flagged)", "STORE 1:* +FLAGS (\\Flagged)"),
    ("STORE 1:* -FLAGS (\\Flagged)", "STORE 1:* -FLAGS (\\Flagged)"),
]


def wait_for_greeting(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(512).startswith(b"* OK"):
                    s.sendall(b"x LOGOUT\r\n")
                    with contextlib.suppress(OSError):
                        s.recv(512)
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no IMAP greeting on port {port}")
        time.sleep(0.1)


def descendants(pid: int) -> list[int]:
    """pid and every process below it (from /proc/*/stat parent links)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (proc / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(proc.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory_kb(pids: list[int]) -> tuple[int, int, int, int]:
    """(summed VmRSS, summed Pss in KiB, processes, open sockets) over the live pids."""
    rss = pss = n = sockets = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    sockets += os.readlink(fd).startswith("socket:")
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
            n += 1
    return rss, pss, n, sockets


class Server:
    name = ""
    port = 0
    proc: subprocess.Popen[bytes] | None = None

    def pids(self) -> list[int]:
        assert self.proc is not None
        return descendants(self.proc.pid)

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


class DovecotInstance(Server):
    """A private Dovecot: generated config in the work dir, `dovecot -F -c`, loopback port,
    passwd-file passdb, static userdb (uid nobody), Maildir homes under the work dir."""

    name = "Dovecot"

    def __init__(self, root: Path, idle: int) -> None:
        self.root = root
        self.port = free_port()
        self.limit = max(idle + 100, 200)
        self.conf = root / "dovecot.conf"

    def home(self, user: str) -> Path:
        return self.root / "home" / user

    def setup(self, corpus: Path, small: Path) -> None:
        nobody = 65534
        (self.root / "passwd").write_text(
            f"{USER}:{{PLAIN}}{PASSWORD}\n{IDLE_USER}:{{PLAIN}}{PASSWORD}\n"
        )
        for user, src in ((USER, corpus), (IDLE_USER, small)):
            shutil.copytree(src, self.home(user) / "Maildir", copy_function=shutil.copy2)
            for dirpath, _dirs, files in os.walk(self.home(user)):
                os.chown(dirpath, nobody, nobody)
                for f in files:
                    os.chown(os.path.join(dirpath, f), nobody, nobody)
        os.chown(self.root / "home", nobody, nobody)
        self.conf.write_text(
            f"""# generated by bench/imap_bench.py
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:~/Maildir
default_client_limit = {4 * self.limit}
default_process_limit = {self.limit}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={nobody} gid={nobody} home={self.root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = {self.limit}
}}
"""
        )
        run(["doveconf", "-c", self.conf, "-n"])

    def start(self) -> None:
        logf = (self.root / "dovecot.stdout").open("wb")
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.conf)], stdout=logf, stderr=subprocess.STDOUT
        )
        wait_for_greeting(self.port, self.proc)

    def mail_pids(self) -> list[int]:
        return self.pids()


class RoostInstance(Server):
    """`roost init` into the work dir, only the IMAP listener, plaintext LOGIN allowed; the
    mailbox imported with `roost mailbox import`; `roost serve` as a subprocess."""

    name = "Roost"

    def __init__(self, root: Path, idle: int, log_level: str) -> None:
        self.root = root
        self.port = free_port()
        self.cfg = root / "roost.toml"
        self.idle = idle
        self.log_level = log_level

    def roost(self, *args: str, stdin: str | None = None) -> str:
        return run([VENV_BIN / "roost", "--config", self.cfg, *args], input=stdin).stdout

    def setup(self, corpus: Path, small: Path) -> None:
        run([VENV_BIN / "roost", "init", "--dir", self.root, "--domain", "bench.test"])
        for key, value in [
            ("listeners.imap.address", f"127.0.0.1:{self.port}"),
            ("listeners.imaps.enabled", "false"),
            ("listeners.mx.enabled", "false"),
            ("listeners.submission.enabled", "false"),
            ("listeners.submissions.enabled", "false"),
            ("listeners.pop3.enabled", "false"),
            ("listeners.pop3s.enabled", "false"),
            ("imap.auth_plaintext_without_tls", "true"),
            ("log.level", self.log_level),
            ("storage.backend", "sqlite"),
            ("limits.max_connections", str(self.idle + 100)),
            ("limits.max_connections_per_ip", str(self.idle + 100)),
            ("delivery.enabled", "false"),
        ]:
            self.roost("config", "set", key, value)
        for user, src in ((USER, corpus), (IDLE_USER, small)):
            self.roost("user", "add", user, "--password-stdin", stdin=PASSWORD + "\n")
            start = time.perf_counter()
            self.roost("mailbox", "import", user, str(src))
            log(f"roost mailbox import {user}: {time.perf_counter() - start:.1f} s")

    def start(self) -> None:
        logf = (self.root / "serve.log").open("wb")
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "roost"), "--config", str(self.cfg), "serve"],
            stdout=logf,
            stderr=subprocess.STDOUT,
            cwd=self.root,
        )
        wait_for_greeting(self.port, self.proc)


# --- operations ---------------------------------------------------------------------------------


def run_ops(server: Server, reps: int, expect: int) -> dict[str, float]:
    """One session: LOGIN, then every operation `reps` times; the median seconds per operation.
    Each response is checked (message counts), so a fast wrong answer cannot win."""
    wire = Wire(server.port)
    try:
        wire.login(USER, PASSWORD)
        times: dict[str, list[float]] = {label: [] for label, _ in OPS}
        hits: dict[str, int] = {}
        for _ in range(reps):
            for label, cmd in OPS:
                seconds, lines = wire.timed(cmd)
                times[label].append(seconds)
                check(server, label, lines, expect, hits)
        return {label: statistics.median(v) for label, v in times.items()} | {
            f"hits {k}": float(v) for k, v in hits.items()
        }
    finally:
        wire.close()


def check(
    server: Server, label: str, lines: list[bytes], expect: int, hits: dict[str, int]
) -> None:
    if label.startswith("SELECT"):
        exists = [ln for ln in lines if ln.endswith(b" EXISTS\r\n")]
        got = int(exists[0].split()[1]) if exists else -1
        if got != expect:
            raise RuntimeError(f"{server.name}: SELECT says {got} EXISTS, expected {expect}")
    elif label.startswith(("FETCH", "STORE")):
        got = count(lines, b"FETCH")
        if got != expect:
            raise RuntimeError(
                f"{server.name}: {label} returned {got} FETCH responses, not {expect}"
            )
    elif "SEARCH" in label:
        hits[label] = search_hits(lines)


def warm(server: Server, expect: int) -> dict[str, float]:
    """A pass so indexes/caches exist on both sides (Dovecot builds its index and cache file,
    Roost fills its memo): not in the ratios, but returned, as each operation's first time
    after the server started."""
    start = time.perf_counter()
    first = run_ops(server, 1, expect)
    log(f"{server.name}: warm-up pass {time.perf_counter() - start:.1f} s")
    return first


# --- idle connections ---------------------------------------------------------------------------


def raise_nofile(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n)
    if hard != resource.RLIM_INFINITY and want > hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def idle_memory(server: Server, n: int, select: bool) -> dict[str, float]:
    """Open n connections (LOGIN, and SELECT INBOX if asked), measure, close them. One
    connection first, so code loaded on first use does not count as per-connection memory."""
    first = Wire(server.port, timeout=60)
    first.login(IDLE_USER, PASSWORD)
    if select:
        first.command("SELECT INBOX")
    first.close()
    time.sleep(1.0)
    before = memory_kb(server.pids())
    conns: list[Wire] = []
    try:
        for _ in range(n):
            w = Wire(server.port, timeout=60)
            w.login(IDLE_USER, PASSWORD)
            if select:
                w.command("SELECT INBOX")
            conns.append(w)
        time.sleep(2.0)  # let lazily started processes and allocations settle
        after = memory_kb(server.pids())
    finally:
        for w in conns:
            with contextlib.suppress(OSError):
                w.sock.close()
    time.sleep(1.0)
    return {
        "connections": n,
        "rss_before_kb": before[0],
        "rss_after_kb": after[0],
        "pss_before_kb": before[1],
        "pss_after_kb": after[1],
        "processes_before": before[2],
        "processes_after": after[2],
        "sockets_before": before[3],
        "sockets_after": after[3],
        "rss_kb_per_conn": (after[0] - before[0]) / n,
        "pss_kb_per_conn": (after[1] - before[1]) / n,
    }


# --- report -------------------------------------------------------------------------------------


def table(samples: dict[str, list[dict[str, float]]], names: list[str]) -> str:
    lines = []
    if len(names) == 2:
        lines.append("| operation | Dovecot ms | Roost ms | Roost/Dovecot (median) | ratios |")
        lines.append("| --- | ---: | ---: | ---: | --- |")
    else:
        lines.append(f"| operation | {names[0]} ms |")
        lines.append("| --- | ---: |")
    for label, _ in OPS:
        cols = [statistics.median(s[label] for s in samples[n]) * 1000 for n in names]
        if len(names) == 2:
            ratios = [
                r[label] / d[label]
                for d, r in zip(samples["Dovecot"], samples["Roost"], strict=True)
            ]
            ratio = statistics.median(ratios)
            lines.append(
                f"| `{label}` | {cols[0]:.1f} | {cols[1]:.1f} | **{ratio:.2f}x** "
                f"| {', '.join(f'{x:.2f}' for x in ratios)} |"
            )
        else:
            lines.append(f"| `{label}` | {cols[0]:.1f} |")
    return "\n".join(lines)


def first_table(firsts: dict[str, dict[str, float]]) -> str:
    rows = ["| operation | Dovecot ms | Roost ms | Roost/Dovecot |", "| --- | ---: | ---: | ---: |"]
    for label, _ in OPS:
        d, r = firsts["Dovecot"][label], firsts["Roost"][label]
        rows.append(f"| `{label}` | {d * 1000:.1f} | {r * 1000:.1f} | {r / d:.2f}x |")
    return "\n".join(rows)


def idle_table(idle: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [
        "| server | state | connections | processes before/after | sockets before/after "
        "| RSS KiB/conn | PSS KiB/conn |",
        "| --- | --- | ---: | --- | --- | ---: | ---: |",
    ]
    for name, states in idle.items():
        for state, m in states.items():
            lines.append(
                f"| {name} | {state} | {m['connections']:.0f} "
                f"| {m['processes_before']:.0f} / {m['processes_after']:.0f} "
                f"| {m['sockets_before']:.0f} / {m['sockets_after']:.0f} "
                f"| {m['rss_kb_per_conn']:.1f} | {m['pss_kb_per_conn']:.1f} |"
            )
    return "\n".join(lines)


def git_commit() -> str:
    with contextlib.suppress(Exception):
        out = run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = run(["git", "-C", REPO, "status", "--porcelain", "--", "src"]).stdout.strip()
        return out + ("+dirty-src" if dirty else "")
    return "unknown"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--reps", type=int, default=3, help="repetitions of each operation per run")
    p.add_argument("--idle", type=int, default=1000, help="idle connections for the memory figures")
    p.add_argument("--skip-idle", action="store_true")
    p.add_argument("--only", choices=["dovecot", "roost"])
    p.add_argument("--quick", action="store_true", help="1,000 messages, 1 pair, 100 idle")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args(argv)
    if args.quick:
        args.messages, args.pairs, args.idle = 1000, 1, 100
    return args


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="roost-imap-bench-", dir="/var/tmp"))
    root.chmod(0o755)  # Dovecot's login and mail processes run as other users
    try:
        yield root
    finally:
        if keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        log("run as root: the script starts a private Dovecot")
        return 2
    raise_nofile(2 * args.idle + 1000)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with workdir(args.keep) as root:
        corpus, small = root / "corpus" / "Maildir", root / "small" / "Maildir"
        unseen = write_maildir(corpus, args.messages)
        write_maildir(small, IDLE_MESSAGES, seed=7)
        log(f"corpus: {args.messages} messages ({unseen} unseen) in {corpus}")
        servers: list[Server] = []
        if args.only != "roost":
            (root / "dovecot").mkdir()
            (root / "dovecot").chmod(0o755)
            servers.append(DovecotInstance(root / "dovecot", args.idle))
        if args.only != "dovecot":
            servers.append(RoostInstance(root / "roost", args.idle, args.log_level))
        samples: dict[str, list[dict[str, float]]] = {s.name: [] for s in servers}
        idle: dict[str, dict[str, dict[str, float]]] = {}
        firsts: dict[str, dict[str, float]] = {}
        try:
            for s in servers:
                s.setup(corpus, small)  # type: ignore[attr-defined]
                s.start()  # type: ignore[attr-defined]
                firsts[s.name] = warm(s, args.messages)
            for pair in range(args.pairs):
                for s in servers:
                    samples[s.name].append(run_ops(s, args.reps, args.messages))
                log(
                    f"pair {pair + 1}: "
                    + "; ".join(
                        f"{s.name} "
                        + " ".join(f"{samples[s.name][-1][lbl] * 1000:.0f}" for lbl, _ in OPS)
                        for s in servers
                    )
                )
            for label, _ in OPS:
                if "SEARCH" in label and len(servers) == 2:
                    d, r = (samples[n][0][f"hits {label}"] for n in ("Dovecot", "Roost"))
                    if d != r:
                        raise RuntimeError(f"{label}: Dovecot found {d}, Roost {r}")
            if not args.skip_idle:
                # Each figure on a freshly started server: after the 10k-message FETCHes a
                # process's heap has room to spare, and new connections would seem free.
                for s in servers:
                    idle[s.name] = {}
                    for state, select in (("logged in", False), ("INBOX selected", True)):
                        s.stop()
                        s.start()  # type: ignore[attr-defined]
                        idle[s.name][state] = idle_memory(s, args.idle, select)
        finally:
            for s in servers:
                s.stop()
    names = [s.name for s in servers]
    print(
        f"\nRun {started} at commit `{git_commit()}`, {args.messages} messages, "
        f"{args.pairs} pairs, {args.reps} reps per run (median), plain TCP on loopback\n"
    )
    print(table(samples, names))
    if len(firsts) == 2:
        print("\nFirst pass after each server started (one run, not in the ratios above):\n")
        print(first_table(firsts))
    if idle:
        print()
        print(idle_table(idle))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"imap-{started.replace(':', '')}.json"
    out.write_text(
        json.dumps(
            {
                "started": started,
                "commit": git_commit(),
                "args": vars(args),
                "samples": samples,
                "idle": idle,
                "first_pass": firsts,
            },
            indent=1,
        )
    )
    log(f"raw samples: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
