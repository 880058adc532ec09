"""The flow model: what `dialplan/flows/NAME.yaml` means once loaded.

Every model is frozen: a `Session` holds the `Flow` it started with, so a flow file
edited (or reloaded) mid-call never changes a live call's tree. Validation here is
per field and per node; whole-flow checks (dangling targets, the 4x4 rule, loops)
are lint rules in `ivr.lint`, so a flow with a dangling target still loads and the
admin gets every finding at once instead of the first.

The YAML shape is documented in docs/dialplan.md; `dialplan/schema/flow.json` is
generated from these models (`callpop lint --schema`).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ivr import callflow

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_OPTIONS",
    "ENTRY_FLOW",
    "BranchCase",
    "BranchNode",
    "CallbackNode",
    "Confirm",
    "DirectDial",
    "FloodNode",
    "Flow",
    "GlobalKeys",
    "GotoNode",
    "HangupNode",
    "HoursNode",
    "InputNode",
    "Limit",
    "Limits",
    "LookupNode",
    "MenuNode",
    "Node",
    "Option",
    "OverflowNode",
    "PinNode",
    "PlayNode",
    "Prompt",
    "ScheduleName",
    "Settings",
    "Survey",
    "SurveyQuestion",
    "TransferNode",
    "Validation",
    "VoicemailNode",
    "WaitNode",
    "Weekly",
    "parse_duration",
]

# The flow a call starts in when the dialplan names none (`ivr`, `Stasis(callpop)`),
# and the one `callpop lint` and the reports begin from: `dialplan/flows/main.yaml`.
ENTRY_FLOW: Final = callflow.ENTRY_FLOW

# The 4x4 rule (design.md): callers accept at most 4 menu levels of at most 4 choices.
DEFAULT_MAX_DEPTH = 4
DEFAULT_MAX_OPTIONS = 4

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


def parse_duration(value: Any) -> int:
    """A duration in milliseconds from `5s`, `1500ms`, `2m`, or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as 5s or 1500ms")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return round(value * 1000)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            number = float(m.group(1))
            unit = m.group(2) or "s"
            factor = {"ms": 1, "s": 1000, "m": 60_000}[unit]
            return round(number * factor)
    raise ValueError(f"bad duration {value!r}: write it as 5s, 1500ms or 2m")


def _key_to_str(value: Any) -> Any:
    # YAML reads an unquoted option key 1 as an integer; a key is a phone key, always text.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Duration = Annotated[int, BeforeValidator(parse_duration)]
"""Milliseconds, written in YAML as `5s`, `1500ms`, `2m` or a number of seconds."""

NodeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
FlowId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
VariableName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
# Sound names go into AGI commands and ARI URLs: keep them to what Asterisk sound files use.
SoundName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,127}$")]
Key = Annotated[str, BeforeValidator(_key_to_str)]
Topic = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
SurveyName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
QuestionId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


