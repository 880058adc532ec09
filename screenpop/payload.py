"""What a pop shows: the caller, their IVR path, the CRM customer, cases, the script.

The pop must be on the agent's screen as the phone rings, so nothing here sits between
AgentCalled and the websocket: the builder gathers a call's data while the caller is
still in the IVR or the queue (`observe` starts the prefetch when the IVR hands the call
on; the IVR's own lookup went through the CRM cache, so this costs no second CRM round
trip), and `known(call_id)` returns at once whatever is ready. If the CRM is slow, the
pop goes out with what is known (caller, IVR path, the tier and customer id the IVR
left in its variables) and `complete` delivers the rest for a `pop.updated`.

The IVR path comes from the bus when this process ran the IVR: `ivr.ended` carries the
journey (`Journey.to_dict()`), kept with the call until it ends. Only a call this
process did not see (the classic AGI script runs in another process; a queue reached
without the IVR) is read from the database, in one round trip (`journey_and_caller`).
Calls are forgotten on hang-up, when the IVR ends them without an agent, and past
`max_calls` or `max_idle_s`.

Every value in a payload is data for the browser, which renders it with `textContent`:
nothing here formats HTML.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from crm_adapter.port import Case, CrmAdapter, CrmError, Customer, Interaction, NotFound
from ivr import variables as V
from ivr.catalog import Script, ScriptCatalog, ScriptStep
from screenpop.pops import CallEventLike
from screenpop.store import ScreenpopStore

__all__ = ["CallFacts", "PayloadBuilder", "RecordLink", "absorb", "script_view"]

log = logging.getLogger(__name__)

RecordLink = Callable[[Customer], str | None]
VIP_TIERS = frozenset({"vip"})
RECENT_INTERACTIONS = 5
# IVR outcomes that reach an agent (the prefetch starts) and those that never do (the
# call is forgotten at once); `error` sends the caller to the operator queue.
_TO_AGENT = frozenset({"queue", "agent", "extension"})
_NO_AGENT = frozenset({"hangup", "voicemail"})
SCRIPT_VIEWS_CACHED = 256
# Every IVR call gets an entry, most never reach an agent: until one is filled, a
# call's variables and CRM lists are these shared empty ones (reassigned, never mutated).
_NO_VARIABLES: Mapping[str, str] = MappingProxyType({})


@dataclass(slots=True)
class CallFacts:
    """What the bus told us about a call before any agent saw it."""

    call_id: str
    caller_number: str = ""
    caller_name: str = ""
    flow: str = ""
    dnis: str = ""
    nodes: list[tuple[str, str]] = field(default_factory=list)  # (node, kind), in order
    variables: Mapping[str, str] = field(default_factory=lambda: _NO_VARIABLES)
    queue: str = ""
    # a callback callpop places (`callback.placing`): what the pop tells the agent
    callback: Mapping[str, Any] | None = None


def absorb(facts: CallFacts, event: CallEventLike) -> None:
    """Fold one call event into the facts (pure)."""
    data = event.data
    if event.type == "ivr.started":
        caller = data.get("caller")
        if isinstance(caller, Mapping):
            facts.caller_number = str(caller.get("number") or "")
            facts.caller_name = str(caller.get("name") or "")
        facts.flow = str(data.get("flow") or "")
        facts.dnis = str(data.get("dnis") or "")
    elif event.type == "ivr.node":
        facts.nodes.append((str(data.get("node") or ""), str(data.get("kind") or "")))
    elif event.type == "ivr.ended":
        raw = data.get("variables")
        if isinstance(raw, Mapping):
            facts.variables = {str(k): str(v) for k, v in raw.items()}
        facts.queue = facts.variables.get(V.QUEUE, facts.queue)
    elif event.type in ("queue.joined", "agent.ringing", "agent.connected"):
        facts.queue = str(data.get("queue") or facts.queue)
    elif event.type == "callback.placing":
        facts.caller_number = str(data.get("number") or "")
        facts.caller_name = str(data.get("caller_name") or "")
        facts.queue = str(data.get("queue") or "")
        waited = data.get("waited_s")
        attempt = data.get("attempt")
        facts.callback = {
            "asked_on": str(data.get("asked_on") or ""),
            "requested_at": str(data.get("requested_at") or ""),
            "waited_s": waited if isinstance(waited, int) else 0,
            "attempt": attempt if isinstance(attempt, int) else 1,
            "number": facts.caller_number,
        }


@dataclass(slots=True)
class _Crm:
    """What the CRM said about one call (filled by the prefetch)."""

    done: bool = False
    error: str | None = None
    customers: Sequence[Customer] = ()
    chosen: str | None = None
    cases: Sequence[Case] = ()
    interactions: Sequence[Interaction] = ()
    journey: Mapping[str, Any] | None = None


@dataclass(slots=True)
class _Entry:
    facts: CallFacts
    touched: float
    crm: _Crm = field(default_factory=_Crm)
    task: asyncio.Task[None] | None = None
    # the journey came with `ivr.ended`: the database has nothing more to tell
    seen: bool = False


class PayloadBuilder:
    """Gathers and caches each call's pop payload. `late_s` bounds how long a slow CRM
    may take before the pop settles for what it has (every await has a deadline).

    `prefetch=False`: `observe` starts no read while the caller waits; the first
    `complete` does. With several instances on one bus every hub observes every call,
    and none knows while the caller waits which instance the rung agent's socket is on:
    prefetching would read each call once per instance, for one agent."""

    def __init__(
        self,
        crm: CrmAdapter,
        store: ScreenpopStore,
        *,
        late_s: float = 5.0,
        scripts: ScriptCatalog | None = None,
        record_link: RecordLink | None = None,
        max_calls: int = 5_000,
        max_idle_s: float = 4 * 3600.0,
        monotonic: Callable[[], float] = time.monotonic,
        prefetch: bool = True,
    ) -> None:
        self._crm = crm
        self._prefetch = prefetch
        self._store = store
        self._late_s = late_s
        self._scripts = scripts
        self._record_link = record_link or (lambda _customer: None)
        self._max_calls = max_calls
        self._max_idle_s = max_idle_s
        self._monotonic = monotonic
        # least recently used first
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # scripts are immutable: their views are built once per topic and shared
        self._script_views: dict[str | None, dict[str, Any] | None] = {}

    # --- inputs -----------------------------------------------------------------------

    def observe(self, event: CallEventLike) -> bool:
        """Fold in a call event; True when a payload rendered earlier is now stale.

        A queue can ring an agent (AgentCalled) before `ivr.ended` is seen: the pop then
        went out without the journey's labels and keys. `ivr.ended` brings them (or,
        from a runner that does not send the journey, says it is saved: the database is
        read again), and the hub sends the pop once more."""
        if event.type != "ivr.ended":
            entry = self._entry(event.call_id)
            absorb(entry.facts, event)
            if not self._prefetch:
                pass  # the rung agent's instance reads when the pop is offered
            elif event.type == "callback.placing":
                self._start(entry)  # the agent's phone rings next: gather now
            elif event.type == "queue.joined" and (entry.seen or not entry.facts.flow):
                # a call whose IVR ran elsewhere (or ended here with another outcome):
                # gather while it waits, so the ring pops it whole. One still in our
                # IVR is left to `ivr.ended`, which brings its journey.
                self._start(entry)
            return False
        entry = self._entry(event.call_id)
        facts = entry.facts
        absorb(facts, event)
        had_journey = entry.crm.journey is not None
        journey = event.data.get("journey")
        if isinstance(journey, Mapping):
            entry.crm.journey, entry.seen = journey, True
            _caller_from_journey(facts, journey)
            if not facts.variables:
                _variables_from_journey(facts, journey)
        outcome = facts.variables.get(V.OUTCOME) or str(event.data.get("outcome") or "")
        task = entry.task
        if task is not None and not had_journey:
            if not entry.seen:
                # A fetch started on ring (done or still running) read no journey: read
                # it again once that fetch is over; `complete` then waits for this one.
                entry.task = asyncio.create_task(
                    self._reread_journey(entry, task), name=f"pop-journey-{event.call_id}"
                )
            return True
        if outcome in _NO_AGENT and task is None:
            self.forget(event.call_id)  # no agent will ever see it
        elif outcome in _TO_AGENT and self._prefetch:
            self._start(entry)  # the caller goes to an agent: fetch while they wait
        return False

    def __contains__(self, call_id: object) -> bool:
        """Whether the builder holds the call (it keeps calls until they end)."""
        return call_id in self._entries

    def forget(self, call_id: str) -> None:
        entry = self._entries.pop(call_id, None)
        if entry is not None and entry.task is not None:
            entry.task.cancel()

    async def aclose(self) -> None:
        tasks = [e.task for e in self._entries.values() if e.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._entries.clear()

    # --- outputs ----------------------------------------------------------------------

    def known(self, call_id: str) -> dict[str, Any]:
        """The payload from what is ready now; never waits."""
        return self._render(self._entry(call_id))

    def is_complete(self, call_id: str) -> bool:
        entry = self._entries.get(call_id)
        return entry is not None and entry.crm.done

    async def complete(self, call_id: str) -> dict[str, Any]:
        """The payload once the CRM answered, failed, or ran past `late_s`."""
        entry = self._entry(call_id)
        task = self._start(entry)
        try:
            async with asyncio.timeout(self._late_s):
                # shielded: a caller giving up must not cancel the fetch others share
                await asyncio.shield(task)
        except TimeoutError:
            entry.crm.error = entry.crm.error or "the CRM is slow to answer"
            entry.crm.done = True
        return self._render(entry)

    async def choose(self, call_id: str, customer_id: str) -> dict[str, Any]:
        """The agent picked one of several customers sharing the number (or created one):
        show that customer's card, cases and history. Raises `NotFound`, `CrmError`."""
        entry = self._entry(call_id)
        async with asyncio.timeout(self._late_s):
            customer = await self._crm.get_customer(customer_id)
            cases, interactions = await asyncio.gather(
                self._crm.open_cases(customer.id),
                self._crm.recent_interactions(customer.id, RECENT_INTERACTIONS),
            )
        crm = entry.crm
        if all(c.id != customer.id for c in crm.customers):
            crm.customers = [*crm.customers, customer]
        crm.chosen, crm.cases, crm.interactions = customer.id, cases, interactions
        crm.done, crm.error = True, None
        return self._render(entry)

    def offered(self, call_id: str, customer_id: str) -> bool:
        """Whether the customer is one this call's pop offered: the lookup's match or
        candidates, or one the agent created for the call. An agent may attach only
        those: any other id would let them read any record through their own pop."""
        entry = self._entries.get(call_id)
        if entry is None:
            return False
        crm = entry.crm
        return customer_id == crm.chosen or any(c.id == customer_id for c in crm.customers)

    def chosen_customer(self, call_id: str) -> str | None:
        entry = self._entries.get(call_id)
        return None if entry is None else entry.crm.chosen

    def caller(self, call_id: str) -> tuple[str, str]:
        """(number, name) of the call's caller as the bus told it, empty when unknown."""
        entry = self._entries.get(call_id)
        if entry is None:
            return "", ""
        return entry.facts.caller_number, entry.facts.caller_name

    def journey_summary(self, call_id: str) -> str:
        """The IVR path in one line, as the CRM interaction records it."""
        return " > ".join(s["label"] or s["node"] for s in self._steps(self._entry(call_id)))

    # --- gathering --------------------------------------------------------------------

    def _entry(self, call_id: str) -> _Entry:
        now = self._monotonic()
        entries = self._entries
        entry = entries.get(call_id)
        if entry is None:
            entry = entries[call_id] = _Entry(CallFacts(call_id), now)
            # a call whose end we never heard of (no AMI, a lost hang-up) goes in time
            horizon = now - self._max_idle_s
            while len(entries) > self._max_calls or next(iter(entries.values())).touched < horizon:
                _, old = entries.popitem(last=False)
                if old.task is not None:
                    old.task.cancel()
        else:
            entry.touched = now
            entries.move_to_end(call_id)
        return entry

    def _start(self, entry: _Entry) -> asyncio.Task[None]:
        if entry.task is None:
            entry.task = asyncio.create_task(
                self._fetch(entry), name=f"pop-payload-{entry.facts.call_id}"
            )
        return entry.task

    async def _fetch(self, entry: _Entry) -> None:
        facts, crm = entry.facts, entry.crm
        try:
            async with asyncio.timeout(self._late_s):
                await self._fetch_local(entry)
                await self._fetch_crm(facts, crm)
        except TimeoutError:
            crm.error = "the CRM did not answer in time"
        except CrmError as exc:
            crm.error = f"the CRM is unavailable ({type(exc).__name__})"
            log.warning("pop payload for call %r: %s", facts.call_id, type(exc).__name__)
        except Exception:
            # a bug or a database failure: the pop still goes out with what is known
            crm.error = "the customer data could not be read"
            log.exception("pop payload for call %r failed", facts.call_id)
        finally:
            crm.done = True

    async def _reread_journey(self, entry: _Entry, previous: asyncio.Task[None]) -> None:
        # `_fetch` never raises (it records errors), but may be cancelled with the call.
        await asyncio.wait([previous])
        try:
            await self._fetch_local(entry)
        except Exception:
            log.exception(
                "pop payload for call %r: reading the journey failed", entry.facts.call_id
            )

    async def _fetch_local(self, entry: _Entry) -> None:
        if entry.seen:
            return
        facts = entry.facts
        # the journey and the call row are in our own database: the classic AGI
        # script (another process) leaves them there with no bus event at all
        # a callback shows the IVR path of the call that asked for it
        asked_on = str(facts.callback.get("asked_on") or "") if facts.callback else ""
        journey, who = await self._store.journey_and_caller(asked_on or facts.call_id)
        if entry.seen:  # `ivr.ended` brought the journey while we read
            return
        entry.crm.journey = journey
        if journey is not None:
            _caller_from_journey(facts, journey)
            if not facts.variables:
                _variables_from_journey(facts, journey)
        if not facts.caller_number and who is not None:
            facts.caller_number = who[0]
            facts.caller_name = facts.caller_name or who[1]

    async def _fetch_crm(self, facts: CallFacts, crm: _Crm) -> None:
        customers: list[Customer] = []
        known_id = facts.variables.get(V.CUSTOMER_ID) or ""
        if known_id:
            try:
                customers = [await self._crm.get_customer(known_id)]
            except NotFound:
                customers = []
        if not customers and facts.caller_number:
            customers = await self._crm.find_by_phone(facts.caller_number)
        crm.customers = customers
        if len(customers) == 1:
            crm.chosen = customers[0].id
            crm.cases, crm.interactions = await asyncio.gather(
                self._crm.open_cases(crm.chosen),
                self._crm.recent_interactions(crm.chosen, RECENT_INTERACTIONS),
            )

    # --- rendering --------------------------------------------------------------------

    def _steps(self, entry: _Entry) -> list[dict[str, Any]]:
        journey = entry.crm.journey
        raw = journey.get("steps") if journey else None
        if isinstance(raw, Sequence) and raw:
            return [
                {
                    "node": str(s.get("node") or ""),
                    "label": str(s.get("label") or ""),
                    "kind": str(s.get("kind") or ""),
                    "keys": [str(k) for k in s.get("keys") or ()],
                    "result": str(s.get("result") or ""),
                }
                for s in raw
                if isinstance(s, Mapping)
            ]
        return [
            {"node": node, "label": "", "kind": kind, "keys": [], "result": ""}
            for node, kind in entry.facts.nodes
        ]

    def _customer(self, customer: Customer) -> dict[str, Any]:
        return {
            "id": customer.id,
            "name": customer.name,
            "phones": list(customer.phones),
            "account": customer.account,
            "tier": customer.tier,
            "vip": (customer.tier or "").casefold() in VIP_TIERS,
            "language": customer.language,
            "email": customer.email,
            "external_id": customer.external_id,
            "notes": customer.notes,
            "record_url": self._record_link(customer),
        }

    def _render(self, entry: _Entry) -> dict[str, Any]:
        facts, crm = entry.facts, entry.crm
        variables = facts.variables
        journey = crm.journey or {}
        topic = variables.get(V.TOPIC) or journey.get("topic") or None
        identity = _identity(journey, variables)
        verified = identity["verified"]
        chosen = next((c for c in crm.customers if c.id == crm.chosen), None)
        tier = (chosen.tier if chosen is not None else None) or variables.get(V.TIER) or None
        if not crm.done:
            match = "pending"
        elif crm.error is not None and not crm.customers:
            match = "unknown"
        elif chosen is not None:
            match = "one"
        elif len(crm.customers) > 1:
            match = "several"
        else:
            match = "none"
        return {
            "status": "loading" if not crm.done else ("partial" if crm.error else "complete"),
            "crm_error": crm.error,
            "caller": {"number": facts.caller_number, "name": facts.caller_name},
            "flow": facts.flow or str(journey.get("flow") or ""),
            "dnis": facts.dnis,
            "queue": facts.queue,
            "topic": topic,
            "verified": verified,
            "identity": identity,
            "tier": tier,
            "vip": (tier or "").casefold() in VIP_TIERS,
            "ivr": {
                "steps": self._steps(entry),
                "outcome": variables.get(V.OUTCOME) or None,
                "last_node": variables.get(V.LAST_NODE) or None,
            },
            "match": match,
            "customer": self._customer(chosen) if chosen is not None else None,
            "candidates": [self._customer(c) for c in crm.customers] if chosen is None else [],
            "cases": [
                {
                    "id": c.id,
                    "subject": c.subject,
                    "status": c.status,
                    "opened": c.opened.isoformat(),
                }
                for c in crm.cases
            ],
            "interactions": [
                {
                    "call_id": i.call_id,
                    "started": i.started.isoformat(),
                    "agent": i.agent,
                    "disposition": i.disposition,
                    "notes": i.notes,
                    "journey": i.journey,
                }
                for i in crm.interactions
                if i.call_id != facts.call_id
            ],
            "script": self._script_view(topic),
            "callback": dict(facts.callback) if facts.callback is not None else None,
            "new_customer": {"name": facts.caller_name, "phone": facts.caller_number}
            if match == "none"
            else None,
        }

    def _script_view(self, topic: str | None) -> dict[str, Any] | None:
        views = self._script_views
        if topic in views:
            return views[topic]
        script = self._scripts.for_topic(topic) if self._scripts is not None else None
        view = script_view(script, topic) if script is not None else None
        if len(views) >= SCRIPT_VIEWS_CACHED:  # topics come from flows, but are text
            views.clear()
        views[topic] = view
        return view


