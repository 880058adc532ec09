"""The engine with no PBX: drive a `Session` with a scripted caller and a scripted CRM.

`callpop simulate` is this module behind a command line. It plays Asterisk's part
the simplest way that stays faithful to it: a `Play` is heard to the end, a
`Collect` takes the caller's next key token the way `GET DATA` would (the terminator
ends the entry and is dropped, `max_digits` ends it, an entry that stops short
times out with the digits typed so far), a `Lookup` asks the `Crm` given, a
`QueueLookup` is answered from the queue states given (`--queue billing:ewt=900`). Time is
simulated, never read: prompts last as long as their text takes to say, silences as
long as the timeout, so `t_ms` shows where a caller spends the call.

Pure like the rest of `ivr/`: no clock, no I/O. The caller (`KeySource`) and the
CRM (`Crm`) are handed in; the interactive mode of the CLI is a `KeySource` that
reads a terminal, and `callpop simulate --crm db` a `Crm` over the real adapter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from typing import Any, Final, Literal, Protocol

from ivr.actions import (
    PIN_SHOWN,
    Action,
    CallbackRequest,
    CheckPin,
    Collect,
    EnterNode,
    FloodLookup,
    Hangup,
    Lookup,
    Play,
    QueueLookup,
    SayDigits,
    SayNumber,
    Sound,
    Spoken,
    Transfer,
)
from ivr.compiled import CompiledFlows
from ivr.conditions import QUEUE_FIELDS
from ivr.events import (
    CallbackRequested,
    CallbackStatus,
    Caller,
    CallStarted,
    CustomerValue,
    DigitsEntered,
    Event,
    FloodLooked,
    HungUp,
    LookupFinished,
    LookupStatus,
    PinChecked,
    PinStatus,
    PlayFinished,
    QueuesLooked,
    QueueValue,
)
from ivr.flow import ENTRY_FLOW, Flow
from ivr.journey import Journey, mask
from ivr.session import Session
from ivr.survey import SurveyAnswer, SurveySession

__all__ = [
    "HANG_UP",
    "SILENCE",
    "CallbackDesk",
    "Crm",
    "CrmAnswer",
    "DownCrm",
    "FakeCrm",
    "KeyScriptError",
    "KeySource",
    "ListeningPoint",
    "NoCrm",
    "PromptText",
    "ScriptedKeys",
    "SimOutcome",
    "SimStep",
    "Simulation",
    "SimulationError",
    "SurveySimulation",
    "parse_keys",
    "parse_queue",
    "simulate",
    "simulate_survey",
    "spoken_ms",
    "stale_queue",
]

SILENCE: Final = "w"
"""A key-script token: the caller says nothing and the node times out."""
HANG_UP: Final = "h"
"""A key-script token: the caller hangs up instead of answering."""

# How a simulated caller answers: after the prompts (they listen to the end), a
# second to decide, then keys a third of a second apart.
REACTION_MS: Final = 1000
KEY_GAP_MS: Final = 300

# Far more events than any call that respects max_steps can produce: hitting it
# means the engine loops, and the simulator says so instead of spinning.
MAX_EVENTS: Final = 5000

_TOKEN = re.compile(r"[0-9*#]+|[wh]", re.ASCII)
_SPLIT = re.compile(r"[^\s,]+")


class KeyScriptError(ValueError):
    """A `--keys` script that cannot be played; `column` is 1-based in the script."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


class SimulationError(Exception):
    """The session did something no driver can carry out (an engine bug)."""


def parse_keys(script: str) -> tuple[str, ...]:
    """Tokens of a key script: `"1 2 #"`, `"4,12345678#,w"`. One token per listening
    point: digits, `*` and `#` (several for an entry), `w` for silence, `h` to hang up."""
    tokens: list[str] = []
    for match in _SPLIT.finditer(script):
        token = match.group()
        if not _TOKEN.fullmatch(token):
            raise KeyScriptError(
                f"key token {len(tokens) + 1} {token!r} at column {match.start() + 1}: a token is "
                f"keys (0-9, * and #), {SILENCE} to let the node time out, or {HANG_UP} to hang up",
                match.start() + 1,
            )
        tokens.append(token)
    return tuple(tokens)


