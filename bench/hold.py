"""Benchmark 1b: the calls one FastAGI process holds, callpop beside the bare server and
panoramisk.

The load of ten fully loaded Asterisk servers: N calls in the IVR at once (20,000 in
the full run) while new calls arrive at R a second (300), each at a real channel's
pace. By Little's law a call then stays N / R seconds (67 s) in the IVR; the benchmark
path (`bench.agi_transcript`, ~39 s as the sample's prompts read) is played that much
slower, every prompt and pause stretched alike. Calls arrive evenly, one every 1/R
seconds, for N / R seconds and then `steady_s` more: from N / R on as many calls end
as arrive and N are held (the steady state). Then every caller hangs up.

For each server, in its own process (started and warmed as in benchmark 1):
- memory per held call: its resident memory with the N calls open, minus before the
  load, divided by the connections it holds then (its open descriptors, minus before);
- per-command latency in the steady state, as Asterisk sees it (from writing an answer
  to reading the next command: the server's think time plus both sockets), p50 / p99 /
  max over every command of every call;
- its CPU over the run, as a share of one core.
The load comes from `drivers` processes (`bench.hold_driver`), each placing its share
of the calls; each reports its own CPU, and a driver that used most of a core is named
in the notes, its latencies being partly its own. The bare server under the very same
drivers is the control: what the drivers and sockets alone cost.

One process holds at most its open-file limit of connections: the benchmark raises
each driver's soft limit to the hard one, `callpop serve` raises its own, and N is cut
to what the hard limit allows (the notes say so).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import loop
from bench.agi_load import run_load
from bench.agi_transcript import Transcript, record
from bench.fastagi import quiet
from bench.fastagi_servers import CallpopSite, Contender, contenders, prepare_callpop
from bench.hold_driver import positions_file
from bench.report import Section, Table
from bench.server_proc import ROOT, python_argv
from bench.stats import percentile

__all__ = ["Settings", "run", "server_warnings"]

# Descriptors a server holds besides its calls (listening sockets, the loop's, the
# database's, logs, sockets of ended calls not yet closed): kept free under the
# open-file limit. At its limit a uvloop server accepts each pending connection and
# closes it at once (libuv's EMFILE fallback), which a driver sees as a call ended
# early: with 64 kept, `callpop serve` (its database pool, SQLite's three files a
# connection) failed 100-1,600 of 25,936 calls at 19,936 held, 1 of 25,500 at 19,500.
SPARE_FDS = 512


@dataclass(frozen=True)
class Settings:
    calls: int = 20_000  # held at once in the steady state
    rate: float = 300.0  # new calls a second
    steady_s: float = 20.0  # how long the steady state lasts before the callers hang up
    drivers: int = 2  # load-driver processes
    only: tuple[str, ...] = ("bare", "bare-uvloop", "panoramisk-uvloop", "callpop-uvloop")
    crm_size: int = 10_000
    warmup_calls: int = 100


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _path_s(transcript: Transcript) -> float:
    return sum(step.duration_ms for step in transcript.steps) / 1000


def held_calls(settings: Settings) -> tuple[int, str | None]:
    """The calls one process can hold here, and why it is fewer than asked, if so."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard - SPARE_FDS >= settings.calls:
        return settings.calls, None
    calls = hard - SPARE_FDS
    return calls, (
        f"held {calls:,} calls, not {settings.calls:,}: the hard open-file limit of a process "
        f"here is {hard:,} (RLIMIT_NOFILE; not raisable without CAP_SYS_RESOURCE), one "
        f"descriptor per call, {SPARE_FDS} kept for the server's own"
    )