class Prompt(_Model):
    """One thing the caller hears: a sound file, or digits/a number said by Asterisk.

    `text` is what the recording says; the simulator prints it, the diagram shows it
    and `lint --sounds` lists the recordings a site must make. `digits` and `number`
    are templates such as `{vars.account}`, filled when the prompt plays.
    """

    sound: SoundName | None = None
    digits: str | None = None
    number: str | None = None
    text: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"sound": data}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Prompt:
        given = [k for k in ("sound", "digits", "number") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a prompt has exactly one of sound, digits or number")
        return self


Prompts = tuple[Prompt, ...]


class Option(_Model):
    """A menu choice: the key's target, and the topic it means for the agent's script."""

    goto: NodeId
    topic: Topic | None = None
    label: str | None = None
    when: str | None = Field(
        default=None,
        description="offered only when this condition holds, e.g. customer.open_cases > 0",
    )
    prompts: Prompts = Field(
        default=(), description="heard after the menu's prompts when the option is offered"
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"goto": data}
        return data


class DirectDial(_Model):
    """Callers who know an extension may dial it from the menu instead of choosing."""

    pattern: str = Field(description="regular expression the whole entry must match")
    min_digits: int = Field(ge=2, le=12)
    max_digits: int = Field(ge=2, le=12)
    interdigit_timeout: Duration = 2000

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _lengths(self) -> DirectDial:
        if self.min_digits > self.max_digits:
            raise ValueError("min_digits is greater than max_digits")
        return self


class _NodeBase(_Model):
    description: str | None = None
    label: str | None = Field(default=None, description="short name for diagrams and the panel")


class _Listening(_NodeBase):
    """Shared by nodes that wait for keys: counters for invalid entries and timeouts are
    separate and named, each with its own prompts and its own limit."""

    prompts: Prompts = Field(min_length=1)
    timeout: Duration | None = None
    max_invalid: int | None = Field(default=None, ge=1, le=9)
    max_timeouts: int | None = Field(default=None, ge=1, le=9)
    invalid_prompts: Prompts | None = None
    timeout_prompts: Prompts | None = None
    on_failure: NodeId | None = Field(
        default=None, description="where to go when a counter runs out (default: the operator)"
    )


class MenuNode(_Listening):
    type: Literal["menu"]
    options: dict[Key, Option] = Field(min_length=1)
    direct_dial: DirectDial | None = None
    topic: Topic | None = None
    limits: MenuLimits | None = Field(
        default=None, description="this menu's own 4x4 limit, raised with a reason"
    )

    def conditional(self) -> dict[str, Option]:
        """The options offered only when their `when:` holds, by key."""
        return {key: option for key, option in self.options.items() if option.when is not None}


class Validation(_Model):
    pattern: str | None = None
    luhn: bool = False
    min_value: int | None = None
    max_value: int | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
        return value


class Confirm(_Model):
    """Read the entry back and ask the caller to confirm it (`{digits}` in a prompt)."""

    prompts: Prompts = Field(min_length=1)
    yes: Key = "1"
    no: Key = "2"


class InputNode(_Listening):
    type: Literal["input"]
    variable: VariableName
    min_digits: int = Field(default=1, ge=1, le=32)
    max_digits: int = Field(default=16, ge=1, le=32)
    terminator: Key | None = "#"
    interdigit_timeout: Duration | None = None
    validate_: Validation | None = Field(default=None, alias="validate")
    confirm: Confirm | None = None
    sensitive: bool = Field(default=False, description="mask the digits in journeys and logs")
    next: NodeId

    @model_validator(mode="after")
    def _lengths(self) -> InputNode:
        if self.min_digits > self.max_digits:
            raise ValueError("min_digits is greater than max_digits")
        return self


class LookupNode(_NodeBase):
    """Ask the CRM, then branch on what it said. `by: caller` looks the caller's number
    up; `by: account` looks up the digits an input node stored in `variable`. Found
    means exactly one customer; several customers sharing the number go to `several`
    (e.g. an account step), or are routed as unknown (`not_found`)."""

    type: Literal["lookup"]
    by: Literal["caller", "account"] = "caller"
    variable: VariableName | None = None
    prompts: Prompts = ()
    found: NodeId
    not_found: NodeId
    several: NodeId | None = Field(
        default=None,
        description="when several customers match, e.g. an account step (default: not_found)",
    )
    unavailable: NodeId | None = Field(
        default=None, description="when the CRM is slow or down (default: not_found)"
    )

    @model_validator(mode="after")
    def _variable(self) -> LookupNode:
        if self.by == "account" and self.variable is None:
            raise ValueError("a lookup by account needs the variable that holds the account")
        return self


class BranchCase(_Model):
    when: str = Field(description='a condition, e.g. customer.tier == "vip"')
    goto: NodeId


class BranchNode(_NodeBase):
    type: Literal["branch"]
    cases: tuple[BranchCase, ...] = Field(min_length=1)
    default: NodeId


class DateRange(_Model):
    """Holidays from `first` to `last`, both included. In a flow file: a date
    (`2026-12-25`), a range (`2026-12-24..2026-12-26`) or `{from: ..., to: ...}`."""

    first: date
    last: date

    @model_validator(mode="before")
    @classmethod
    def _forms(cls, data: Any) -> Any:
        if isinstance(data, date):
            return {"first": data, "last": data}
        if isinstance(data, dict) and set(data) == {"from", "to"}:
            return {"first": _day(data["from"]), "last": _day(data["to"])}
        if isinstance(data, str):
            first, dots, last = data.partition("..")
            return {"first": _day(first), "last": _day(last if dots else first)}
        return data

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.last < self.first:
            raise ValueError(f"the range ends ({self.last}) before it starts ({self.first})")
        if (self.last - self.first).days > 366:
            raise ValueError("a holiday range spans at most a year: check the dates")
        return self

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}..{self.last}"


