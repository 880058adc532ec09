"""The supervisor's wallboard: calls in the IVR by node, calls waiting per queue, agents
and their states. Pure: events in (bus order), a JSON-ready snapshot out.

Calls in the IVR are counted from `ivr.started` / `ivr.node` / `ivr.ended`, waiting
calls from `queue.joined` / `queue.left`; `call.hungup` clears both, so a caller who
hangs up without a `queue.left` (AMI down for a moment) does not wait forever. Agent
states come from their pops (`screenpop.pops`): the wallboard shows what the agents'
panels show; an agent with no ringing or live pop whose device the PBX reports on a call (AMI
member status, `agent.status` in_call: a click-to-dial call, a direct call, a call that
popped nobody) is on a call too, not ready.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from screenpop.outlook import Outlook, Score
from screenpop.pops import CallEventLike, Pop, PopState

__all__ = ["AgentLine", "Wallboard", "agent_state"]

# How an agent's desk reads, most demanding first: one live call outweighs an offer.
_STATE_ORDER = (PopState.ACCEPTED, PopState.OFFERED, PopState.WRAPUP)
_STATE_NAMES = {
    PopState.ACCEPTED: "on_call",
    PopState.OFFERED: "ringing",
    PopState.WRAPUP: "wrapup",
}


@dataclass(frozen=True, slots=True)
class AgentLine:
    """An agent as the wallboard lists them."""

    id: str
    name: str
    interface: str
    role: str


@dataclass(slots=True)
class _IvrCall:
    flow: str
    node: str
    since: str
    version: str = ""  # the dialplan version hash the call runs on


@dataclass(slots=True)
class _Waiting:
    call_id: str
    since: str
    priority: int
    caller: str
    pbx: str = ""  # the Asterisk that reported it waiting ("" read back from a row)


@dataclass(slots=True)
class Wallboard:
    """Live counts for the supervisor page."""

    in_ivr: dict[str, _IvrCall] = field(default_factory=dict)
    waiting: dict[str, dict[str, _Waiting]] = field(default_factory=dict)  # queue -> call -> entry
    callers: dict[str, str] = field(default_factory=dict)  # call id -> caller number, while known
    # the day's calls that left a queue to an agent, and those abandoned: by call id, so
    # one call told twice (read back from its row at start-up, and delivered by the bus)
    # counts once
    handled_calls: set[str] = field(default_factory=set)
    abandoned_calls: set[str] = field(default_factory=set)
    dialplans: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Instance -> (dialplan version hash, loaded at), from `dialplan.reloaded`."""

    def handle(self, event: CallEventLike) -> bool:
        """Take one call event; True if the board changed."""
        kind, call_id, data = event.type, event.call_id, event.data
        if kind == "ivr.started":
            caller = data.get("caller")
            number = caller.get("number") if isinstance(caller, Mapping) else None
            self.callers[call_id] = str(number or "")
            version = data.get("version")
            hash_ = str(version.get("hash") or "") if isinstance(version, Mapping) else ""
            self.in_ivr[call_id] = _IvrCall(str(data.get("flow") or ""), "", event.at, hash_)
            return True
        if kind == "dialplan.reloaded":
            instance = str(data.get("instance") or "")
            self.dialplans[instance] = (
                str(data.get("hash") or ""),
                str(data.get("loaded_at") or ""),
            )
            return True
        if kind == "ivr.node":
            current = self.in_ivr.get(call_id)
            if current is None:  # serve started mid-call: count it from now
                current = self.in_ivr[call_id] = _IvrCall("", "", event.at)
            current.node = str(data.get("node") or "")
            current.since = event.at
            return True
        if kind == "ivr.ended":
            return self.in_ivr.pop(call_id, None) is not None
        if kind == "queue.joined":
            queue = str(data.get("queue") or "")
            priority = data.get("priority")
            self.waiting.setdefault(queue, {})[call_id] = _Waiting(
                call_id,
                event.at,
                priority if isinstance(priority, int) else 0,
                self.callers.get(call_id, ""),
                str(data.get("pbx") or ""),
            )
            return True
        if kind == "queue.left":
            reason = data.get("reason")
            if reason == "connected":
                self.handled_calls.add(call_id)
            elif reason == "abandoned":
                self.abandoned_calls.add(call_id)
            return self._leave_queues(call_id) or reason in ("connected", "abandoned")
        if kind == "agent.connected":
            return self._leave_queues(call_id)
        if kind == "call.hungup":
            changed = self.in_ivr.pop(call_id, None) is not None
            changed = self._leave_queues(call_id) or changed
            self.callers.pop(call_id, None)
            return changed
        return False

    @property
    def handled(self) -> int:
        return len(self.handled_calls)

    @property
    def abandoned(self) -> int:
        return len(self.abandoned_calls)

    def restore(
        self,
        *,
        handled: Iterable[str],
        abandoned: Iterable[str],
        waiting: Iterable[tuple[str, str, str, str]],
    ) -> None:
        """The day's calls handled and abandoned (call ids) and the waiting calls as the
        stored rows have them (this process started during the day): `waiting` is
        (queue, call id, since, caller). A call the bus already reported stays as the
        bus has it, and is counted once."""
        self.handled_calls.update(handled)
        self.abandoned_calls.update(abandoned)
        for queue, call_id, since, caller in waiting:
            entries = self.waiting.setdefault(queue, {})
            if call_id not in entries:
                entries[call_id] = _Waiting(call_id, since, 0, caller)
                self.callers.setdefault(call_id, caller)

    def waiting_on(self, pbx: str) -> set[str]:
        """The calls waiting in a queue as the Asterisk `pbx` reported them."""
        return {
            entry.call_id
            for entries in self.waiting.values()
            for entry in entries.values()
            if entry.pbx == pbx
        }

    def new_day(self) -> None:
        """Midnight: the day's counts start again."""
        self.handled_calls.clear()
        self.abandoned_calls.clear()

    def _leave_queues(self, call_id: str) -> bool:
        changed = False
        for queue in list(self.waiting):
            if self.waiting[queue].pop(call_id, None) is not None:
                changed = True
                if not self.waiting[queue]:
                    del self.waiting[queue]
        return changed

    def snapshot(
        self,
        *,
        now: str,
        agents: Sequence[AgentLine],
        pops_of: Callable[[str], Iterable[Pop]],
        online: Callable[[str], bool],
        outlook: Outlook | None = None,
        in_call_since: Callable[[str], str | None] = lambda _agent_id: None,
    ) -> dict[str, Any]:
        """The board as the supervisor page renders it; `outlook` is what the shared
        database says (estimated waits, callbacks pending, flood switch); `in_call_since`
        when the PBX said an agent's device went on a call (None: it is not)."""
        nodes: dict[tuple[str, str], int] = {}
        versions: dict[str, int] = {}
        for call in self.in_ivr.values():
            key = (call.flow, call.node)
            nodes[key] = nodes.get(key, 0) + 1
            versions[call.version] = versions.get(call.version, 0) + 1
        outlook = outlook or Outlook()
        pending = {q: n for q, n in outlook.callbacks_pending.items() if n > 0}
        surveys = outlook.surveys
        queues = []
        shown = self.waiting.keys() | outlook.ewt_s.keys() | pending.keys() | surveys.queues.keys()
        for queue in sorted(shown):
            entries = self.waiting.get(queue, {})
            oldest = min(entries.values(), key=lambda w: w.since) if entries else None
            queues.append(
                {
                    "queue": queue,
                    "waiting": len(entries),
                    "oldest_since": oldest.since if oldest is not None else None,
                    "ewt_s": outlook.ewt_s.get(queue),
                    "state_seen_at": _iso(outlook.stale_since.get(queue)),
                    "callbacks_pending": pending.get(queue, 0),
                    "survey": _score(surveys.queues.get(queue)),
                    "calls": [
                        {
                            "call_id": w.call_id,
                            "since": w.since,
                            "priority": w.priority,
                            "caller": w.caller,
                        }
                        for w in sorted(entries.values(), key=lambda w: (-w.priority, w.since))
                    ],
                }
            )
        lines = []
        for agent in agents:
            state, pop = agent_state(pops_of(agent.id))
            is_online = online(agent.id)
            since = pop.since if pop is not None else None
            device_since = in_call_since(agent.id)
            if device_since is not None and state in ("available", "wrapup"):
                # on a call no pop shows (it popped nobody), wrap-up or not
                state, since, pop = "on_call", device_since, None
            lines.append(
                {
                    "id": agent.id,
                    "name": agent.name,
                    "interface": agent.interface,
                    "role": agent.role,
                    "online": is_online,
                    "state": state
                    if (pop is not None or device_since is not None or is_online)
                    else "offline",
                    "since": since,
                    "call_id": pop.call_id if pop is not None else None,
                    "queue": pop.queue if pop is not None else None,
                    "survey": _score(surveys.agents.get(agent.interface)),
                }
            )
        return {
            "now": now,
            "ivr": {
                "total": len(self.in_ivr),
                "nodes": [
                    {"flow": flow, "node": node or "(start)", "calls": count}
                    for (flow, node), count in sorted(nodes.items())
                ],
            },
            "dialplan": {
                "instances": [
                    {"instance": name, "version": hash_, "loaded_at": at}
                    for name, (hash_, at) in sorted(self.dialplans.items())
                ],
                "calls_by_version": [
                    {"version": hash_, "calls": count}
                    for hash_, count in sorted(versions.items())
                    if hash_
                ],
            },
            "queues": queues,
            "flood": {"active": outlook.flood.active, "message": outlook.flood.message},
            "survey": _score(surveys.overall),
            "agents": lines,
            "totals": {
                "in_ivr": len(self.in_ivr),
                "waiting": sum(len(e) for e in self.waiting.values()),
                "talking": sum(1 for line in lines if line["state"] == "on_call"),
                "handled": self.handled,
                "abandoned": self.abandoned,
            },
        }


def _score(score: Score | None) -> dict[str, Any] | None:
    """Today's survey average as the page shows it (None: no answer today)."""
    if score is None or score.answers <= 0:
        return None
    return {"average": round(score.average, 2), "answers": score.answers}


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat(timespec="milliseconds") if at is not None else None


def agent_state(pops: Iterable[Pop]) -> tuple[str, Pop | None]:
    """`available`, `ringing`, `on_call` or `wrapup`, and the pop that makes it so."""
    by_state: dict[PopState, Pop] = {}
    for pop in pops:
        by_state.setdefault(pop.state, pop)
    for state in _STATE_ORDER:
        if state in by_state:
            return _STATE_NAMES[state], by_state[state]
    return "available", None
