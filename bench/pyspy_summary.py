"""Summarise a py-spy raw profile (`record --format raw --threads`): where each thread's samples go.

    .venv/bin/python bench/pyspy_summary.py PROFILE.txt [--top 15] [--match roost/]

Prints, per thread (thread-pool numbering folded: roost-store_0, _1 -> roost-store), the share of
all samples, then the functions under `--match` with the largest inclusive share (a function counts
once per sample, however deep it recurses) and the leaf frames with the largest self share.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

THREAD = re.compile(r"^thread \(\d+\): ([^;]+);(.*) (\d+)$")


def fold(name: str) -> str:
    return re.sub(r"_\d+$", "", name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--match", default="roost/", help="inclusive list: frames containing this")
    args = p.parse_args(argv)
    per_thread: Counter[str] = Counter()
    inclusive: dict[str, Counter[str]] = defaultdict(Counter)
    leaf: dict[str, Counter[str]] = defaultdict(Counter)
    for line in args.profile.read_text().splitlines():
        m = THREAD.match(line)
        if not m:
            continue
        thread, stack, n = fold(m[1]), m[2].split(";"), int(m[3])
        per_thread[thread] += n
        for frame in {f for f in stack if args.match in f}:
            inclusive[thread][frame] += n
        leaf[thread][stack[-1]] += n
    total = sum(per_thread.values()) or 1
    for thread, n in per_thread.most_common():
        print(f"\n## {thread}: {n} samples, {100 * n / total:.1f} % of all")
        print(f"  inclusive ({args.match}):")
        for frame, k in inclusive[thread].most_common(args.top):
            print(f"    {100 * k / n:5.1f} %  {frame}")
        print("  self (leaf frames):")
        for frame, k in leaf[thread].most_common(args.top):
            print(f"    {100 * k / n:5.1f} %  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
