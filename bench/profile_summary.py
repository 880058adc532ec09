"""Where a profile's time went, flat: self time added up by package (`sqlalchemy`,
`aiosqlite`, `asyncio`, ...) and, for callpop's own packages, by module. A call tree
shows paths; this shows what to fix first.

    python -m bench.profile_summary bench/out/profiles/serve-fastagi.pyisession
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from pyinstrument.frame import Frame
from pyinstrument.session import Session

__all__ = ["by_package", "render"]

OURS = ("ivr", "agi_scripts", "screenpop", "crm_adapter", "callpop", "bench")


def _bucket(frame: Frame) -> str:
    path = (frame.file_path or "").replace("\\", "/")
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for ours in OURS:
        marker = f"/{ours}/"
        if marker in path:
            rest = path.split(marker, 1)[1]
            return f"{ours}/{rest.removesuffix('.py')}"
    if "/lib/python3" in path:
        return "stdlib " + path.split("/lib/python3", 1)[1].split("/", 2)[-1].split("/")[
            0
        ].removesuffix(".py")
    return frame.function or "?"


def by_package(session: Session) -> dict[str, float]:
    """Self time per bucket; a synthetic frame (`[self]`, `[await]`: time spent in the
    function itself, or waiting) counts for the real frame above it."""
    totals: dict[str, float] = defaultdict(float)
    root = session.root_frame()
    stack: list[tuple[Frame, str]] = [] if root is None else [(root, _bucket(root))]
    while stack:
        frame, parent = stack.pop()
        bucket = parent if frame.is_synthetic else _bucket(frame)
        if frame.function == "[await]":
            bucket = "(waiting: event loop idle or awaiting)"
        own = frame.total_self_time
        if own:
            totals[bucket] += own
        stack.extend((child, bucket) for child in frame.children)
    return totals


def render(session: Session, top: int = 25) -> str:
    totals = by_package(session)
    whole = sum(totals.values()) or 1.0
    lines = [f"{'share':>6}  {'seconds':>8}  where (self time, main thread)"]
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:top]
    lines += [f"{t / whole:6.1%}  {t:8.2f}  {name}" for name, t in ranked]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(Session.load(Path(sys.argv[1]))))
