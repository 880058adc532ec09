"""Benchmark 1: FastAGI, callpop beside the alternatives, in one run.

For each contender (bench.fastagi_servers), in its own process:
1. memory and latency: a fresh process, warmed by 100 calls, then C calls (C = each of
   `latency_levels`) arrive over a few seconds (12 s at the largest C) with a real
   channel's timing: prompts play as long as their text takes to say (a menu ~10-15 s,
   the whole path ~40 s) and the caller presses the key once the option was read; all C
   are held open together for 3 s, then every caller hangs up (Asterisk's `-1` and
   `HANGUP`). What is read: each command's latency as Asterisk sees it (from writing the
   answer to having the next command: the server's think time plus both sockets) and, at
   the largest C, the server's resident memory with the C calls open minus before, per
   call;
2. throughput and CPU: calls C in flight (each of `throughput_levels`), as many as
   the server completes in about `throughput_s` seconds (at most `calls`),
   Asterisk answering at once; what is read: completed calls per second, and the
   server's own CPU seconds (/proc, every thread) per call. Work a server defers past
   the call's end (callpop saves the journey after handing the caller back) is waited
   for and counted, in CPU and in the time the calls took.
Process-per-call scripts are capped at 200 concurrent calls (design.md): their CPU is
that of the reaped children, their memory the proportional set size (Pss) of a live one.
Ratios are to (c), the bare asyncio server on the default loop.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import loop
from bench.agi_load import LoadResult, run_load
from bench.agi_transcript import Transcript, record
from bench.fastagi_servers import CallpopSite, Contender, contenders, prepare_callpop
from bench.procstat import pss_kib, rss_kib
from bench.report import Section
from bench.server_proc import ServerProcess
from bench.stats import percentile

__all__ = ["Settings", "quiet", "run"]

PROCESS_CAP = 200  # design.md: a process per call is capped at 200 concurrent calls


@dataclass(frozen=True)
class Settings:
    throughput_levels: tuple[int, ...] = (50, 200, 500, 2000)
    latency_levels: tuple[int, ...] = (50, 500, 2000)
    calls: int = 10_000  # per throughput run, at most
    throughput_s: float = 6.0  # ... and about this long: fewer calls for a slow server
    process_calls: int = 300  # per throughput run of a process-per-call script
    time_scale: float = 1.0  # channel timing of the held calls (1.0: real time)
    ramp_s: float = 2.0  # held calls arrive over this long...
    held_ramp_s: float = 12.0  # ... or this long at the largest C (where memory is read)
    hold_s: float = 3.0  # then stay this long, all open, before the callers hang up
    only: tuple[str, ...] = ()  # contender keys; empty: all
    crm_size: int = 10_000  # demo customers in callpop's database
    warmup_calls: int = 100
    min_calls: int = 300  # per throughput run, however slow the server


@dataclass
class Measured:
    contender: Contender
    throughput: dict[int, dict[str, Any]] = field(default_factory=dict)
    latency: dict[int, dict[str, Any]] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _ramp(s: Settings, level: int, levels: tuple[int, ...] | list[int]) -> float:
    return s.held_ramp_s if level == max(levels) else s.ramp_s


def _held_s(s: Settings, ramp_s: float) -> float:
    """A deadline for a run of held calls (a whole call is ~40 s of channel time)."""
    return 60 + ramp_s + s.hold_s + 45 * s.time_scale


async def quiet(server: ServerProcess, limit_s: float = 120.0) -> float:
    """Wait until the server has finished the work the calls left behind (callpop
    saves each journey after handing the caller back, so the last saves run after the
    last call ended): until it uses under 2% of a core over 300 ms. Returns how long it
    was still busy (0 for a server with nothing left to do). Its CPU per call is read
    after this, so deferred work is counted, and so is the time it took."""
    started = time.perf_counter()
    busy_until = started
    while time.perf_counter() - started < limit_s:
        before = server.cpu()
        await asyncio.sleep(0.3)
        if server.cpu() - before < 0.006:
            break
        busy_until = time.perf_counter()
    return busy_until - started


def _check(result: LoadResult, what: str, errors: list[str]) -> None:
    if result.failed:
        errors.append(
            f"{what}: {result.failed} of {result.calls} calls failed "
            f"({', '.join(f'{k}: {v}' for k, v in result.failures.items())})"
        )


def _latency(result: LoadResult) -> dict[str, Any]:
    lat = result.latencies
    if not lat:
        return {}
    return {
        "commands": len(lat),
        "p50_ms": percentile(lat, 50) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "max_ms": max(lat) * 1000,
    }


async def _fastagi(
    c: Contender, transcript: Transcript, path: Path, site: CallpopSite, s: Settings
) -> Measured:
    m = Measured(c)
    assert c.start is not None
    callers = site.callers
    async with c.start(path, site) as server:
        port = server.port
        warm = await run_load(
            transcript,
            calls=s.warmup_calls,
            concurrency=50,
            time_scale=0,
            port=port,
            callers=callers,
        )
        _check(warm, f"{c.key} warm-up", m.errors)
        # The warm-up's pace sizes the throughput runs: about `throughput_s` each.
        rate = warm.completed / (warm.seconds + await quiet(server))
        calls = int(min(s.calls, max(s.min_calls, rate * s.throughput_s)))
        for level in sorted(s.latency_levels, reverse=True):
            await quiet(server)
            before = server.rss_kib()
            plateau: dict[str, int] = {}

            def at_plateau(open_calls: int, plateau: dict[str, int] = plateau) -> None:
                plateau.update(rss=server.rss_kib(), open=open_calls)

            ramp = _ramp(s, level, s.latency_levels)
            result = await run_load(
                transcript,
                calls=level,
                concurrency=level,
                time_scale=s.time_scale,
                port=port,
                callers=callers,
                start_over_s=ramp,
                hold_s=s.hold_s,
                at_plateau=at_plateau,
                deadline_s=_held_s(s, ramp),
            )
            _check(result, f"{c.key} latency C={level}", m.errors)
            m.latency[level] = {**_latency(result), "held": result.held, "ramp_s": ramp}
            if level == max(s.latency_levels) and plateau.get("open"):
                m.memory = {
                    "calls": plateau["open"],
                    "rss_before_kib": before,
                    "rss_held_kib": plateau["rss"],
                    "kib_per_call": (plateau["rss"] - before) / plateau["open"],
                }
        for level in s.throughput_levels:
            await quiet(server)
            cpu0 = server.cpu()
            result = await run_load(
                transcript,
                calls=calls,
                concurrency=level,
                time_scale=0,
                port=port,
                callers=callers,
                deadline_s=60 + calls / 20,
            )
            backlog_s = await quiet(server)
            cpu = server.cpu() - cpu0
            seconds = result.seconds + backlog_s
            _check(result, f"{c.key} throughput C={level}", m.errors)
            m.throughput[level] = {
                "calls": result.completed,
                "seconds": seconds,
                "calls_per_s": result.completed / seconds,
                "backlog_s": backlog_s,
                "cpu_s": cpu,
                "cpu_us_per_call": cpu / max(1, result.completed) * 1e6,
                **_latency(result),
            }
    return m


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _classic(
    c: Contender, transcript: Transcript, path: Path, site: CallpopSite, s: Settings
) -> Measured:
    m = Measured(c)
    assert c.per_call is not None
    argv, agi_args = c.per_call(path, site)
    levels = sorted({min(level, PROCESS_CAP) for level in s.throughput_levels})
    lat_levels = sorted({min(level, PROCESS_CAP) for level in s.latency_levels}, reverse=True)
    calls = s.process_calls
    if c.heavy:
        levels, lat_levels, calls = levels[:1], [min(10, lat_levels[-1])], max(5, calls // 10)
    for level in lat_levels:
        pss: list[int] = []
        rss: list[int] = []

        def at_plateau(open_calls: int, pss: list[int] = pss, rss: list[int] = rss) -> None:
            for pid in _live_children(argv)[:10]:
                try:
                    pss.append(pss_kib(pid))
                    rss.append(rss_kib(pid))
                except (OSError, LookupError):
                    continue  # that one just ended

        ramp = s.ramp_s  # a few hundred processes: no long arrival needed to hold them
        result = await run_load(
            transcript,
            calls=level,
            concurrency=level,
            time_scale=s.time_scale,
            argv=argv,
            args=agi_args,
            callers=site.callers,
            start_over_s=ramp,
            hold_s=s.hold_s,
            at_plateau=at_plateau,
            deadline_s=_held_s(s, ramp),
        )
        _check(result, f"{c.key} latency C={level}", m.errors)
        m.latency[level] = {**_latency(result), "held": result.held, "ramp_s": ramp}
        if level == lat_levels[0] and pss:
            m.memory = {
                "calls": level,
                "kib_per_call": statistics.median(pss),
                "rss_kib_per_process": statistics.median(rss),
                "measure": "Pss",
            }
    for level in levels:
        cpu0 = _children_cpu()
        result = await run_load(
            transcript,
            calls=calls,
            concurrency=level,
            time_scale=0,
            argv=argv,
            args=agi_args,
            callers=site.callers,
            deadline_s=60 + calls * 2,
        )
        cpu = _children_cpu() - cpu0
        _check(result, f"{c.key} throughput C={level}", m.errors)
        m.throughput[level] = {
            "calls": result.completed,
            "seconds": result.seconds,
            "calls_per_s": result.calls_per_s,
            "cpu_s": cpu,
            "cpu_us_per_call": cpu / max(1, result.completed) * 1e6,
            **_latency(result),
        }
    return m


def _live_children(argv: list[str]) -> list[int]:
    """Pids of this process's children running `argv` (the per-call scripts alive now)."""
    me = str(Path("/proc/self").resolve().name)
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            if stat[stat.rindex(")") + 2 :].split()[1] != me:
                continue
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if [a.decode(errors="replace") for a in cmdline[1 : len(argv)]] == argv[1:]:
            found.append(int(proc.name))
    return found