# --- what the caller hears ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PromptText:
    """One prompt as the simulator shows it: the sound file and what it says.
    `say` is `digits` or `number` for a prompt Asterisk speaks itself."""

    sound: str | None
    text: str | None
    say: Literal["digits", "number"] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sound": self.sound, "text": self.text}
        if self.say is not None:
            out["say"] = self.say
        return out


def _masked_keys(token: str) -> str:
    digits = token.rstrip("#")
    return mask(digits) + token[len(digits) :]


def _prompt_text(spoken: Spoken) -> PromptText:
    if isinstance(spoken, Sound):
        return PromptText(spoken.name, spoken.text)
    if isinstance(spoken, SayDigits):
        return PromptText(None, " ".join(spoken.shown), "digits")
    return PromptText(None, str(spoken.number), "number")


def spoken_ms(prompts: Iterable[Spoken]) -> int:
    """How long prompts take to play, estimated: about 65 ms a character of text (a
    voice talent's 150 words a minute), half a second a digit said."""
    total = 0
    for spoken in prompts:
        if isinstance(spoken, Sound):
            total += max(600, 65 * len(spoken.text)) if spoken.text else 1000
        elif isinstance(spoken, SayDigits):
            total += 500 * len(spoken.digits)
        elif isinstance(spoken, SayNumber):
            total += 600 + 250 * len(str(abs(spoken.number)))
    return total


# --- the caller ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListeningPoint:
    """A `Collect`: the caller is asked for keys at `node`. `number` counts the
    listening points of the call from 1 (the token's index in the script)."""

    number: int
    flow: str
    node: str
    prompts: tuple[PromptText, ...]
    collect: Collect


class KeySource(Protocol):
    def next_token(self, point: ListeningPoint) -> str | None:
        """The caller's answer: keys, `w` (silence) or `h` (hang up); None when the
        caller has nothing more to say (silence from now on)."""
        ...


class ScriptedKeys:
    """A `KeySource` from a script: one token per listening point, then silence."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = list(tokens)
        for token in self._tokens:
            if not _TOKEN.fullmatch(token):
                raise KeyScriptError(f"bad key token {token!r}")
        self._next = 0

    def next_token(self, point: ListeningPoint) -> str | None:
        if self._next >= len(self._tokens):
            return None
        token = self._tokens[self._next]
        self._next += 1
        return token

    @property
    def unused(self) -> tuple[str, ...]:
        """Tokens the call ended before reaching (usually a script mistake)."""
        return tuple(self._tokens[self._next :])


# --- the CRM -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CrmAnswer:
    status: LookupStatus
    customer: Mapping[str, CustomerValue] | None = None
    matches: int = 0
    took_ms: int = 40
    candidates: tuple[str, ...] = ()


class Crm(Protocol):
    def lookup(self, by: Literal["phone", "account"], value: str) -> CrmAnswer: ...

    def verify_pin(self, customer_id: str, pin: str) -> PinStatus:
        """A `pin` node's check; the simulator shows its answer, never the PIN."""
        ...


SIMULATED_PIN: Final = "1234"
"""The PIN of the customers `FakeCrm` makes up, unless told another."""


