"""Run `roost serve` with timers around intake's group-commit phases (src/ is not modified).

    .venv/bin/python bench/roost_probe.py CONFIG [STATS.json]

Wraps Intake._write_batch and its three phases (blob put, blob sync, SQLite enqueue_batch) and
counts batches, messages and fsyncs; on SIGTERM/SIGINT prints the totals (and writes them as JSON).
Used to explain where a message's acceptance latency goes; see bench/README.md.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from roost.app import serve
from roost.config import load_config
from roost.queue import intake
from roost.store.blobs import fs

stats: dict[str, Any] = defaultdict(float)
sizes: list[int] = []


def timed(name: str, fn: Any) -> Any:
    def wrapper(*args: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kw)
        finally:
            stats[name + "_s"] += time.perf_counter() - t0
            stats[name + "_n"] += 1

    return wrapper


def install() -> None:
    original = intake.Intake._write_batch

    def write_batch(self: intake.Intake, batch: Any) -> None:
        sizes.append(len(batch))
        t0 = time.perf_counter()
        try:
            original(self, batch)
        finally:
            stats["batch_s"] += time.perf_counter() - t0

    intake.Intake._write_batch = write_batch  # type: ignore[method-assign]
    intake.Intake._put_blob = timed("put", intake.Intake._put_blob)  # type: ignore[method-assign]
    fs.FileBlobStore.sync = timed("sync", fs.FileBlobStore.sync)  # type: ignore[method-assign]
    fs._fsync_path = timed("fsync", fs._fsync_path)
    from roost.store.sqlite.store import SqliteStore

    SqliteStore.enqueue_batch = timed("enqueue", SqliteStore.enqueue_batch)  # type: ignore[method-assign]


def report(out: str | None) -> None:
    n = sum(sizes)
    if not n:
        return
    summary = {
        "batches": len(sizes),
        "messages": n,
        "mean_batch": n / len(sizes),
        "max_batch": max(sizes),
        "batch_ms_mean": 1000 * stats["batch_s"] / len(sizes),
        "put_ms_per_msg": 1000 * stats["put_s"] / n,
        "sync_ms_per_batch": 1000 * stats["sync_s"] / len(sizes),
        "fsyncs_per_msg": stats["fsync_n"] / n,
        "fsync_ms_mean": 1000 * stats["fsync_s"] / max(1, stats["fsync_n"]),
        "enqueue_ms_per_batch": 1000 * stats["enqueue_s"] / len(sizes),
    }
    text = json.dumps(summary, indent=2)
    print(text, file=sys.stderr, flush=True)
    if out:
        Path(out).write_text(text)


def main() -> None:
    config = load_config(Path(sys.argv[1]))
    out = sys.argv[2] if len(sys.argv) > 2 else None
    install()
    atexit.register(report, out)
    os.chdir(Path(sys.argv[1]).resolve().parent)
    serve(config)


if __name__ == "__main__":
    main()
