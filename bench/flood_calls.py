"""The callers of a flood and the checks of what each got, shared by `bench.flood` and
the flood test (tests/callpop/test_flood_restart.py).

A caller dials the shipped dialplan's entry (`agi://.../ivr`, flow `main`) through the
FastAGI simulator and, flood mode being on, walks its flood path: the known cause, the
flood menu, billing (2), a question about a charge (2), then what the flow decides for
the billing queue's state: the overflow (a message and the voicemail), or the estimated
wait and, above 10 minutes, a callback offer the caller takes (1, then # to confirm the
caller ID) or declines (2). A caller the IVR sends to the billing queue joins it on the
`Floor` (callpop-route's `Queue()`), where the agents answer in turn or the caller gives
up. Some callers only want the outage update (1) and hang up served.

What the flow says is checked on the journeys callpop wrote, against the queue state
callpop published (`queue_states`, sampled by `QueueStateLog` as the run goes): a
caller's overflow, estimate and offer must follow from a state that was current while
they were at that node (each instance's reader keeps a state up to its TTL, 1 s), or,
where the row had gone unvouched for longer than `queues.state_max_age_s` (the lease
holder not logged in to AMI, e.g. across the restart), from unknown state.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.pbx_sim.agi_channel import SimOptions
from callpop.pbx_sim.ami_floor import Floor, FloorCall
from callpop.pbx_sim.fastagi import CallRecord, call_fastagi
from callpop.pbx_sim.script import CallerId, CallerScript
from crm_adapter.sql.tables import callbacks, journeys, queue_states
from ivr.queue_steps import rounded_wait

__all__ = [
    "KEYS",
    "KEYS_NORMAL",
    "Caller",
    "Judgement",
    "QueueStateLog",
    "callback_check",
    "dial",
    "judge",
    "kind_of",
    "read_journeys",
]

QUEUE = "billing"
# The shipped flow's billing nodes and their thresholds (dialplan/flows/main.yaml).
OVERFLOW, WAIT, OFFER = "billing_overflow", "billing_wait", "billing_callback"
MAX_WAITING, MAX_WAIT_S, OFFER_ABOVE_S = 30, 45 * 60, 10 * 60
# What a caller presses with flood mode on: the flood menu, then the billing menu, then
# the answer to a callback offer (and # to confirm their caller ID as the number).
KEYS = {"accept": "2 2 1 #", "decline": "2 2 2", "update": "1"}
# The same wishes with flood mode off: the main menu's billing (1), its charge question
# (2); account services (4), contact details (1) instead of the outage update.
KEYS_NORMAL = {"accept": "1 2 1 #", "decline": "1 2 2", "update": "4 1"}


def kind_of(n: int) -> str:
    """Caller n's wish: of every five, two take a callback when offered, two keep
    waiting, one only wants the outage update."""
    return ("accept", "decline", "accept", "decline", "update")[n % 5]


@dataclass
class Caller:
    n: int
    kind: str
    call_id: str
    number: str
    started: float = 0.0  # time.time()
    record: CallRecord | None = None
    failure: str = ""  # "refused": callpop was not listening (AGISTATUS=FAILURE)
    entry: FloorCall | None = None  # in the queue, for the callers the IVR queued
    timings: list[float] = field(default_factory=list)  # callpop's think time per command

    @property
    def queued(self) -> str:
        """How the caller's stay in the queue ended ("" while it goes on, or not queued)."""
        return "" if self.entry is None else self.entry.ended

    @property
    def served(self) -> bool:
        """callpop gave Asterisk an outcome (the IVR ran to its end)."""
        return self.record is not None and bool(self.record.outcome)

    @property
    def route(self) -> str:
        """Where the dialplan sent the call after the AGI: callpop's outcome, or the
        operator queue when callpop gave none (refused, or cut by its crash)."""
        return "operator" if self.record is None else self.record.route()

    @property
    def booked(self) -> bool:
        return self.record is not None and "callpop/callback-booked" in self.record.played


async def dial(
    floor: Floor,
    port: int,
    n: int,
    *,
    epoch: str,
    options: SimOptions,
    patience_s: float,
    flood: bool = True,
) -> Caller:
    """Caller n through callpop's IVR, then where the dialplan sends them: returns once
    the IVR is over (a caller it queued is then on the floor: `Caller.entry`)."""
    kind = kind_of(n)
    call_id = f"{epoch}.{n + 1}"
    number = f"+1555{n:07d}"
    caller = Caller(n, kind, call_id, number, started=time.time())
    script = CallerScript.parse(
        (KEYS if flood else KEYS_NORMAL)[kind],
        caller=CallerId(number, f"Caller {n}"),
        uniqueid=call_id,
        linkedid=call_id,
    )
    try:
        caller.record = await call_fastagi(
            "127.0.0.1", port, script, options=options, timings=caller.timings
        )
    except OSError:
        caller.failure = "refused"
        return caller
    record = caller.record
    if record.outcome == "queue" and record.read("CALLPOP_QUEUE") == floor.queue:
        caller.entry = floor.join(call_id, number, patience_s=patience_s)
    return caller