def _luhn_complete(digits: str) -> str:
    """`digits` plus the Luhn check digit that makes the whole number valid."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return digits + str((10 - total % 10) % 10)


@dataclass(frozen=True, slots=True)
class FakeCrm:
    """Finds everyone: a made-up customer derived from the number or account asked
    for, so the same script gives the same journey every time."""

    tier: str = "standard"
    open_cases: int = 0
    name: str = "Alex Morgan"
    took_ms: int = 40
    pin: str = SIMULATED_PIN

    def lookup(self, by: Literal["phone", "account"], value: str) -> CrmAnswer:
        digits = "".join(ch for ch in value if ch.isdigit()) or "0"
        account = value if by == "account" else _luhn_complete(digits[-9:].rjust(9, "0"))
        customer: dict[str, CustomerValue] = {
            # Derived from what was asked, yet carrying none of its digits: an account
            # number the journey masks must not come back whole in the customer id.
            "id": "SIM-" + sha256(value.encode()).hexdigest()[:6].upper(),
            "name": self.name,
            "tier": self.tier,
            "language": "en",
            "account": account,
            "open_cases": self.open_cases,
        }
        return CrmAnswer(LookupStatus.FOUND, customer, 1, self.took_ms)

    def verify_pin(self, customer_id: str, pin: str) -> PinStatus:
        return PinStatus.VERIFIED if pin == self.pin else PinStatus.WRONG


@dataclass(frozen=True, slots=True)
class NoCrm:
    """Finds no one."""

    took_ms: int = 40

    def lookup(self, by: Literal["phone", "account"], value: str) -> CrmAnswer:
        return CrmAnswer(LookupStatus.NOT_FOUND, took_ms=self.took_ms)

    def verify_pin(self, customer_id: str, pin: str) -> PinStatus:
        return PinStatus.NO_PIN  # nobody is known: nobody has a PIN


@dataclass(frozen=True, slots=True)
class DownCrm:
    """Never answers: every lookup spends the whole budget and is unavailable."""

    budget_ms: int = 300

    def lookup(self, by: Literal["phone", "account"], value: str) -> CrmAnswer:
        return CrmAnswer(LookupStatus.UNAVAILABLE, took_ms=self.budget_ms)

    def verify_pin(self, customer_id: str, pin: str) -> PinStatus:
        return PinStatus.UNAVAILABLE


_QUEUE_ALIASES: Final = {
    "ewt": "ewt_s",
    "longest": "longest_wait_s",
    "longest_wait": "longest_wait_s",
}


def parse_queue(text: str) -> tuple[str, dict[str, QueueValue]]:
    """`billing:ewt=900,available=0` -> ("billing", {"ewt_s": 900, "available": 0, ...}).

    A queue named here is `open` and not `full` unless said otherwise; the fields not
    given are null (unknown). Values: whole numbers, `true`, `false`, `null`. Raises
    `KeyScriptError` with the 1-based column of the mistake."""
    name, colon, rest = text.partition(":")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return _queue_error("a queue name (letters, digits, _) then `:`", 1)
    fields: dict[str, QueueValue] = dict.fromkeys(QUEUE_FIELDS)
    fields.update(open=True, full=False)
    column = len(name) + 2
    if not colon or not rest:
        return _queue_error("after the queue name, `:FIELD=VALUE,...`", column)
    for item in rest.split(","):
        key, equals, value = item.partition("=")
        key = _QUEUE_ALIASES.get(key.strip(), key.strip())
        if key not in QUEUE_FIELDS or not equals:
            choices = ", ".join(("ewt", *QUEUE_FIELDS))
            return _queue_error(f"{item!r}: expected FIELD=VALUE, FIELD one of {choices}", column)
        value = value.strip()
        parsed: QueueValue
        if value in ("true", "false"):
            parsed = value == "true"
        elif value == "null":
            parsed = None
        elif re.fullmatch(r"[0-9]+", value):
            parsed = int(value)
        else:
            return _queue_error(f"{item!r}: a value is a whole number, true, false or null", column)
        fields[key] = parsed
        column += len(item) + 1
    return name, fields


def stale_queue(text: str) -> str | None:
    """`billing:stale` -> "billing": a queue whose shared state is older than the site's
    `queues.state_max_age_s` (AMI lost), which a call reads as unknown; None for any
    other `--queue` text (`parse_queue`'s to judge)."""
    name, colon, rest = text.partition(":")
    if colon and rest.strip() == "stale" and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return name
    return None


def _shown(value: QueueValue) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _queue_error(message: str, column: int) -> tuple[str, dict[str, QueueValue]]:
    raise KeyScriptError(message, column)


class CallbackDesk:
    """The callback store of a simulated call: `number_check` turns what the caller gave
    into the number to call back (E.164) or None when it cannot be called; `ahead` is
    how many callbacks the queue already holds. The default check, with no numbering
    plan at hand, keeps 3 to 15 digits after an optional `+` (`callpop simulate` passes
    the site's: `phonenumbers` with `phone.default_region`)."""

    def __init__(
        self, number_check: Callable[[str], str | None] | None = None, ahead: int = 0
    ) -> None:
        self.number_check = number_check or _plain_number
        self.ahead = ahead
        self.stored: list[CallbackRequest] = []

    def request(self, request: CallbackRequest) -> CallbackRequested:
        number = self.number_check(request.number)
        if number is None:
            return CallbackRequested(CallbackStatus.INVALID_NUMBER, 0)
        self.stored.append(request)
        return CallbackRequested(CallbackStatus.STORED, 0, self.ahead + len(self.stored), number)


def _plain_number(text: str) -> str | None:
    return text if re.fullmatch(r"\+?[0-9]{3,15}", text) else None


# --- the run ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimStep:
    """One thing the engine asked for and how the simulated world answered.

    `action` is `play`, `collect`, `lookup`, `queue-lookup`, `transfer` or `hangup`;
    `event` the answer: `played`, `digits`, `timeout`, `found`, `not_found`,
    `unavailable`, `looked`, `hangup` (the
    caller hung up), or None for the final action."""

    t_ms: int
    flow: str
    node: str
    action: str
    prompts: tuple[PromptText, ...] = ()
    keys: str = ""
    event: str | None = None
    detail: str | None = None
    """A lookup's `by value`, a transfer's target: for people reading along."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "t_ms": self.t_ms,
            "flow": self.flow,
            "node": self.node,
            "action": self.action,
            "prompts": [p.to_dict() for p in self.prompts],
            "keys": self.keys,
            "event": self.event,
        }


@dataclass(frozen=True, slots=True)
class SimOutcome:
    type: Literal["transfer", "hangup"]
    kind: str | None
    target: str | None
    priority: int | None
    variables: Mapping[str, str]
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        target = (
            None
            if self.kind is None
            else {"kind": self.kind, "name": self.target, "priority": self.priority}
        )
        return {"type": self.type, "target": target, "variables": dict(self.variables)}


@dataclass(frozen=True, slots=True)
class Simulation:
    flow: str
    caller: str
    steps: tuple[SimStep, ...]
    outcome: SimOutcome
    journey: Journey
    unused_keys: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The `callpop simulate --json` document (design.md, CLI contract)."""
        return {
            "flow": self.flow,
            "caller": self.caller,
            "steps": [s.to_dict() for s in self.steps],
            "outcome": self.outcome.to_dict(),
            "journey": self.journey.to_dict(),
        }


def simulate(
    flows: Mapping[str, Flow] | CompiledFlows,
    *,
    caller: str,
    keys: KeySource,
    crm: Crm,
    now: datetime,
    flow_id: str = ENTRY_FLOW,
    caller_name: str = "",
    dnis: str = "",
    call_id: str = "simulated-call",
    observer: Callable[[SimStep], None] | None = None,
    queues: Mapping[str, Mapping[str, QueueValue]] | None = None,
    flood: str | None = None,
    callbacks: CallbackDesk | None = None,
    stale: frozenset[str] = frozenset(),
) -> Simulation:
    """Run one call from `CallStarted` to its transfer or hang-up.

    `flows` compiled (`ivr.compile_flow`) once serve many calls; models are compiled
    for this one. `now` is the call's wall-clock time (timezone-aware), used by `hours` nodes;
    `observer` sees every step as it happens (the interactive mode prints them);
    `queues` answer the branches that read `queue.Q.X` (a queue not in it is unknown);
    a queue in `stale` has state too old to trust: unknown too, and shown as such."""
    session = Session(flows, flow_id)
    run = _Run(session, keys, crm, observer, flow_id, queues or {})
    run.stale = stale
    run.flood = flood
    run.callbacks = callbacks or CallbackDesk()
    start = CallStarted(call_id, Caller(caller, caller_name), now, dnis=dnis, at_ms=0)
    outcome = run.drive(start)
    unused = keys.unused if isinstance(keys, ScriptedKeys) else ()
    return Simulation(flow_id, caller, tuple(run.steps), outcome, session.journey, unused)


class _Run:
    def __init__(
        self,
        session: Session,
        keys: KeySource,
        crm: Crm,
        observer: Callable[[SimStep], None] | None,
        flow_id: str,
        queues: Mapping[str, Mapping[str, QueueValue]],
    ) -> None:
        self.queues = queues
        self.stale: frozenset[str] = frozenset()
        self.flood: str | None = None
        self.callbacks = CallbackDesk()
        self.session = session
        self.keys = keys
        self.crm = crm
        self.observer = observer
        self.steps: list[SimStep] = []
        self.t = 0
        self.flow = flow_id
        self.node = ""
        self.points = 0
        self.silent = False

    def record(self, step: SimStep) -> None:
        self.steps.append(step)
        if self.observer is not None:
            self.observer(step)

    def drive(self, first: Event) -> SimOutcome:
        event: Event = first
        for _ in range(MAX_EVENTS):
            actions = self.session.handle(event)
            if isinstance(event, HungUp):
                return self._hung_up()
            if not actions:
                raise SimulationError(f"the session returned no action for {type(event).__name__}")
            for action in actions:
                if isinstance(action, EnterNode):
                    self.flow, self.node = action.flow, action.node
            outcome_or_event = self._carry_out(actions[-1])
            if isinstance(outcome_or_event, SimOutcome):
                return outcome_or_event
            event = outcome_or_event
        raise SimulationError(f"the call did not end after {MAX_EVENTS} events")

    def _carry_out(self, action: Action) -> Event | SimOutcome:
        here = (self.t, self.flow, self.node)
        if isinstance(action, Play):
            self.record(SimStep(*here, "play", _texts(action.prompts), event="played"))
            self.t += spoken_ms(action.prompts)
            return PlayFinished(at_ms=self.t)
        if isinstance(action, Collect):
            return self._collect(action)
        if isinstance(action, Lookup):
            answer = self.crm.lookup(action.by, action.value)
            event = answer.status.value
            if answer.status is LookupStatus.FOUND and answer.customer is None:
                event = f"several ({answer.matches} customers)"  # nobody is picked
            self.record(SimStep(*here, "lookup", event=event, detail=f"{action.by} {action.shown}"))
            self.t += max(0, answer.took_ms)
            return LookupFinished(
                answer.status, self.t, answer.customer, answer.matches, answer.candidates
            )
        if isinstance(action, QueueLookup):
            known = {
                q: self.queues[q] for q in action.queues if q in self.queues and q not in self.stale
            }
            shown = " ".join(
                f"{q}("
                + ",".join(f"{k}={_shown(v)}" for k, v in known[q].items() if v is not None)
                + ")"
                if q in known
                else f"{q}(stale: unknown)"
                if q in self.stale
                else f"{q}(unknown)"
                for q in action.queues
            )
            self.record(SimStep(*here, "queue-lookup", event="looked", detail=shown))
            return QueuesLooked(self.t, known)
        if isinstance(action, CheckPin):
            status = self.crm.verify_pin(action.customer_id, action.pin)
            detail = f"customer {action.customer_id}, PIN {PIN_SHOWN}"
            self.record(SimStep(*here, "pin-check", event=status.value, detail=detail))
            return PinChecked(status, self.t)
        if isinstance(action, FloodLookup):
            shown = "off" if self.flood is None else f"on, message {self.flood}"
            self.record(SimStep(*here, "flood-lookup", event="looked", detail=shown))
            return FloodLooked(self.t, self.flood is not None, self.flood or "")
        if isinstance(action, CallbackRequest):
            asked = self.callbacks.request(action)
            detail = (
                f"{action.queue} {'caller ID' if action.caller_id else 'typed'} {action.number}"
            )
            if asked.position is not None:
                detail += f" -> {asked.number}, position {asked.position}"
            self.record(SimStep(*here, "callback", event=asked.status.value, detail=detail))
            return CallbackRequested(asked.status, self.t, asked.position, asked.number)
        if isinstance(action, Transfer):
            self.record(
                SimStep(
                    *here,
                    "transfer",
                    _texts(action.prompts),
                    detail=f"{action.kind} {action.target}",
                )
            )
            self.t += spoken_ms(action.prompts)
            return SimOutcome(
                "transfer",
                action.kind,
                action.target,
                action.priority,
                dict(action.variables),
                self._reason(),
            )
        if isinstance(action, Hangup):
            self.record(SimStep(*here, "hangup", _texts(action.prompts)))
            self.t += spoken_ms(action.prompts)
            return SimOutcome("hangup", None, None, None, dict(action.variables), self._reason())
        raise SimulationError(f"the session ended a list of actions with {type(action).__name__}")

    def _collect(self, collect: Collect) -> Event:
        self.points += 1
        prompts = _texts(collect.prompts)
        point = ListeningPoint(self.points, self.flow, self.node, prompts, collect)
        token = None if self.silent else self.keys.next_token(point)
        if token is None:
            self.silent = True
            token = SILENCE
        here = (self.t, self.flow, self.node)
        heard = spoken_ms(collect.prompts)
        if token == HANG_UP:
            self.record(SimStep(*here, "collect", prompts, event="hangup"))
            self.t += heard + REACTION_MS
            return HungUp(at_ms=self.t)
        if token == SILENCE:
            self.record(SimStep(*here, "collect", prompts, event="timeout"))
            self.t += heard + collect.timeout_ms
            return DigitsEntered("", at_ms=self.t, timed_out=True)
        digits, timed_out, used = _get_data(token, collect, point)
        # A sensitive entry is masked as the journey masks it (the terminator kept).
        if collect.pin and token not in (SILENCE, HANG_UP):
            shown = PIN_SHOWN + token[len(token.rstrip("#")) :]
        else:
            shown = _masked_keys(token) if collect.sensitive else token
        self.record(
            SimStep(
                *here, "collect", prompts, keys=shown, event="timeout" if timed_out else "digits"
            )
        )
        self.t += heard + REACTION_MS + KEY_GAP_MS * (used - 1)
        if timed_out:
            self.t += collect.interdigit_ms
        return DigitsEntered(digits, at_ms=self.t, timed_out=timed_out)

    def _hung_up(self) -> SimOutcome:
        journey = self.session.journey
        variables = dict(journey.variables)
        return SimOutcome("hangup", None, None, None, variables, self._reason())

    def _reason(self) -> str | None:
        outcome = self.session.journey.outcome
        return outcome.reason if outcome is not None else None


def _texts(prompts: tuple[Spoken, ...]) -> tuple[PromptText, ...]:
    return tuple(_prompt_text(p) for p in prompts)


def _get_data(token: str, collect: Collect, point: ListeningPoint) -> tuple[str, bool, int]:
    """What Asterisk's `GET DATA` returns for keys typed in one go: (digits, timed out,
    keys used). Keys left over once the entry ended are a script mistake: a token
    answers one listening point."""
    digits = ""
    for used, key in enumerate(token, start=1):
        ended = False
        if collect.terminator is not None and key == collect.terminator:
            ended = True
        else:
            digits += key
            ended = len(digits) >= collect.max_digits
        if ended:
            rest = token[used:]
            if rest and rest == collect.terminator:
                # "Enter your 10-digit number, then pound": the habit of pressing the
                # terminator after a full entry. GET DATA has already returned; the key
                # ends nothing and the simulator drops it rather than call it a mistake.
                return digits, False, used + 1
            if rest:
                raise KeyScriptError(
                    f"key token {point.number} {token!r}: {point.node} took {token[:used]!r} and "
                    f"ended the entry, so {token[used:]!r} is left over; give each menu or entry "
                    "its own token (e.g. '1 2' rather than '12')"
                )
            return digits, False, used
    # The caller stopped typing before the entry was complete: the interdigit timeout
    # ends it, with what was typed (AGI `200 result=123 (timeout)`).
    return digits, True, len(token)


# --- the post-call survey ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SurveySimulation:
    """A survey walked after the simulated call (`callpop simulate --survey-keys`):
    `ref` is CALLPOP_SURVEY (`FLOW/NAME`), `end` how it ended (`ivr.survey.SurveyEnd`)."""

    ref: str
    queue: str
    agent: str
    steps: tuple[SimStep, ...]
    answers: tuple[SurveyAnswer, ...]
    end: str
    unused_keys: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "survey": self.ref,
            "queue": self.queue,
            "agent": self.agent,
            "steps": [s.to_dict() for s in self.steps],
            "answers": [
                {"question": a.question, "position": a.position, "score": a.score}
                for a in self.answers
            ],
            "end": self.end,
        }


