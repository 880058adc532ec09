"""A flood: ten times the usual arrival rate for 60 s through a real `callpop serve`
(PostgreSQL, so a restart keeps its state), SIGKILLed and started again in the middle.

    python -m bench --full --only flood      (or `python -m bench.flood [--quick]`)

The FastAGI simulator plays callers on the shipped dialplan at a channel's pace
(`bench.flood_calls`: flood path, billing question, overflow / estimate / callback
offer, taken or declined, or the outage update); the AMI simulator plays the billing
queue with its three agents (`callpop.pbx_sim.ami_floor.Floor`): they are on calls when
the run starts (Asterisk's `TalkTime` average says 4 minutes), callers the IVR queues
wait for them and give up after 30 s to 2 min, so the estimate callpop folds from AMI
rises through the flood. The usual rate runs first with flood mode off; an admin turns
it on as the flood starts and off once it is over.

After the flood the agents finish their calls and the calls that follow are short, so
the backlog (the queue, then the callbacks) drains within the run; what is checked
then is that every callback a caller was promised is placed, once.

Reported: calls offered and served per phase, callpop's think time per AGI command
(p50/p99/max, design.md's target: p99 under 20 ms), what the callers who asked about a
charge got (overflow, estimate, offer) checked against the queue states callpop
published (`bench.flood_calls.judge`), the callbacks promised, stored and placed, and
what the restart cost (time to ready, calls refused or cut, journeys lost).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.flood_calls import (
    Caller,
    QueueStateLog,
    callback_check,
    dial,
    judge,
    read_journeys,
)
from bench.machine import load_average
from bench.paths import always_open_dialplan
from bench.pop_desk import AMI_SECRET
from bench.report import Section, Table
from bench.scale_out import drop_database, fresh_database
from bench.server_proc import ServerProcess, free_port
from callpop.callbacks.store import CallbackStore
from callpop.flood import FloodStore
from callpop.pbx_sim.agi_channel import SimOptions
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_floor import Floor
from callpop.pbx_sim.ami_status import QueueMemberSpec
from crm_adapter.sql.engine import create_engine

__all__ = ["FULL", "QUICK", "Settings", "run"]

TARGET_P99_MS = 20.0  # design.md: per-command p99 under 20 ms


@dataclass(frozen=True, slots=True)
class Settings:
    normal_rate: float = 1.0  # new calls a second, the usual day
    normal_s: float = 20.0
    factor: int = 10
    flood_s: float = 60.0
    agents: int = 3
    talk_time_s: int = 240  # QueueParams TalkTime: the queue's average so far
    agents_busy_s: tuple[float, float] = (150.0, 330.0)  # their calls at the start
    patience_s: tuple[float, float] = (30.0, 120.0)  # a queued caller gives up after
    after_talk_s: float = 1.0  # calls after the flood (the backlog drains in the run)
    time_scale: float = 1.0  # prompts and keys at a real channel's pace
    drain_s: float = 300.0  # the backlog's deadline


FULL = Settings()
QUICK = Settings(normal_s=5.0, flood_s=20.0, patience_s=(10.0, 30.0), drain_s=120.0)


def run(settings: Settings) -> Section:
    data = asyncio.run(_run(settings))
    return section(data)


def say(text: str) -> None:
    print(f"bench.flood: {text}", file=sys.stderr, flush=True)


class Instance:
    """`callpop serve` of the run's config; started again after a SIGKILL."""

    def __init__(self, config: Path, web: int) -> None:
        self.config = config
        self.url = f"http://127.0.0.1:{web}"
        self.server: ServerProcess | None = None
        self.cpu_s = 0.0  # of the instances that ended
        self.starts: list[float] = []  # seconds from spawn to ready

    async def start(self) -> None:
        async def ready() -> bool:
            async with aiohttp.ClientSession() as http, http.get(self.url + "/readyz") as r:
                return r.status == 200

        self.server = ServerProcess(
            [
                str(Path(sys.executable).parent / "callpop"),
                "--config",
                str(self.config),
                "serve",
                "--log-level",
                "WARNING",
            ],
            env={"CALLPOP_AMI__SECRET": AMI_SECRET},
            ready_check=ready,
            name="callpop serve",
        )
        t0 = time.perf_counter()
        await self.server.__aenter__()
        self.starts.append(time.perf_counter() - t0)

    async def kill(self) -> None:
        server = self.server
        assert server is not None and server.proc is not None
        self.cpu_s += server.cpu()
        server.proc.kill()  # SIGKILL: no shutdown, no flush
        await server.proc.wait()
        await server.stop()

    async def stop(self) -> str:
        server = self.server
        if server is None:
            return ""
        if server.proc is not None and server.proc.returncode is None:
            self.cpu_s += server.cpu()
        await server.stop()
        return await server.stderr()

    def cpu(self) -> float:
        server = self.server
        alive = server is not None and server.proc is not None and server.proc.returncode is None
        return self.cpu_s + (server.cpu() if alive and server is not None else 0.0)