def _day(value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(
            f"{str(value).strip()!r} is not a date: write 2026-12-25, or a range "
            "2026-12-24..2026-12-26"
        ) from None


ScheduleName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Weekly = dict[str, str | tuple[str, ...]]
_INLINE_HOURS: tuple[str, ...] = ("timezone", "weekly", "holidays")


class HoursNode(_NodeBase):
    """Open or closed from the call's local time: weekly hours per day, holidays closed.

    Either `schedule: NAME` (a schedule of `schedules.yaml`, shared by every node
    that names it) or the node's own `timezone`, `weekly` and `holidays`, never both.
    `weekly` maps day names or ranges (`mon`, `mon-fri`, `sat`) to one or more
    `HH:MM-HH:MM` spans; days not named are closed.

    Loading a dialplan copies a named schedule's fields into the node (keeping
    `schedule`), so the engine, the simulator and reach read `timezone`, `weekly`
    and `holidays` the same way for both forms; they are None only when the name
    is not in `schedules.yaml` (lint: unknown-schedule).
    """

    type: Literal["hours"]
    schedule: ScheduleName | None = Field(default=None, description="a schedule of schedules.yaml")
    timezone: str | None = None
    weekly: Weekly | None = None
    holidays: tuple[DateRange, ...] = Field(
        default=(), description="dates (2026-12-25) or ranges (2026-12-24..2026-12-26), closed"
    )
    open: NodeId
    closed: NodeId
    holiday: NodeId | None = Field(default=None, description="default: closed")

    @model_validator(mode="after")
    def _one_form(self) -> HoursNode:
        inline = [name for name in _INLINE_HOURS if name in self.model_fields_set]
        if self.schedule is not None and inline:
            raise ValueError(
                f"an hours node names a schedule or has its own {', '.join(inline)}, not both: "
                f"remove {', '.join(inline)} (they belong in schedules.yaml) or remove schedule"
            )
        if self.schedule is None:
            missing = [name for name in ("timezone", "weekly") if getattr(self, name) is None]
            if missing:
                raise ValueError(
                    f"an hours node needs schedule: NAME (from schedules.yaml) or its own "
                    f"timezone and weekly; {' and '.join(missing)} missing"
                )
        return self

    def hours(self) -> tuple[str, Weekly]:
        """(timezone, weekly), or ValueError when the node names a schedule that
        `schedules.yaml` does not define (so loading could not fill them in)."""
        if self.timezone is None or self.weekly is None:
            raise ValueError(f"schedule {self.schedule!r} is not defined in schedules.yaml")
        return self.timezone, self.weekly


class PlayNode(_NodeBase):
    type: Literal["play"]
    prompts: Prompts = Field(min_length=1)
    next: NodeId
    interruptible: bool = Field(
        default=True, description="a key stops the announcement (and is kept as type-ahead)"
    )


class TransferNode(_NodeBase):
    type: Literal["transfer"]
    queue: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    extension: str | None = Field(default=None, pattern=r"^[0-9*#+]{1,32}$")
    agent: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_./@-]{1,128}$")
    priority: int = Field(default=0, ge=0, le=100)
    topic: Topic | None = None
    prompts: Prompts = ()
    survey: SurveyName | None = Field(
        default=None,
        description="a survey of this flow's `surveys:`, heard after the agent hangs up "
        "(queue transfers only)",
    )

    @model_validator(mode="after")
    def _one_target(self) -> TransferNode:
        given = [k for k in ("queue", "extension", "agent") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a transfer has exactly one of queue, extension or agent")
        return self

    @property
    def kind(self) -> Literal["queue", "extension", "agent"]:
        return callflow.transfer_to(self.queue, self.extension, self.agent)[0]

    @property
    def target(self) -> str:
        return callflow.transfer_to(self.queue, self.extension, self.agent)[1]


class VoicemailNode(_NodeBase):
    type: Literal["voicemail"]
    mailbox: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}(@[A-Za-z0-9_.-]{1,64})?$")
    prompts: Prompts = ()


