"""Run callpop's command line with tracemalloc on; each SIGUSR1 writes a snapshot.

    python -m bench.traced OUT_STEM -- --config callpop.yaml serve

The first SIGUSR1 writes OUT_STEM.0.snapshot, the next OUT_STEM.1.snapshot, ...; the
benchmark compares a snapshot taken with calls held open against one taken before
(`python -m bench.traced --compare A B`), to see which lines hold a live call's memory.
"""

from __future__ import annotations

import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType


def _dump(stem: Path) -> None:
    count = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal count
        tracemalloc.take_snapshot().dump(f"{stem}.{count}.snapshot")
        count += 1

    signal.signal(signal.SIGUSR1, handler)


def compare(before: str, after: str, calls: int, top: int = 25) -> str:
    old = tracemalloc.Snapshot.load(before)
    new = tracemalloc.Snapshot.load(after)
    stats = new.compare_to(old, "lineno")
    total = sum(s.size_diff for s in stats)
    lines = [f"{total / 1024 / calls:.1f} KiB per call traced in all ({calls} calls held)"]
    for stat in stats[:top]:
        where = stat.traceback[0]
        lines.append(
            f"{stat.size_diff / 1024 / calls:7.2f} KiB/call  {stat.count_diff / calls:6.1f} blocks/call  "
            f"{where.filename.split('site-packages/')[-1].split('/work/main/')[-1]}:{where.lineno}"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--compare":
        print(compare(sys.argv[2], sys.argv[3], int(sys.argv[4])))
        return
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        sys.exit(__doc__)
    stem = Path(sys.argv[1])
    sys.argv = ["callpop", *sys.argv[3:]]
    from callpop.cli import main as cli_main

    tracemalloc.start(1)
    _dump(stem)
    cli_main()


if __name__ == "__main__":
    main()
