"""What the kernel knows about a process: CPU seconds and memory, from /proc.

The load driver shares the machine's cores with the server under test, so the figure
that counts is the server's own CPU time; each server runs in its own process and is
read here by pid (utime + stime of the whole thread group, so database threads count).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_seconds", "machine_ticks", "pss_kib", "rss_kib"]

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by every thread of process `pid`."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every core since boot (/proc/stat `cpu`): the share
    of the machine busy over a span is the difference of busy over that of total. Idle
    and waiting for I/O count as not busy; everything else (user, nice, system, irq,
    softirq, steal) as busy, whichever process (Redis and PostgreSQL included)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return total - idle, total


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise LookupError(f"{key} not in /proc/{pid}/status")


def rss_kib(pid: int) -> int:
    """Resident memory of process `pid`, KiB."""
    return _status_kib(pid, "VmRSS")


def pss_kib(pid: int) -> int:
    """Proportional set size of `pid`, KiB: shared pages (the interpreter, libraries)
    divided among the processes sharing them, the fair figure for many small processes."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise LookupError(f"Pss not in /proc/{pid}/smaps_rollup")
