"""Benchmark 4: the engine alone, the ceiling for every driver.

A `Session` is driven with no I/O at all: each action list's last action is answered
at once (prompts heard, keys from the path, the CRM's answer already known). What is
measured is `Session.handle` and nothing else: events handled per second, nodes
entered per second and whole calls per second, per sample path.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bench.paths import BUSINESS_HOURS, DIALPLAN, ENGINE_PATHS, CallerPath
from bench.report import Section, Table
from ivr.actions import (
    Action,
    Collect,
    EnterNode,
    FloodLookup,
    Hangup,
    Lookup,
    Play,
    QueueLookup,
    Transfer,
)
from ivr.compile_flow import compile_flows
from ivr.compiled import CompiledFlows
from ivr.events import (
    Caller,
    CallStarted,
    DigitsEntered,
    Event,
    FloodLooked,
    LookupFinished,
    LookupStatus,
    PlayFinished,
    QueuesLooked,
)
from ivr.flow import Flow
from ivr.lint import check_dialplan
from ivr.session import Session
from ivr.variables import OUTCOME, TARGET

__all__ = ["CallStats", "run", "walk"]

_CUSTOMERS: Mapping[str, Mapping[str, Any]] = {
    "standard": {
        "id": "2",
        "name": "Jo Standard",
        "tier": "standard",
        "language": "en",
        "account": "3000000012",
        "open_cases": 0,
    },
    "vip": {
        "id": "1",
        "name": "Vi Premier",
        "tier": "vip",
        "language": "en",
        "account": "3000000020",
        "open_cases": 1,
    },
}


@dataclass(frozen=True, slots=True)
class CallStats:
    events: int
    nodes: int
    outcome: str
    target: str


def _lookup_answer(path: CallerPath, at_ms: int) -> LookupFinished:
    if path.crm == "not_found":
        return LookupFinished(LookupStatus.NOT_FOUND, at_ms)
    return LookupFinished(LookupStatus.FOUND, at_ms, _CUSTOMERS[path.crm], 1)


def _keys(token: str, at_ms: int, collect: Collect) -> DigitsEntered:
    if token == "w":
        return DigitsEntered("", at_ms, timed_out=True)
    digits = token.rstrip("#") if collect.terminator else token
    return DigitsEntered(digits, at_ms, timed_out=False)


def walk(
    flows: Mapping[str, Flow] | CompiledFlows, path: CallerPath, call_id: str = "bench.1"
) -> CallStats:
    """One call down `path`; raises if the session asks for something the path does
    not give or ends somewhere else than the path says."""
    session = Session(flows, "main")
    keys: Iterator[str] = iter(path.keys)
    at = 0
    actions: list[Action] = session.handle(
        CallStarted(call_id, Caller("+15550104321", "Bench Caller"), BUSINESS_HOURS, dnis="7000")
    )
    events = 1
    nodes = 0
    while True:
        nodes += sum(1 for a in actions if isinstance(a, EnterNode))
        last = actions[-1]
        at += 1000
        event: Event
        if isinstance(last, Play):
            event = PlayFinished(at)
        elif isinstance(last, Collect):
            event = _keys(next(keys, "w"), at, last)
        elif isinstance(last, Lookup):
            event = _lookup_answer(path, at)
        elif isinstance(last, FloodLookup):
            event = FloodLooked(at)  # no flood: the everyday paths
        elif isinstance(last, QueueLookup):
            event = QueuesLooked(at)  # no queue state known: the steps take their default
        elif isinstance(last, Transfer | Hangup):
            values = dict(last.variables)
            return CallStats(events, nodes, values.get(OUTCOME, ""), values.get(TARGET, ""))
        else:
            raise AssertionError(f"the session's answer ends with {last!r}")
        actions = session.handle(event)
        events += 1


def _measure(flows: CompiledFlows, path: CallerPath, seconds: float) -> dict[str, Any]:
    stats = walk(flows, path)
    if (stats.outcome, stats.target) != (path.outcome, path.target):
        raise AssertionError(
            f"{path.name}: ended in {stats.outcome} {stats.target}, "
            f"expected {path.outcome} {path.target}"
        )
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    elapsed = 0.0
    while True:
        for _ in range(50):
            walk(flows, path, f"bench.{calls}")
            calls += 1
        elapsed = time.perf_counter() - started
        if time.perf_counter() >= deadline:
            break
    return {
        "path": path.name,
        "keys": " ".join(path.keys) or "-",
        "events_per_call": stats.events,
        "nodes_per_call": stats.nodes,
        "calls": calls,
        "seconds": elapsed,
        "calls_per_s": calls / elapsed,
        "events_per_s": calls * stats.events / elapsed,
        "nodes_per_s": calls * stats.nodes / elapsed,
        "us_per_call": elapsed / calls * 1e6,
        "outcome": f"{stats.outcome} {stats.target}",
    }


def run(*, seconds_per_path: float) -> Section:
    flows = compile_flows(check_dialplan(DIALPLAN).flows)
    results = [_measure(flows, path, seconds_per_path) for path in ENGINE_PATHS]
    table = Table(
        "Engine alone (one core, no I/O)",
        [
            "path",
            "keys",
            "events/call",
            "nodes/call",
            "calls/s",
            "events/s",
            "nodes/s",
            "µs/call",
            "ends in",
        ],
        [
            [
                r["path"],
                r["keys"],
                r["events_per_call"],
                r["nodes_per_call"],
                f"{r['calls_per_s']:,.0f}",
                f"{r['events_per_s']:,.0f}",
                f"{r['nodes_per_s']:,.0f}",
                f"{r['us_per_call']:.1f}",
                r["outcome"],
            ]
            for r in results
        ],
    )
    return Section(
        key="engine",
        title="4. The engine alone",
        intro=(
            "`Session.handle` driven with no I/O (every prompt heard at once, the CRM's "
            "answer known), the sample dialplan at a fixed open hour. An *event* is one "
            "`handle` call; a *node* one node entered. This is the ceiling for every "
            "driver: the FastAGI server's calls/s cannot exceed it."
        ),
        tables=[table],
        data={"paths": results},
    )