# --- what callpop published -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Version:
    since: datetime
    callers: int
    available: int
    logged_in: int
    ewt_s: int | None
    open: bool
    full: bool
    known: bool = True  # False: no row yet (the queue's state never written)


# Before the lease holder's first write the queue has no row: its state is unknown.
ABSENT = Version(datetime.min.replace(tzinfo=UTC), 0, 0, 0, None, False, False, known=False)


class QueueStateLog:
    """Every version of one queue's row in `queue_states`, sampled every `every_s` (the
    writer changes it at most once a second, so no version is missed)."""

    def __init__(
        self,
        engine: AsyncEngine,
        queue: str = QUEUE,
        every_s: float = 0.1,
        max_age_s: float = 30.0,  # queues.state_max_age_s of the site under test
    ) -> None:
        self.engine = engine
        self.queue = queue
        self.every_s = every_s
        self.max_age_s = max_age_s
        self.versions: list[Version] = [ABSENT]
        # the latest `seen_at` sampled while each version was the row's content: how
        # long after it the row went stale (refreshes are not versions of their own)
        self.seen: list[datetime] = [ABSENT.since]
        self.failed_reads = 0

    async def run(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception:  # a read lost to the restart or the load: the next one
                self.failed_reads += 1
            await asyncio.sleep(self.every_s)

    async def sample(self) -> None:
        query = select(queue_states).where(queue_states.c.queue == self.queue)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return
        version = Version(
            row["updated_at"], row["callers"], row["available"], row["logged_in"],
            row["ewt_s"], row["open"], row["full"],
        )  # fmt: skip
        if not self.versions or self.versions[-1] != version:
            self.versions.append(version)
            self.seen.append(row["seen_at"])
        else:
            self.seen[-1] = max(self.seen[-1], row["seen_at"])

    def current(self, start: datetime, end: datetime) -> list[Version]:
        """The versions that were the row's content at some moment in [start, end], and
        an unknown one if that content was stale (past `max_age_s`) at such a moment."""
        out = []
        for i, version in enumerate(self.versions):
            until = self.versions[i + 1].since if i + 1 < len(self.versions) else None
            if version.since <= end and (until is None or until >= start):
                out.append(version)
                last = end if until is None else min(until, end)
                stale_from = self.seen[i] + timedelta(seconds=self.max_age_s)
                if version.known and stale_from < last:
                    out.append(replace(version, known=False, ewt_s=None))  # unknown
        return out


# --- what the flow says ---------------------------------------------------------------


def overflow_of(v: Version) -> str:
    """The overflow node's exit for a state (docs/dialplan.md, "overflow"): unknown
    state goes on, the queue itself being the safe default."""
    if not v.known:
        return "room"
    if not v.open or v.logged_in == 0:
        return "closed"
    if v.full:
        return "full"
    if v.available == 0 and v.callers >= MAX_WAITING:
        return "over-max-waiting"
    if v.ewt_s is not None and v.ewt_s > MAX_WAIT_S:
        return "over-max-wait"
    return "room"


def heard_of(v: Version) -> str:
    """The wait node's exit: the estimate as said ("under-1min", "15min"), or unknown."""
    if v.ewt_s is None:
        return "unknown"
    less, minutes = rounded_wait(v.ewt_s)
    return f"{'under-' if less else ''}{minutes}min"


def offered_of(v: Version) -> bool:
    return v.ewt_s is not None and v.ewt_s > OFFER_ABOVE_S


@dataclass
class Judgement:
    journeys: int = 0
    reached_billing: int = 0
    overflowed: Counter[str] = field(default_factory=Counter)
    heard: int = 0
    offered: int = 0
    accepted: int = 0
    declined: int = 0
    # decisions a state current at the node explains; those needing an older one
    # (the reader answered from its cache past the TTL, e.g. a read slowed by the load)
    explained: int = 0
    explained_late: int = 0
    wrong: list[str] = field(default_factory=list)


def _at(journey: dict[str, Any], ms: int | None) -> datetime:
    started = datetime.fromisoformat(journey["started_at"].replace("Z", "+00:00"))
    return started + timedelta(milliseconds=ms or 0)


def judge(
    found: Sequence[dict[str, Any]], log: QueueStateLog, *, ttl_s: float = 1.0, slack_s: float
) -> Judgement:
    """Each journey's billing steps against the states current while the caller was at
    each node: within the reader's TTL before it (explained), or within `slack_s` more
    (explained late); a decision no such state explains is wrong."""
    out = Judgement(journeys=len(found))
    for journey in found:
        steps = {s["node"]: s for s in journey["steps"] if s["node"] in (OVERFLOW, WAIT, OFFER)}
        if OVERFLOW not in steps:
            continue
        out.reached_billing += 1
        checks: list[tuple[str, Callable[[Version], object]]] = [(OVERFLOW, overflow_of)]
        if steps[OVERFLOW]["result"] != "room":
            out.overflowed[steps[OVERFLOW]["result"]] += 1
        else:
            checks.append((WAIT, heard_of))
            if steps.get(OFFER, {}).get("result") is not None:
                checks.append((OFFER, offered_of))  # the callback node reads state anew
            out.heard += 1 if steps.get(WAIT, {}).get("result") not in (None, "unknown") else 0
            offer = steps.get(OFFER, {}).get("result")
            if offer in ("requested", "declined", "timeout", "no-valid-number", "unavailable"):
                out.offered += 1
                out.accepted += offer == "requested"
                out.declined += offer == "declined"
        for node, rule in checks:
            step = steps.get(node)
            if step is None or step["result"] is None:
                out.wrong.append(f"{journey['call_id']}: left the IVR at {node}, no decision")
                continue
            result: object = step["result"]
            if node == OFFER:
                result = result not in ("below-threshold", "unknown")
            entered, left = _at(journey, step["entered_ms"]), _at(journey, step["left_ms"])
            near = log.current(entered - timedelta(seconds=ttl_s), left)
            late = log.current(entered - timedelta(seconds=ttl_s + slack_s), left)
            if any(rule(v) == result for v in near):
                out.explained += 1
            elif any(rule(v) == result for v in late):
                out.explained_late += 1
            else:
                seen = sorted({str(rule(v)) for v in late})
                out.wrong.append(
                    f"{journey['call_id']}: {node} {result!r} at {entered:%H:%M:%S.%f}, "
                    f"states then say {seen}"
                )
    return out


async def read_journeys(engine: AsyncEngine, call_ids: Sequence[str]) -> list[dict[str, Any]]:
    wanted = set(call_ids)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(journeys.c.call_id, journeys.c.data))).all()
    return [dict(data) for call_id, data in rows if call_id in wanted]