async def _run(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {
        "settings": asdict(settings),
        "load_before": " ".join(f"{x:.2f}" for x in load_average()),
    }
    name, url, _ = await fresh_database(0)
    rng = random.Random(16)
    drained = asyncio.Event()  # set once the flood is over: calls get short

    def talk_s() -> float:
        if drained.is_set():
            return settings.after_talk_s
        return rng.uniform(*settings.agents_busy_s)

    members = [
        QueueMemberSpec("billing", f"PJSIP/{104 + i}", f"Agent {104 + i}")
        for i in range(settings.agents)
    ]
    floor = Floor(
        "billing",
        members,
        talk_s=talk_s,
        callback_talk_s=lambda: settings.after_talk_s,
        talk_time_s=settings.talk_time_s,
        ring_s=0.2,
    )
    engine = create_engine(url)
    try:
        with tempfile.TemporaryDirectory(prefix="callpop-bench-flood-") as tmp:
            dialplan = always_open_dialplan(Path(tmp) / "dialplan")
            async with AMIServer(username="callpop", secret=AMI_SECRET) as ami, floor:
                floor.attach(ami)
                agi, web = free_port(), free_port()
                config = Path(tmp) / "callpop.yaml"
                config.write_text(
                    f"fastagi: 127.0.0.1:{agi}\nweb: 127.0.0.1:{web}\n"
                    f"database: {url}\ndialplan: {dialplan}\n"
                    f"ami: [{{host: 127.0.0.1, port: {ami.port}, username: callpop}}]\n"
                    "callbacks: {agent_retry_s: 1}\nshutdown_grace_s: 2\n",
                    encoding="utf-8",
                )
                instance = Instance(config, web)
                log = QueueStateLog(engine)
                sampling = asyncio.create_task(log.run())
                try:
                    out.update(
                        await _calls(settings, floor, instance, log, engine, agi, rng, drained)
                    )
                finally:
                    sampling.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sampling
                    errors = await instance.stop()
                    if errors.strip():
                        out["serve_stderr_tail"] = errors[-1500:]
    finally:
        await engine.dispose()
        await drop_database(name)
    out["load_after"] = " ".join(f"{x:.2f}" for x in load_average())
    return out


async def _calls(
    settings: Settings,
    floor: Floor,
    instance: Instance,
    log: QueueStateLog,
    engine: AsyncEngine,
    agi: int,
    rng: random.Random,
    drained: asyncio.Event,
) -> dict[str, Any]:
    options = SimOptions(time_scale=settings.time_scale)
    flood = FloodStore(engine)
    await flood.set(False)
    await instance.start()
    for n in range(settings.agents):  # the agents are on calls when the run starts
        floor.join(f"1795300000.{n + 1}", f"+1555900{n:04d}", patience_s=3600)
    async with asyncio.timeout(60):
        while True:
            if log.versions[-1].known:
                break
            await asyncio.sleep(0.1)
    say(f"serve ready in {instance.starts[0]:.1f} s; the usual rate for {settings.normal_s:.0f} s")

    tasks: list[asyncio.Task[Caller]] = []
    placed_at: list[tuple[float, str]] = []  # (time.time(), phase) per call placed
    n = 0

    async def arrivals(rate: float, seconds: float, phase: str, flooding: bool) -> None:
        nonlocal n
        t0 = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
            patience = rng.uniform(*settings.patience_s)
            tasks.append(
                asyncio.create_task(
                    dial(floor, agi, n, epoch="1795389902", options=options,
                         patience_s=patience, flood=flooding)
                )
            )  # fmt: skip
            placed_at.append((time.time(), phase))
            n += 1

    cpu0, own0 = instance.cpu(), time.process_time()
    await arrivals(settings.normal_rate, settings.normal_s, "usual", False)
    cpu_normal, own_normal = instance.cpu() - cpu0, time.process_time() - own0
    await flood.set(True, "known-outage")  # what an admin does as the flood starts
    flood_started = time.time()
    say(f"flood: {settings.normal_rate * settings.factor:.0f} calls/s for {settings.flood_s:.0f} s")
    restart: dict[str, Any] = {}

    async def kill_and_restart() -> None:
        await asyncio.sleep(settings.flood_s / 2)
        restart["cpu_before_s"] = instance.cpu()
        restart["killed_at"] = time.time()
        await instance.kill()
        say("SIGKILL; starting serve again")
        await instance.start()
        restart["ready_at"] = time.time()
        say(f"serve ready again {restart['ready_at'] - restart['killed_at']:.1f} s after the kill")

    restarting = asyncio.create_task(kill_and_restart())
    lags: list[float] = []
    probing = asyncio.create_task(_loop_lag(lags))
    cpu1, own1 = instance.cpu(), time.process_time()
    await arrivals(settings.normal_rate * settings.factor, settings.flood_s, "flood", True)
    await restarting
    probing.cancel()
    cpu_flood, own_flood = instance.cpu() - cpu1, time.process_time() - own1
    flood_ended = time.time()
    async with asyncio.timeout(300):
        callers = list(await asyncio.gather(*tasks))  # every IVR part is over
    await flood.set(False)
    ivr_over = time.time()
    say(f"{len(callers)} calls placed; the agents finish, the backlog drains")
    drained.set()  # the agents end their calls now; the next ones are short
    floor.end_calls()
    store = CallbackStore(engine)
    emptied = True
    try:
        async with asyncio.timeout(settings.drain_s):
            while True:
                states = {c.state for c in await store.listing()}
                if states <= {"connected", "failed", "cancelled"} and floor.idle:
                    break
                await asyncio.sleep(0.5)
    except TimeoutError:
        emptied = False
    drained_at = time.time()
    found = await read_journeys(engine, [c.call_id for c in callers])
    checked = await callback_check(engine, floor, callers)
    verdict = judge(found, log, slack_s=10.0)
    return {
        "calls": _phases(callers, placed_at, restart),
        "latency": _latency(callers, placed_at, restart),
        # how late this process's own event loop woke during the flood: the part of a
        # think time that is the load process's, not callpop's
        "load_loop_lag": _summary(lags),
        # CPU seconds of serve (both processes) and of this load process, per phase
        "cpu_s": {"usual": round(cpu_normal, 1), "flood": round(cpu_flood, 1)},
        "load_cpu_s": {"usual": round(own_normal, 1), "flood": round(own_flood, 1)},
        "journeys": len(found),
        "journeys_lost": sorted(
            {c.call_id for c in callers if c.served} - {j["call_id"] for j in found}
        ),
        # stored, then the kill came before Asterisk was given the outcome
        "journeys_undelivered": len(
            {j["call_id"] for j in found} - {c.call_id for c in callers if c.served}
        ),
        "judged": {
            "reached_billing": verdict.reached_billing,
            "overflowed": dict(verdict.overflowed),
            "heard_estimate": verdict.heard,
            "offered": verdict.offered,
            "accepted": verdict.accepted,
            "declined": verdict.declined,
            "explained": verdict.explained,
            "explained_late": verdict.explained_late,
            "wrong": verdict.wrong[:20],
            "wrong_count": len(verdict.wrong),
        },
        "callbacks": {
            **{k: v for k, v in asdict(checked).items() if k != "states"},
            "states": dict(checked.states),
            "first_dialled_after_flood_s": _after(floor.dialled_at.values(), ivr_over),
            "dialled_before_flood_end": sum(1 for t in floor.dialled_at.values() if t < ivr_over),
            "all_final_after_s": round(drained_at - ivr_over, 1),
            "drained": emptied,
        },
        "queue": {
            "joined": sum(1 for c in callers if c.entry is not None),
            "talked": sum(1 for c in callers if c.queued == "talked"),
            "abandoned": sum(1 for c in callers if c.queued == "abandoned"),
            "peak_waiting_published": max((v.callers for v in log.versions), default=0),
            "peak_ewt_s_published": max((v.ewt_s or 0 for v in log.versions), default=0),
            "state_versions": len(log.versions) - 1,
        },
        "restart": {
            "ready_after_kill_s": round(restart["ready_at"] - restart["killed_at"], 1),
            "first_state_after_ready_s": _after(
                [v.since.timestamp() for v in log.versions[1:]], restart["ready_at"]
            ),
            "serve_starts_s": [round(s, 1) for s in instance.starts],
            # callers cut with no outcome: ms from the SIGKILL to their start (negative:
            # in the IVR when it came), and how their AGI session ended
            "cut": sorted(
                (round((c.started - restart["killed_at"]) * 1000), c.record.ended)
                for c in callers
                if c.record is not None and not c.served
            ),
        },
        "flood_s": round(flood_ended - flood_started, 1),
    }


async def _loop_lag(lags: list[float], every_s: float = 0.01) -> None:
    while True:
        t0 = time.perf_counter()
        await asyncio.sleep(every_s)
        lags.append(max(0.0, time.perf_counter() - t0 - every_s))


def _after(times: Any, since: float) -> float | None:
    later = [t - since for t in times if t >= since]
    return round(min(later), 1) if later else None


def _phase_of(caller: Caller, placed: dict[int, str], restart: dict[str, Any]) -> str:
    phase = placed[caller.n]
    if phase != "flood":
        return phase
    if caller.started < restart["killed_at"]:
        return "flood, before the kill"
    if caller.started < restart["ready_at"]:
        return "flood, serve down"
    return "flood, after the restart"


def _phases(
    callers: list[Caller], placed_at: list[tuple[float, str]], restart: dict[str, Any]
) -> dict[str, dict[str, int]]:
    placed = {i: phase for i, (_, phase) in enumerate(placed_at)}
    rows: dict[str, Counter[str]] = {}
    for caller in callers:
        row = rows.setdefault(_phase_of(caller, placed, restart), Counter())
        row["offered"] += 1
        if caller.served:
            row["served"] += 1
        elif caller.failure == "refused":
            row["refused"] += 1
        else:
            row["cut"] += 1  # in the IVR when serve was killed: to the operator
        if caller.record is not None:
            row[f"outcome {caller.record.route()}"] += 1
    return {k: dict(v) for k, v in rows.items()}


def _verb(line: bytes) -> str:
    words = line.decode("utf-8", "replace").split()
    if not words:
        return "?"
    two = words[0].upper() in ("STREAM", "GET", "SET", "SAY", "WAIT", "DATABASE", "CHANNEL")
    return " ".join(w.upper() for w in words[: 2 if two and len(words) > 1 else 1])


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ms = sorted(v * 1000 for v in values)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return {
        "commands": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(ms[-1], 2),
    }


def _latency(
    callers: list[Caller], placed_at: list[tuple[float, str]], restart: dict[str, Any]
) -> dict[str, Any]:
    placed = {i: phase for i, (_, phase) in enumerate(placed_at)}
    by_phase: dict[str, list[float]] = {}
    by_verb: dict[str, list[float]] = {}
    flood: list[float] = []
    for caller in callers:
        phase = _phase_of(caller, placed, restart)
        by_phase.setdefault(phase, []).extend(caller.timings)
        if phase.startswith("flood"):
            flood.extend(caller.timings)
            commands = caller.record.commands if caller.record is not None else []
            for line, seconds in zip(commands, caller.timings, strict=False):
                by_verb.setdefault(_verb(line), []).append(seconds)
    return {
        "phases": {k: _summary(v) for k, v in by_phase.items()},
        "flood": _summary(flood),
        "flood_by_command": {k: _summary(v) for k, v in sorted(by_verb.items())},
    }


def section(data: dict[str, Any]) -> Section:
    s = data["settings"]
    lat = data["latency"]
    calls = data["calls"]
    order = ["usual", "flood, before the kill", "flood, serve down", "flood, after the restart"]
    rate = {"usual": s["normal_rate"]}
    rows = []
    for phase in order:
        c = calls.get(phase)
        if c is None:
            continue
        p = lat["phases"].get(phase, {})
        r = rate.get(phase, s["normal_rate"] * s["factor"])
        rows.append(
            [
                phase, f"{r:g}", c.get("offered", 0), c.get("served", 0), c.get("refused", 0),
                c.get("cut", 0), p.get("commands", 0), p.get("p50_ms", "-"), p.get("p99_ms", "-"),
                p.get("max_ms", "-"),
            ]
        )  # fmt: skip
    f = lat["flood"]
    lag = data.get("load_loop_lag", {})
    met = f.get("p99_ms", 1e9) < TARGET_P99_MS
    calls_table = Table(
        "Calls and callpop's think time per AGI command",
        ["phase", "calls/s", "offered", "served", "refused (down)", "cut by the kill",
         "commands", "p50 ms", "p99 ms", "max ms"],
        rows,
        [
            f"Whole flood: p99 {f.get('p99_ms', '-')} ms over {f.get('commands', 0)} commands "
            f"(target: under {TARGET_P99_MS:g} ms): {'met' if met else '**not met**'}.",
            "Think time: from the simulator's answer (or the environment block) leaving to "
            "the next command arriving, timed in the load process, which shares the cores "
            "(its own event-loop delay is included: during the flood that loop woke late by "
            f"p50 {lag.get('p50_ms', '-')} ms, p99 {lag.get('p99_ms', '-')} ms, "
            f"max {lag.get('max_ms', '-')} ms).",
        ],
    )  # fmt: skip
    verbs = Table(
        "Per AGI command during the flood",
        ["command", "count", "p50 ms", "p99 ms", "max ms"],
        [
            [verb, v["commands"], v["p50_ms"], v["p99_ms"], v["max_ms"]]
            for verb, v in lat["flood_by_command"].items()
            if v
        ],
    )
    j = data["judged"]
    overflowed = sum(j["overflowed"].values())
    got = Table(
        "What the callers with a billing question got (journeys in the database)",
        ["", "callers"],
        [
            ["reached the billing overflow node", j["reached_billing"]],
            [
                "overflowed (" + ", ".join(f"{k} {v}" for k, v in j["overflowed"].items()) + ")",
                overflowed,
            ],
            ["heard the estimated wait", j["heard_estimate"]],
            ["... and were offered a callback (estimate above 10 min)", j["offered"]],
            ["... took it", j["accepted"]],
            ["... declined it and queued", j["declined"]],
            ["decisions explained by a state current at the node (1 s TTL)", j["explained"]],
            ["... by a state up to 10 s older (a read slower than the TTL)", j["explained_late"]],
            ["decisions no published state explains", j["wrong_count"]],
        ],
    )
    cb = data["callbacks"]
    callbacks = Table(
        "Callbacks",
        ["", ""],
        [
            ["callers who heard their callback booked", cb["booked"]],
            ["stored (rows)", cb["rows"]],
            ["booked but not stored (lost)", len(cb["lost"])],
            ["stored, the caller cut by the kill before hearing it", len(cb["unheard_cut"])],
            ["stored after the budget, the caller told no: withdrawn", len(cb["withdrawn"])],
            ["stored, the caller told no, not withdrawn", len(cb["told_no_kept"])],
            ["to place (all but the withdrawn)", cb["to_place"]],
            ["placed exactly once (one Originate the agent answered)", cb["placed_once"]],
            ["placed twice or more", len(cb["placed_twice"])],
            ["not placed", len(cb["not_placed"])],
            ["withdrawn but placed", len(cb["withdrawn_placed"])],
            ["Originates refused (agent already on a call), then retried", cb["refused_originates"]],
            ["customers dialled before the flood was over", cb["dialled_before_flood_end"]],
            ["first customer dialled, s after the flood", cb["first_dialled_after_flood_s"]],
            ["every callback final, s after the flood", cb["all_final_after_s"]],
        ],
    )  # fmt: skip
    rs = data["restart"]
    q = data["queue"]
    restart = Table(
        "The restart and the queue",
        ["", ""],
        [
            ["SIGKILL to ready again, s", rs["ready_after_kill_s"]],
            ["ready to the first fresh queue state, s", rs["first_state_after_ready_s"]],
            ["journeys of served calls lost", len(data["journeys_lost"])],
            ["journeys stored, the kill before their outcome reached Asterisk",
             data["journeys_undelivered"]],
            ["callers queued / talked / gave up", f"{q['joined']} / {q['talked']} / {q['abandoned']}"],
            ["peak callers waiting, peak estimate (published)",
             f"{q['peak_waiting_published']}, {q['peak_ewt_s_published']} s"],
            ["serve CPU s, usual phase / flood", f"{data['cpu_s']['usual']} / {data['cpu_s']['flood']}"],
            ["the load process's CPU s (simulators, checks), usual / flood",
             f"{data['load_cpu_s']['usual']} / {data['load_cpu_s']['flood']}"],
        ],
    )  # fmt: skip
    intro = (
        f"A real `callpop serve` on PostgreSQL, the shipped dialplan (open every hour), the "
        f"FastAGI simulator at a channel's pace: {s['normal_rate']:g} call/s for "
        f"{s['normal_s']:g} s, then {s['normal_rate'] * s['factor']:g} calls/s for "
        f"{s['flood_s']:g} s with flood mode on; serve SIGKILLed {s['flood_s'] / 2:g} s into "
        f"the flood and started again. The billing queue on the AMI simulator: "
        f"{s['agents']} agents on calls when the run starts (QueueParams TalkTime "
        f"{s['talk_time_s']} s), queued callers giving up after {s['patience_s'][0]:g}-"
        f"{s['patience_s'][1]:g} s. Of every five callers two take a callback when offered, "
        "two decline and queue, one wants the outage update. After the flood the agents' "
        f"calls end and later ones last {s['after_talk_s']:g} s, so the backlog drains in the "
        "run. Measured on the 2-core machine "
        f"(load average {data['load_before']} before, {data['load_after']} after)."
    )
    return Section(
        key="flood",
        title="6. Flood: ten times the arrival rate, serve killed in the middle",
        intro=intro,
        tables=[calls_table, verbs, got, callbacks, restart],
        data=data,
        notes=[f"wrong decision: {w}" for w in j["wrong"][:5]]
        + [f"journey lost: {c}" for c in data["journeys_lost"][:5]],
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.flood")
    parser.add_argument("--quick", action="store_true", help="20 s of flood instead of 60")
    args = parser.parse_args()
    data = asyncio.run(_run(QUICK if args.quick else FULL))
    print(json.dumps(data, indent=2, default=str))


if __name__ == "__main__":
    main()