class _Driver:
    """One `bench.hold_driver` process."""

    def __init__(self, proc: asyncio.subprocess.Process, latencies: Path) -> None:
        self.proc = proc
        self.latencies = latencies
        self.plateau: int | None = None
        self.result: dict[str, Any] = {}

    async def wait_plateau(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"a load driver ended early: {await self._stderr()}")
            if line.startswith(b"PLATEAU "):
                self.plateau = int(line.split()[1])
                return

    def hang_up(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")

    async def finish(self) -> None:
        assert self.proc.stdout is not None
        out = await self.proc.stdout.read()
        await self.proc.wait()
        for line in out.decode().splitlines():
            if line.startswith("RESULT "):
                self.result = json.loads(line[len("RESULT ") :])
                return
        raise RuntimeError(f"a load driver gave no result: {await self._stderr()}")

    async def _stderr(self) -> str:
        assert self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode("utf-8", "replace")[-2000:]


async def _start_driver(
    index: int,
    s: Settings,
    *,
    calls: int,
    total: int,
    port: int,
    transcript_file: Path,
    callers_file: Path,
    time_scale: float,
    work: Path,
) -> _Driver:
    share = total // s.drivers + (1 if index < total % s.drivers else 0)
    first = sum(total // s.drivers + (1 if i < total % s.drivers else 0) for i in range(index))
    latencies = work / f"latencies-{index}.bin"
    argv = python_argv(
        "bench.hold_driver",
        str(transcript_file),
        "--port",
        str(port),
        "--calls",
        str(share),
        "--first",
        str(first),
        "--start-over",
        str(total / s.rate),
        "--time-scale",
        str(time_scale),
        "--steady-after",
        str(calls / s.rate),
        "--callers",
        str(callers_file),
        "--latencies",
        str(latencies),
        "--deadline",
        str(total / s.rate + 300),
    )
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=str(ROOT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return _Driver(proc, latencies)


async def _hold(
    c: Contender,
    s: Settings,
    calls: int,
    transcript: Transcript,
    transcript_file: Path,
    site: CallpopSite,
    work: Path,
) -> dict[str, Any]:
    assert c.start is not None
    total = calls + int(s.rate * s.steady_s)
    # Little's law: N calls held at R new calls/s stay N / R seconds each.
    time_scale = calls / s.rate / _path_s(transcript)
    callers_file = work / "callers.txt"
    callers_file.write_text("\n".join(site.callers))
    async with c.start(transcript_file, site) as server:
        warm = await run_load(
            transcript,
            calls=s.warmup_calls,
            concurrency=50,
            time_scale=0,
            port=server.port,
            callers=site.callers,
            first_call=10_000_000,
        )
        await quiet(server)
        rss0, fds0, cpu0 = server.rss_kib(), _fds(server.pid), server.cpu()
        t0 = time.perf_counter()
        drivers = [
            await _start_driver(
                i,
                s,
                calls=calls,
                total=total,
                port=server.port,
                transcript_file=transcript_file,
                callers_file=callers_file,
                time_scale=time_scale,
                work=work,
            )
            for i in range(s.drivers)
        ]
        try:
            await asyncio.gather(*(d.wait_plateau() for d in drivers))
            rss1, fds1 = server.rss_kib(), _fds(server.pid)
            plateau_s = time.perf_counter() - t0
            cpu1 = server.cpu()
            for d in drivers:
                d.hang_up()
            await asyncio.gather(*(d.finish() for d in drivers))
        finally:
            for d in drivers:
                if d.proc.returncode is None:
                    d.proc.kill()
                    await d.proc.wait()
        await quiet(server)
    latencies = array("d")
    positions = array("H")
    for d in drivers:
        latencies.frombytes(d.latencies.read_bytes())
        positions.frombytes(positions_file(d.latencies).read_bytes())
    results = [d.result for d in drivers]
    open_calls = sum(d.plateau or 0 for d in drivers)
    held = fds1 - fds0
    failed = sum(r["failed"] for r in results)
    # Why a call went another way than the recorded path is in the server's log.
    said = server_warnings(await server.stderr(limit=None)) if failed else []
    failures: dict[str, int] = {}
    for r in results:
        for k, v in r["failures"].items():
            failures[k] = failures.get(k, 0) + v
    return {
        "key": c.key,
        "label": c.label,
        "calls_asked": calls,
        "calls_placed": total,
        "rate": s.rate,
        "time_scale": time_scale,
        "open_at_plateau": open_calls,
        "server_connections": held,
        "rss_before_kib": rss0,
        "rss_held_kib": rss1,
        "kib_per_call": (rss1 - rss0) / held if held > 0 else None,
        "steady_commands": len(latencies),
        "p50_ms": percentile(latencies, 50) * 1000 if latencies else None,
        "p99_ms": percentile(latencies, 99) * 1000 if latencies else None,
        "max_ms": max(latencies) * 1000 if latencies else None,
        "by_command": by_command(latencies, positions, transcript),
        "server_cpu_share": (cpu1 - cpu0) / plateau_s if plateau_s else None,
        "seconds": plateau_s,
        "warmup_failed": warm.failed,
        "completed": sum(r["completed"] for r in results),
        "hung_up": sum(r["hung_up"] for r in results),
        "failed": failed,
        "failures": failures,
        "server_warnings": said,
        "drivers": [
            {
                "cpu_share": r["cpu_s"] / r["seconds"] if r["seconds"] else None,
                "held": r["held"],
                "p99_ms": r["p99_ms"],
            }
            for r in results
        ],
    }


# A command slower than this counts against the target (per-command p99 under 20 ms).
SLOW_MS = 20.0
# The server's log lines kept in the notes when calls failed, at most.
MAX_WARNINGS = 8


def server_warnings(log: str) -> list[str]:
    """The distinct WARNING and ERROR lines of a server's log, without their time stamps,
    at most `MAX_WARNINGS`, in order."""
    found: list[str] = []
    for line in log.splitlines():
        level = next((lv for lv in (" WARNING ", " ERROR ", " CRITICAL ") if lv in line), None)
        if level is None:
            continue
        said = line[line.index(level) + 1 :]
        if said not in found:
            found.append(said)
            if len(found) == MAX_WARNINGS:
                break
    return found


def by_command(
    latencies: array[float], positions: array[int], transcript: Transcript
) -> list[dict[str, Any]]:
    """Per step of the path: its command, how many were answered in the steady state,
    their p99, and how many took over SLOW_MS: which commands make the p99."""
    at: dict[int, list[float]] = {}
    for latency, position in zip(latencies, positions, strict=True):
        at.setdefault(position, []).append(latency)
    return [
        {
            "step": step,
            "command": transcript.steps[step].command[:40],
            "commands": len(values),
            "p99_ms": percentile(values, 99) * 1000,
            "slow": sum(v * 1000 > SLOW_MS for v in values),
        }
        for step, values in sorted(at.items())
    ]


def slowest(row: dict[str, Any], count: int = 3) -> str:
    """The commands with the most answers over SLOW_MS, for the notes."""
    worst = sorted(row["by_command"], key=lambda c: -c["slow"])[:count]
    return "; ".join(
        f"#{c['step']} {c['command']!r} p99 {c['p99_ms']:.0f} ms, "
        f"{c['slow']:,} of {c['commands']:,} over {SLOW_MS:.0f} ms"
        for c in worst
        if c["slow"]
    )


async def _run(s: Settings, cache: Path) -> dict[str, Any]:
    calls, capped = held_calls(s)
    notes = [capped] if capped else []
    with tempfile.TemporaryDirectory(prefix="callpop-bench-hold-") as tmp:
        work = Path(tmp)
        site = await prepare_callpop(work / "callpop", cache, s.crm_size)
        reference = next(c for c in contenders() if c.key == "callpop-uvloop")
        assert reference.start is not None
        async with reference.start(work, site) as server:
            transcript, _call = await record("127.0.0.1", server.port, site.callers[0])
        transcript_file = work / "transcript.json"
        transcript.dump(transcript_file)
        rows = []
        for c in contenders():
            if c.key not in s.only:
                continue
            print(f"bench: hold {c.key} ...", file=sys.stderr, flush=True)
            try:
                row = await _hold(c, s, calls, transcript, transcript_file, site, work)
            except Exception as exc:  # one server failing must not lose the others
                notes.append(f"{c.key}: {type(exc).__name__}: {exc}")
                continue
            if row["failed"]:
                notes.append(
                    f"{c.key}: {row['failed']} of {row['calls_placed']} calls failed "
                    f"({', '.join(f'{k}: {v}' for k, v in row['failures'].items())})"
                    + "".join(f"; the server logged: {w}" for w in row["server_warnings"])
                )
            for i, d in enumerate(row["drivers"]):
                if d["cpu_share"] is not None and d["cpu_share"] > 0.85:
                    notes.append(
                        f"{c.key}: load driver {i} used {d['cpu_share']:.0%} of a core: "
                        "its latencies are partly its own"
                    )
            rows.append(row)
        return {
            "settings": {**s.__dict__, "calls_held": calls},
            "commands_per_call": len(transcript.steps),
            "path_s": _path_s(transcript),
            "rows": rows,
            "errors": notes,
        }


def table(data: dict[str, Any]) -> Table:
    body = []
    bare = next((r for r in data["rows"] if r["key"] == "bare"), None)
    for r in data["rows"]:
        per_call = r["kib_per_call"]
        ratio = (
            f"{per_call / bare['kib_per_call']:.2f}x"
            if per_call and bare and bare["kib_per_call"]
            else "-"
        )
        body.append(
            [
                r["label"],
                f"{r['server_connections']:,}",
                "-" if per_call is None else f"{per_call:.2f}",
                ratio,
                "-" if r["p50_ms"] is None else f"{r['p50_ms']:.2f}",
                "-" if r["p99_ms"] is None else f"{r['p99_ms']:.2f}",
                "-" if r["max_ms"] is None else f"{r['max_ms']:.0f}",
                "-" if r["server_cpu_share"] is None else f"{r['server_cpu_share']:.0%}",
                f"{r['failed']:,}",
            ]
        )
    s = data["settings"]
    return Table(
        title=(
            f"{s['calls_held']:,} calls held, {s['rate']:.0f} new calls/s, "
            f"{data['commands_per_call']} commands a call"
        ),
        columns=[
            "server",
            "connections held",
            "KiB per held call",
            "vs bare asyncio",
            "command p50 ms",
            "command p99 ms",
            "max ms",
            "server CPU (one core)",
            "failed calls",
        ],
        rows=body,
        notes=[
            f"Each call stays {s['calls_held'] / s['rate']:.0f} s in the IVR (every command "
            f"takes {data['rows'][0]['time_scale']:.2f}x its channel time as the sample's "
            f"prompts read), latencies over the {s['steady_s']:.0f} s of steady state.",
            *(
                f"{r['label']}: the commands most often slow: {worst}"
                for r in data["rows"]
                if (worst := slowest(r))
            ),
        ]
        if data["rows"]
        else [],
    )


def run(settings: Settings, *, cache: Path) -> Section:
    data = loop.run(_run(settings, cache))
    return Section(
        key="hold",
        title="1b. FastAGI: calls held by one process",
        intro=__doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        tables=[table(data)],
        data=data,
        notes=data["errors"],
    )