def simulate_survey(
    flows: Mapping[str, Flow],
    ref: str,
    *,
    keys: KeySource,
    now: datetime,
    queue: str = "",
    agent: str = "",
    call_id: str = "simulated-call",
    observer: Callable[[SimStep], None] | None = None,
) -> SurveySimulation:
    """Walk survey `ref` as the caller would once the agent hung up: each question takes
    the caller's next key token (`w` silence, `h` hang up), as `GET DATA` of one key;
    the engine decides, as `ivr.survey.SurveySession` does under every driver. A
    `FlowError` when the survey is not in `flows`."""
    session = SurveySession(flows, ref)
    steps: list[SimStep] = []
    silent = False
    t = 0
    points = 0

    def record(step: SimStep) -> None:
        steps.append(step)
        if observer is not None:
            observer(step)

    actions = session.handle(CallStarted(call_id, Caller(), now))
    for _ in range(MAX_EVENTS):
        if session.ended and not actions:
            break
        event: DigitsEntered | HungUp | None = None
        for action in actions:
            node = f"survey:{session.name}"
            if isinstance(action, SurveyAnswer):
                record(
                    SimStep(
                        t,
                        session.flow_id,
                        node,
                        "answer",
                        (),
                        str(action.score),
                        "stored",
                        detail=action.question,
                    )
                )
            elif isinstance(action, Hangup):
                record(SimStep(t, session.flow_id, node, "hangup", _texts(action.prompts)))
                t += spoken_ms(action.prompts)
            elif isinstance(action, Collect):
                points += 1
                prompts = _texts(action.prompts)
                point = ListeningPoint(points, session.flow_id, node, prompts, action)
                token = None if silent else keys.next_token(point)
                if token is None:
                    silent = True
                    token = SILENCE
                heard = spoken_ms(action.prompts)
                if token == HANG_UP:
                    record(SimStep(t, session.flow_id, node, "collect", prompts, event="hangup"))
                    t += heard + REACTION_MS
                    event = HungUp(at_ms=t)
                elif token == SILENCE:
                    record(SimStep(t, session.flow_id, node, "collect", prompts, event="timeout"))
                    t += heard + action.timeout_ms
                    event = DigitsEntered("", at_ms=t, timed_out=True)
                else:
                    digits, timed_out, _ = _get_data(token, action, point)
                    record(
                        SimStep(
                            t, session.flow_id, node, "collect", prompts, keys=token, event="digits"
                        )
                    )
                    t += heard + REACTION_MS
                    event = DigitsEntered(digits, at_ms=t, timed_out=timed_out)
        if event is None:
            break
        actions = session.handle(event)
    else:
        raise SimulationError(f"the survey did not end after {MAX_EVENTS} events")
    unused = keys.unused if isinstance(keys, ScriptedKeys) else ()
    return SurveySimulation(
        ref, queue, agent, tuple(steps), tuple(session.answers), session.end or "hangup", unused
    )