# --- callbacks ------------------------------------------------------------------------


@dataclass
class CallbackCheck:
    rows: int  # callbacks stored
    booked: int  # callers who heard their callback booked
    stored: int  # rows for them
    lost: list[str]  # booked, no row
    # stored, but the caller was cut (the kill) before hearing it: still to place
    unheard_cut: list[str]
    # stored after the budget, the caller told no: withdrawn (cancelled, caller-not-told)
    withdrawn: list[str]
    # stored, the caller told no, and not withdrawn: they would be called back as well
    told_no_kept: list[str]
    to_place: int  # rows to place: all but the withdrawn
    placed_once: int  # of those, the ones whose customer was called exactly once
    placed_twice: list[str]
    not_placed: list[str]
    withdrawn_placed: list[str]  # withdrawn rows whose customer was called anyway
    refused_originates: int  # Originates to an agent already on a call (then retried)
    states: Counter[str]


async def callback_check(
    engine: AsyncEngine, floor: Floor, callers: Sequence[Caller]
) -> CallbackCheck:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(callbacks))).mappings().all()
    by_call = {row["call_id"]: row for row in rows}
    callers_by_id = {c.call_id: c for c in callers}
    booked = [c for c in callers if c.booked]
    heard = {c.call_id for c in booked}
    placed = floor.callbacks_placed()
    withdrawn = [r for r in rows if r["result"] == "caller-not-told"]
    kept = [r for r in rows if r["result"] != "caller-not-told"]
    unheard = [r["call_id"] for r in kept if r["call_id"] not in heard]
    cut = [i for i in unheard if i in callers_by_id and not callers_by_id[i].served]
    return CallbackCheck(
        rows=len(rows),
        booked=len(booked),
        stored=len([c for c in booked if c.call_id in by_call]),
        lost=[c.call_id for c in booked if c.call_id not in by_call],
        unheard_cut=cut,
        withdrawn=[r["call_id"] for r in withdrawn],
        told_no_kept=[i for i in unheard if i not in cut],
        to_place=len(kept),
        placed_once=sum(1 for r in kept if placed[str(r["id"])] == 1),
        placed_twice=[r["call_id"] for r in kept if placed[str(r["id"])] > 1],
        not_placed=[r["call_id"] for r in kept if placed[str(r["id"])] == 0],
        withdrawn_placed=[r["call_id"] for r in withdrawn if placed[str(r["id"])] > 0],
        refused_originates=sum(floor.refused.values()),
        states=Counter(r["state"] for r in rows),
    )


def utcnow() -> datetime:
    return datetime.now(UTC)
