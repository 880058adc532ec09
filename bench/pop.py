"""Benchmark 2: screen-pop latency, from the PBX's `AgentCalled` to the agent's socket.

`callpop serve` runs in its own process exactly as deployed (AMI listener, pop bus,
hub, SQLite database with 10k demo customers and the agents); the AMI simulator and
the agents' sockets run here. Calls arrive at a steady rate: each caller joins a
queue, an agent is rung 100 ms later (`AgentCalled`), answers 2 s later, hangs up 2 s
after that; agents are rung in turn. The latency is from the moment the simulator
writes `AgentCalled` to the moment the rung agent's socket has the `pop.offered`
frame, both read on this process's monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import loop
from bench.pop_browser import browser_sample
from bench.pop_desk import Desk, open_desk
from bench.report import Section, Table
from bench.stats import summary_ms
from callpop.pbx_sim.ami_events import Ids, QueueCall, Snapshot, Writer

__all__ = ["Caller", "run"]

RING_AFTER_S = 0.1
ANSWER_AFTER_S = 2.0
HANGUP_AFTER_S = 2.0
GRACE_S = 5.0  # a pop later than this after the last call is counted lost


@dataclass
class Caller:
    """Plays the PBX's side of queue calls on the AMI simulator and times the pops."""

    desk: Desk
    ids: Ids = field(default_factory=lambda: Ids("1796000000", 1))
    writer: Writer = field(default_factory=Writer)
    rung_at: dict[str, float] = field(default_factory=dict)  # monotonic
    rung_wall: dict[str, float] = field(default_factory=dict)  # wall clock, for the browser
    latency: dict[str, float] = field(default_factory=dict)
    count: int = 0
    awaited: set[str] = field(default_factory=set)
    all_popped: asyncio.Event = field(default_factory=asyncio.Event)

    def on_pop(self, call_id: str, kind: str, now: float) -> None:
        if kind == "pop.offered" and call_id in self.rung_at and call_id not in self.latency:
            self.latency[call_id] = now - self.rung_at[call_id]
            self.awaited.discard(call_id)
            if not self.awaited:
                self.all_popped.set()

    def start_call(self, agent: int, *, answer: bool = True) -> QueueCall:
        account = self.desk.accounts[agent]
        uid = self.ids.uniqueid()
        number = self.desk.numbers[self.count % len(self.desk.numbers)]
        self.count += 1
        caller = Snapshot(
            channel=f"PJSIP/trunk-{self.count:08x}",
            uniqueid=uid,
            linkedid=uid,
            context="callpop-route",
            exten="queue",
            priority=3,
            caller_num=number,
            caller_name="Bench Caller",
            variables=(("CALLPOP_CALL_ID", uid),),
        )
        call = QueueCall(caller, "billing", account.interface, account.name, self.ids, self.writer)
        ami = self.desk.ami
        loop = asyncio.get_running_loop()
        ami.emit(call.joined())

        def ring() -> None:
            events = call.agent_called()
            self.rung_wall[call.call_id] = time.time()
            self.rung_at[call.call_id] = time.perf_counter()
            ami.emit(events)

        loop.call_later(RING_AFTER_S, ring)
        if answer:
            loop.call_later(RING_AFTER_S + ANSWER_AFTER_S, lambda: ami.emit(call.answered()))
            loop.call_later(
                RING_AFTER_S + ANSWER_AFTER_S + HANGUP_AFTER_S, lambda: ami.emit(call.completed())
            )
        return call

    async def steady(self, rate: float, seconds: float, agents: int) -> list[str]:
        """Start `rate` calls a second for `seconds`; returns their call ids."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        ids = []
        total = int(rate * seconds)
        for n in range(total):
            delay = started + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            ids.append(self.start_call(n % agents).call_id)
        return ids

    async def settle(self, call_ids: list[str]) -> None:
        """Until every call has its pop, or GRACE_S passed since the last ring."""
        self.awaited = {c for c in call_ids if c not in self.latency}
        self.all_popped.clear()
        if not self.awaited:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RING_AFTER_S + GRACE_S):
                await self.all_popped.wait()


async def _run(
    rates: list[int], seconds: float, agents: int, cache: Path, browser_pops: int, crm_size: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="callpop-bench-pop-") as tmp:
        async with open_desk(Path(tmp), cache, agents, crm_size) as desk:
            caller = Caller(desk)
            started = time.perf_counter()
            await asyncio.gather(*(desk.connect(a, caller.on_pop) for a in desk.accounts[:agents]))
            connect_s = time.perf_counter() - started
            results = []
            for rate in rates:
                cpu0 = desk.server.cpu()
                ids = await caller.steady(rate, seconds, agents)
                await caller.settle(ids)
                cpu = desk.server.cpu() - cpu0
                got = [caller.latency[c] for c in ids if c in caller.latency]
                results.append(
                    {
                        "rate": rate,
                        "calls": len(ids),
                        "lost": len(ids) - len(got),
                        **(summary_ms(got) if got else {}),
                        "server_cpu_s": cpu,
                        "server_cpu_ms_per_call": cpu / len(ids) * 1000,
                        "server_rss_kib": desk.server.rss_kib(),
                    }
                )
                if rate != rates[-1]:
                    await asyncio.sleep(ANSWER_AFTER_S + HANGUP_AFTER_S)  # this rate's calls end
            browser = await browser_sample(
                desk, caller, pops=browser_pops, background_rate=min(rates[-1], 50), agents=agents
            )
            return {
                "agents": agents,
                "connect_s": connect_s,
                "seconds_per_rate": seconds,
                "rates": results,
                "browser": browser,
            }


def run(
    *,
    rates: list[int],
    seconds: float,
    agents: int,
    cache: Path,
    browser_pops: int,
    crm_size: int = 10_000,
) -> Section:
    data = loop.run(_run(rates, seconds, agents, cache, browser_pops, crm_size))
    rows = []
    for r in data["rates"]:
        if "p50_ms" not in r:
            rows.append([f"{r['rate']}/s", r["calls"], r["lost"], "-", "-", "-", "-", "-"])
            continue
        rows.append(
            [
                f"{r['rate']}/s",
                r["calls"],
                r["lost"],
                f"{r['p50_ms']:.1f}",
                f"{r['p95_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                f"{r['max_ms']:.1f}",
                f"{r['server_cpu_ms_per_call']:.2f}",
            ]
        )
    tables = [
        Table(
            f"{data['agents']} agents connected, AgentCalled -> pop.offered on the agent's websocket",
            [
                "calls arriving",
                "calls",
                "pops lost",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "server CPU ms/call",
            ],
            rows,
            [
                f"{data['agents']} sockets opened in {data['connect_s']:.1f} s; "
                f"{data['seconds_per_rate']:.0f} s of calls per rate. Server CPU covers the whole "
                "call (join, ring, answer, hang-up events and their pops)."
            ],
        )
    ]
    b = data["browser"]
    if b.get("error"):
        tables.append(Table("Chromium sample", ["result"], [[b["error"]]]))
    else:
        tables.append(
            Table(
                "Chromium: AgentCalled -> pop painted (first animation frame after the DOM update)",
                ["pops", "background calls", "p50 ms", "p95 ms", "max ms", "socket p50 ms"],
                [
                    [
                        b["n"],
                        f"{b['background_rate']}/s",
                        f"{b['p50_ms']:.1f}",
                        f"{b['p95_ms']:.1f}",
                        f"{b['max_ms']:.1f}",
                        f"{b['socket_p50_ms']:.1f}",
                    ]
                ],
                [
                    "Headless Debian Chromium (--headless --no-sandbox --disable-gpu "
                    "--disable-background-networking) on the real agent page; times on the wall "
                    "clock both sides (the page's performance.timeOrigin + now())."
                ],
            )
        )
    return Section(
        key="screenpop",
        title="2. Screen-pop latency",
        intro=(
            "`callpop serve` in its own process (AMI listener, pop bus, hub, SQLite with "
            "10k demo customers) and real aiohttp websockets on 127.0.0.1, one per agent; "
            "the AMI simulator plays queue calls (join, AgentCalled 100 ms later, answer, "
            "hang-up) at a steady rate, agents rung in turn. Measured from the simulator "
            "writing `AgentCalled` to the rung agent's socket holding `pop.offered`."
        ),
        tables=tables,
        data=data,
    )