async def _run(s: Settings, cache: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="callpop-bench-agi-") as tmp:
        work = Path(tmp)
        site = await prepare_callpop(work / "callpop", cache, s.crm_size)
        chosen = [c for c in contenders() if not s.only or c.key in s.only]
        reference = next(c for c in contenders() if c.key == "callpop-uvloop")
        # The transcript: what callpop sends down the path, recorded from callpop itself.
        assert reference.start is not None
        async with reference.start(work, site) as server:
            transcript, call = await record("127.0.0.1", server.port, site.callers[0])
        path = work / "transcript.json"
        transcript.dump(path)
        measured = []
        errors: list[str] = []
        for c in chosen:
            started = time.perf_counter()
            try:
                if c.classic:
                    m = await _classic(c, transcript, path, site, s)
                else:
                    m = await _fastagi(c, transcript, path, site, s)
            except Exception as exc:  # one contender failing must not lose the others
                errors.append(f"{c.key}: {type(exc).__name__}: {exc}")
                continue
            m_data = {
                "key": c.key,
                "label": c.label,
                "role": c.role,
                "throughput": m.throughput,
                "latency": m.latency,
                "memory": m.memory,
                "errors": m.errors,
                "seconds": time.perf_counter() - started,
            }
            errors += m.errors
            measured.append(m_data)
        return {
            "settings": s.__dict__,
            "transcript": transcript.steps
            and [{"command": st.command, "duration_ms": st.duration_ms} for st in transcript.steps],
            "outcome": transcript.outcome,
            "recorded_wire_commands": len(call.commands),
            "contenders": measured,
            "errors": errors,
        }


def run(settings: Settings, *, cache: Path) -> Section:
    data = loop.run(_run(settings, cache))
    from bench.fastagi_table import tables

    return Section(
        key="fastagi",
        title="1. FastAGI: callpop and the alternatives",
        intro=__doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        tables=tables(data),
        data=data,
        notes=data["errors"],
    )