class HangupNode(_NodeBase):
    type: Literal["hangup"]
    prompts: Prompts = ()


QueueName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
MessageName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]


def _prompts(*pairs: tuple[str, str]) -> Prompts:
    return tuple(Prompt(sound=sound, text=text) for sound, text in pairs)


class WaitNode(_NodeBase):
    """Announce a queue's estimated wait, rounded as callers hear it (docs/dialplan.md,
    "Announcing the wait"): reads the queue's state within the lookup budget, says
    `prompts` then the rounded minutes with Asterisk's own queue sounds, and goes on to
    `next`. With no estimate (the queue unknown, closed, or its state unreadable) it says
    nothing and goes to `unknown` (default: `next`)."""

    type: Literal["wait"]
    queue: QueueName
    prompts: Prompts = _prompts(("queue-holdtime", "The estimated hold time is currently"))
    next: NodeId
    unknown: NodeId | None = Field(default=None, description="no estimate (default: next)")


class CallbackNode(_NodeBase):
    """Offer a callback that keeps the caller's place when the queue's estimated wait is
    above `offer_above`. The caller accepts with `accept`, hears the caller ID and
    confirms it with `#` alone (or `accept`), or types another number ending with `#`
    (`typed_number_prompts` ask for one when the caller ID is withheld); the services validate the
    number for the site's region and store the request, and the caller hears their
    position in the queue's callbacks. Otherwise (wait below the threshold or unknown,
    offer declined, no valid number after `max_attempts`, the store unavailable) the
    call goes to `declined`, e.g. the transfer to the queue."""

    type: Literal["callback"]
    queue: QueueName
    offer_above: Duration = Field(description="offer when the estimated wait is above this")
    accept: Key = "1"
    offer_prompts: Prompts = _prompts(
        (
            "callpop/callback-offer",
            "To be called back when an agent is free, without losing "
            "your place, press 1. To keep waiting, press 2.",
        ),
    )
    number_prompts: Prompts = (
        Prompt(sound="callpop/callback-on", text="To be called back on"),
        Prompt(digits="{caller.number}"),
        Prompt(
            sound="callpop/callback-confirm",
            text="press the pound key. To give another number, type it now, then press the "
            "pound key.",
        ),
    )
    typed_number_prompts: Prompts = _prompts(
        (
            "callpop/callback-type-number",
            "Please type the number to call you back on, then press the pound key.",
        ),
    )
    invalid_number_prompts: Prompts = _prompts(
        ("callpop/callback-bad-number", "That number cannot be called back."),
    )
    done_prompts: Prompts = _prompts(
        ("callpop/callback-booked", "Thank you. We will call you back. Your place in line is"),
    )
    max_attempts: int = Field(default=2, ge=1, le=5)
    timeout: Duration | None = None
    declined: NodeId
    then: NodeId | None = Field(
        default=None, description="after the request is stored (default: goodbye, hang up)"
    )


