"""What else used the machine during the run: the benchmark shares the cores with
whatever else runs, and the report says what that was.

A thread reads /proc every few seconds and adds up the CPU time of every process that
is neither this one nor one of its descendants (the servers under test are ours).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

__all__ = ["Watcher"]

_TICKS = os.sysconf("SC_CLK_TCK")


def _snapshot() -> dict[int, tuple[float, int, str]]:
    """pid -> (cpu seconds, parent pid, command line) of every process."""
    out = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        name = cmd.strip() or stat[stat.index("(") + 1 : stat.rindex(")")]
        out[int(proc.name)] = ((int(fields[11]) + int(fields[12])) / _TICKS, int(fields[1]), name)
    return out


def _ours(snapshot: dict[int, tuple[float, int, str]]) -> set[int]:
    mine = {os.getpid()}
    changed = True
    while changed:
        changed = False
        for pid, (_cpu, parent, _cmd) in snapshot.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                changed = True
    return mine


class Watcher:
    """`start()`, then `stop()` returns a sentence for the report."""

    def __init__(self, every_s: float = 3.0) -> None:
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-background", daemon=True)
        self._used: dict[str, float] = {}  # command -> CPU seconds
        self._started = 0.0

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        before = _snapshot()
        while not self._stop.wait(self.every_s):
            self._add(before, before := _snapshot())
        self._add(before, _snapshot())

    def _add(
        self, before: dict[int, tuple[float, int, str]], after: dict[int, tuple[float, int, str]]
    ) -> None:
        ours = _ours(after)
        for pid, (cpu, _parent, cmd) in after.items():
            if pid in ours or pid not in before:
                continue
            used = cpu - before[pid][0]
            if used > 0:
                key = " ".join(cmd.split()[:4])[:90]
                self._used[key] = self._used.get(key, 0.0) + used

    def stop(self) -> str:
        self._stop.set()
        self._thread.join()
        wall = max(1e-9, time.monotonic() - self._started)
        total = sum(self._used.values())
        top = sorted(self._used.items(), key=lambda kv: kv[1], reverse=True)[:6]
        listed = "; ".join(f"`{cmd}` {cpu / wall:.2f}" for cmd, cpu in top if cpu / wall >= 0.01)
        return f"other processes used {total / wall:.2f} cores on average during the run" + (
            f" (busiest, in cores: {listed})." if listed else "."
        )