_IDENTITIES = frozenset({"none", "ani", "account", "account+ani", "pin"})
_VERIFIED = frozenset({"account+ani", "pin"})


def _identity(journey: Mapping[str, Any], variables: Mapping[str, str]) -> dict[str, Any]:
    """How the IVR identified the caller (docs/contracts.md, "Matching and identity").
    A journey from before identities were recorded counts as `none` unless its
    CALLPOP_VERIFIED says otherwise."""
    level = journey.get("identity")
    if level not in _IDENTITIES:
        verified_flag = variables.get(V.VERIFIED) == "1" or journey.get("verified") is True
        level = "account+ani" if verified_flag else "none"
    warning = journey.get("identity_warning")
    return {
        "level": level,
        "verified": level in _VERIFIED,
        "warning": warning if warning == "account-not-caller" else None,
    }


def _caller_from_journey(facts: CallFacts, journey: Mapping[str, Any]) -> None:
    caller = journey.get("caller")
    if not facts.caller_number and isinstance(caller, Mapping):
        facts.caller_number = str(caller.get("number") or "")
        facts.caller_name = facts.caller_name or str(caller.get("name") or "")


def _variables_from_journey(facts: CallFacts, journey: Mapping[str, Any]) -> None:
    raw = journey.get("variables")
    if isinstance(raw, Mapping):
        facts.variables = {str(k): str(v) for k, v in raw.items()}


def script_view(script: Script, topic: str | None) -> dict[str, Any]:
    return {
        "topic": topic,
        "title": script.title,
        "summary": script.summary,
        "steps": [_step_view(s) for s in script.steps],
    }


def _step_view(step: ScriptStep) -> dict[str, Any]:
    view: dict[str, Any] = {"kind": step.kind, "text": step.text, "disposition": step.disposition}
    if step.answers:
        view["answers"] = [
            {"answer": answer, "steps": [_step_view(s) for s in steps]}
            for answer, steps in step.answers.items()
        ]
    return view