class OverflowNode(_NodeBase):
    """Send the caller to `to` when a queue is closed or over capacity, otherwise on to
    `next`: closed is `open == false` or no agent logged in; over capacity is `full`, or
    no agent available with `max_waiting` callers already waiting, or an estimated
    wait above `max_wait`. Unknown state (unreadable, never seen) goes to `next`: the
    queue itself is the safe default. Outside opening hours is an `hours` node's job."""

    type: Literal["overflow"]
    queue: QueueName
    max_waiting: int | None = Field(default=None, ge=1, le=10_000)
    max_wait: Duration | None = None
    to: NodeId
    next: NodeId


class FloodNode(_NodeBase):
    """While an admin has flood mode on (`callpop flood on --message NAME`), play that
    message's prompts first and go to `next` (self-service); when it is off, or on with a
    message this node has no prompts for, go to `normal`. The switch is read through the
    services within the lookup budget (the last value read when the database is slow)."""

    type: Literal["flood"]
    messages: dict[MessageName, Prompts] = Field(min_length=1)
    next: NodeId
    normal: NodeId
    interruptible: bool = True


class PinNode(_NodeBase):
    """Check the caller's PIN with the CRM, for the customer identified so far (by the
    caller ID or an account: a lookup before this node). The digits are a sensitive
    entry: they go to the CRM adapter and nowhere else (the journey shows `****`); the
    flow file never holds a PIN to compare with. A right PIN verifies the caller
    (identity `pin`, `CALLPOP_VERIFIED=1`) and goes to `verified`. A wrong one is asked
    again after `wrong_prompts`, up to `max_attempts` entries (timeouts count), then
    `failed`; so does a customer the CRM has locked after too many wrong PINs, and a
    call with no customer identified (asked nothing). `no_pin` (the customer has none)
    and `unavailable` (the CRM failed) default to `failed`."""

    type: Literal["pin"]
    prompts: Prompts = Field(min_length=1)
    min_digits: int = Field(default=4, ge=4, le=12)
    max_digits: int = Field(default=8, ge=4, le=12)
    terminator: Key | None = "#"
    timeout: Duration | None = None
    interdigit_timeout: Duration | None = None
    max_attempts: int = Field(default=3, ge=1, le=5)
    wrong_prompts: Prompts = _prompts(("callpop/pin-wrong", "That PIN is not correct."))
    verified: NodeId
    failed: NodeId
    no_pin: NodeId | None = Field(
        default=None, description="the customer has no PIN (default: failed)"
    )
    unavailable: NodeId | None = Field(
        default=None, description="the CRM could not check it (default: failed)"
    )

    @model_validator(mode="after")
    def _lengths(self) -> PinNode:
        if self.min_digits > self.max_digits:
            raise ValueError("min_digits is greater than max_digits")
        return self


class GotoNode(_NodeBase):
    """Jump to a node of this flow or to another flow (its entry, or a named node)."""

    type: Literal["goto"]
    flow: FlowId | None = None
    node: NodeId | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> GotoNode:
        if self.flow is None and self.node is None:
            raise ValueError("a goto names a flow, a node, or both")
        return self


Node = Annotated[
    MenuNode
    | InputNode
    | LookupNode
    | BranchNode
    | HoursNode
    | PlayNode
    | TransferNode
    | VoicemailNode
    | HangupNode
    | GotoNode
    | WaitNode
    | CallbackNode
    | OverflowNode
    | FloodNode
    | PinNode,
    Field(discriminator="type"),
]

NODE_KINDS = (
    "menu",
    "input",
    "lookup",
    "branch",
    "hours",
    "play",
    "transfer",
    "voicemail",
    "hangup",
    "goto",
    "wait",
    "callback",
    "overflow",
    "flood",
    "pin",
)


# --- post-call surveys ------------------------------------------------------------------


# Callers hang up on long surveys: at most this many questions (lint: survey-questions).
MAX_SURVEY_QUESTIONS: Final = 5


class SurveyQuestion(_Model):
    """One question, answered with one key from 1 (worst) to 5 (best); `id` names it in
    the stored answers and the report."""

    id: QuestionId
    label: str | None = Field(default=None, description="short name for the report")
    prompts: Prompts = Field(min_length=1)


class Survey(_Model):
    """A post-call survey: after the agent hangs up, the caller (still on the line) is
    asked each question in turn. A key 1-5 is the answer, stored at once (a caller who
    hangs up midway keeps the answers given); another key is invalid and a silence a
    timeout, each counted per question with its own prompts and limit, as in a menu;
    a counter that runs out ends the survey. `thanks_prompts` close it."""

    label: str | None = None
    description: str | None = None
    intro_prompts: Prompts = Field(default=(), description="heard once, before the first question")
    questions: tuple[SurveyQuestion, ...] = Field(min_length=1)
    timeout: Duration | None = None
    max_invalid: int | None = Field(default=None, ge=1, le=9)
    max_timeouts: int | None = Field(default=None, ge=1, le=9)
    invalid_prompts: Prompts | None = None
    timeout_prompts: Prompts | None = None
    thanks_prompts: Prompts = _prompts(
        ("auth-thankyou", "Thank you."),
        ("goodbye", "Goodbye."),
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> Survey:
        seen: set[str] = set()
        for question in self.questions:
            if question.id in seen:
                raise ValueError(f"two questions have the id {question.id!r}: give each its own")
            seen.add(question.id)
        return self


class GlobalKeys(_Model):
    """Keys that work in every menu and do not count as business options; null disables."""

    operator: Key | None = "0"
    back: Key | None = "*"
    repeat: Key | None = "#"


class Settings(_Model):
    language: str = Field(default="en", pattern=r"^[a-z]{2}(_[A-Za-z]{2})?$")
    timeout: Duration = 5000
    interdigit_timeout: Duration = 3000
    max_invalid: int = Field(default=3, ge=1, le=9)
    max_timeouts: int = Field(default=3, ge=1, le=9)
    invalid_prompts: Prompts = (
        Prompt(sound="pm-invalid-option", text="That is not a valid option."),
    )
    timeout_prompts: Prompts = ()
    keys: GlobalKeys = GlobalKeys()
    operator: NodeId | None = Field(
        default=None, description="node the operator key and every give-up lead to"
    )
    operator_queue: str = Field(
        default="operator",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="queue used when no operator node is named",
    )
    agent_after_failures: int | None = Field(
        default=None, ge=1, le=20, description="total failed entries in a call before the operator"
    )
    max_repeats: int = Field(default=3, ge=1, le=20)
    max_steps: int = Field(default=50, ge=5, le=500)


class Limit(_Model):
    """A raised 4x4 limit; the reason is mandatory so the exception is argued in the file."""

    value: int = Field(ge=1, le=12)
    reason: str = Field(min_length=10)


class MenuLimits(_Model):
    """A menu's own limit: raising it for one menu leaves every other menu at the file's."""

    max_options: Limit


class Limits(_Model):
    max_depth: Limit | None = None
    max_options: Limit | None = None

    @property
    def depth(self) -> int:
        return self.max_depth.value if self.max_depth else DEFAULT_MAX_DEPTH

    @property
    def options(self) -> int:
        return self.max_options.value if self.max_options else DEFAULT_MAX_OPTIONS


class Flow(_Model):
    """One IVR flow; its id is the file stem (`main` is the entry flow)."""

    id: FlowId = ENTRY_FLOW
    description: str | None = None
    entry: NodeId
    settings: Settings = Settings()
    limits: Limits = Limits()
    nodes: dict[NodeId, Node] = Field(min_length=1)
    surveys: dict[SurveyName, Survey] = Field(
        default_factory=dict,
        description="post-call surveys, named by a queue transfer's `survey:`",
    )

    def global_keys(self) -> frozenset[str]:
        keys = self.settings.keys
        return callflow.keys_in_use(keys.operator, keys.back, keys.repeat)
