"""A flow as calls walk it: the checked flow model (`ivr.flow`) compiled to plain frozen
values (`ivr.compile_flow` does it), which the engine reads and nothing else.

`ivr.flow` is the model a flow file is validated against (pydantic): every field's
rules, the shorthands, the JSON schema, what the linter and the editor read. Calls
need none of that: the values, checked once. Here each class has the same name, the
same fields and the same derived properties as its model, so the engine reads a
compiled flow as it would the model, without pydantic loaded: the classic AGI script,
a process per call, reads these from its cache (`callpop.flow_cache`) and runs them.

Immutable, as the model: a `Session` holds the flows it started on, so an edit or a
reload never changes a live call's tree. Nothing here validates: values come from the
model, already valid (tests/ivr/test_callflow.py checks every model class has its
compiled form, field for field).

Named tuples, not dataclasses: a process per call defines these classes on every call,
and a named tuple class is made in a few microseconds where a frozen dataclass takes
about a millisecond (its methods are generated and compiled when the module is
imported). For the same reason the annotations are evaluated (no `from __future__
import annotations`): `NamedTuple` compiles each annotation given as a string. The one thing a tuple adds, equality with any tuple of the same values, the
engine never uses: it reads fields and tells nodes apart by class.
"""

from collections.abc import Mapping
from datetime import date
from typing import Final, Literal, NamedTuple

__all__ = [
    "ENTRY_FLOW",
    "BranchCase",
    "BranchNode",
    "CallbackNode",
    "Confirm",
    "DateRange",
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
    "MenuLimits",
    "MenuNode",
    "Node",
    "Option",
    "OverflowNode",
    "PinNode",
    "PlayNode",
    "Prompt",
    "Settings",
    "Survey",
    "SurveyQuestion",
    "TransferNode",
    "Validation",
    "VoicemailNode",
    "WaitNode",
    "Weekly",
    "keys_in_use",
    "transfer_to",
]

# The flow a call starts in when the dialplan names none (`ivr`, `Stasis(callpop)`),
# and the one `callpop lint` and the reports begin from: `dialplan/flows/main.yaml`.
ENTRY_FLOW: Final = "main"


class Prompt(NamedTuple):
    sound: str | None = None
    digits: str | None = None
    number: str | None = None
    text: str | None = None


Prompts = tuple[Prompt, ...]


class Option(NamedTuple):
    goto: str
    topic: str | None
    label: str | None
    when: str | None
    prompts: Prompts


class DirectDial(NamedTuple):
    pattern: str
    min_digits: int
    max_digits: int
    interdigit_timeout: int


class Limit(NamedTuple):
    value: int
    reason: str


class MenuLimits(NamedTuple):
    max_options: Limit


class Limits(NamedTuple):
    max_depth: Limit | None
    max_options: Limit | None


class MenuNode(NamedTuple):
    type: Literal["menu"]
    description: str | None
    label: str | None
    prompts: Prompts
    timeout: int | None
    max_invalid: int | None
    max_timeouts: int | None
    invalid_prompts: Prompts | None
    timeout_prompts: Prompts | None
    on_failure: str | None
    options: Mapping[str, Option]
    direct_dial: DirectDial | None
    topic: str | None
    limits: MenuLimits | None

    def conditional(self) -> dict[str, Option]:
        """The options offered only when their `when:` holds, by key."""
        return {key: option for key, option in self.options.items() if option.when is not None}


class Validation(NamedTuple):
    pattern: str | None
    luhn: bool
    min_value: int | None
    max_value: int | None


class Confirm(NamedTuple):
    prompts: Prompts
    yes: str
    no: str


class InputNode(NamedTuple):
    type: Literal["input"]
    description: str | None
    label: str | None
    prompts: Prompts
    timeout: int | None
    max_invalid: int | None
    max_timeouts: int | None
    invalid_prompts: Prompts | None
    timeout_prompts: Prompts | None
    on_failure: str | None
    variable: str
    min_digits: int
    max_digits: int
    terminator: str | None
    interdigit_timeout: int | None
    validate_: Validation | None
    confirm: Confirm | None
    sensitive: bool
    next: str


class LookupNode(NamedTuple):
    type: Literal["lookup"]
    description: str | None
    label: str | None
    by: Literal["caller", "account"]
    variable: str | None
    prompts: Prompts
    found: str
    not_found: str
    several: str | None
    unavailable: str | None


class BranchCase(NamedTuple):
    when: str
    goto: str


class BranchNode(NamedTuple):
    type: Literal["branch"]
    description: str | None
    label: str | None
    cases: tuple[BranchCase, ...]
    default: str


class DateRange(NamedTuple):
    first: date
    last: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}..{self.last}"


Weekly = Mapping[str, str | tuple[str, ...]]


class HoursNode(NamedTuple):
    type: Literal["hours"]
    description: str | None
    label: str | None
    schedule: str | None
    timezone: str | None
    weekly: Weekly | None
    holidays: tuple[DateRange, ...]
    open: str
    closed: str
    holiday: str | None

    def hours(self) -> tuple[str, Weekly]:
        """(timezone, weekly), or ValueError for a schedule `schedules.yaml` lacks."""
        if self.timezone is None or self.weekly is None:
            raise ValueError(f"schedule {self.schedule!r} is not defined in schedules.yaml")
        return self.timezone, self.weekly


class PlayNode(NamedTuple):
    type: Literal["play"]
    description: str | None
    label: str | None
    prompts: Prompts
    next: str
    interruptible: bool


class TransferNode(NamedTuple):
    type: Literal["transfer"]
    description: str | None
    label: str | None
    queue: str | None
    extension: str | None
    agent: str | None
    priority: int
    topic: str | None
    prompts: Prompts
    survey: str | None

    @property
    def kind(self) -> Literal["queue", "extension", "agent"]:
        return transfer_to(self.queue, self.extension, self.agent)[0]

    @property
    def target(self) -> str:
        return transfer_to(self.queue, self.extension, self.agent)[1]


class VoicemailNode(NamedTuple):
    type: Literal["voicemail"]
    description: str | None
    label: str | None
    mailbox: str
    prompts: Prompts


class HangupNode(NamedTuple):
    type: Literal["hangup"]
    description: str | None
    label: str | None
    prompts: Prompts


class WaitNode(NamedTuple):
    type: Literal["wait"]
    description: str | None
    label: str | None
    queue: str
    prompts: Prompts
    next: str
    unknown: str | None


class CallbackNode(NamedTuple):
    type: Literal["callback"]
    description: str | None
    label: str | None
    queue: str
    offer_above: int
    accept: str
    offer_prompts: Prompts
    number_prompts: Prompts
    typed_number_prompts: Prompts
    invalid_number_prompts: Prompts
    done_prompts: Prompts
    max_attempts: int
    timeout: int | None
    declined: str
    then: str | None


class OverflowNode(NamedTuple):
    type: Literal["overflow"]
    description: str | None
    label: str | None
    queue: str
    max_waiting: int | None
    max_wait: int | None
    to: str
    next: str


class FloodNode(NamedTuple):
    type: Literal["flood"]
    description: str | None
    label: str | None
    messages: Mapping[str, Prompts]
    next: str
    normal: str
    interruptible: bool


class PinNode(NamedTuple):
    type: Literal["pin"]
    description: str | None
    label: str | None
    prompts: Prompts
    min_digits: int
    max_digits: int
    terminator: str | None
    timeout: int | None
    interdigit_timeout: int | None
    max_attempts: int
    wrong_prompts: Prompts
    verified: str
    failed: str
    no_pin: str | None
    unavailable: str | None


class GotoNode(NamedTuple):
    type: Literal["goto"]
    description: str | None
    label: str | None
    flow: str | None
    node: str | None


Node = (
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
    | PinNode
)


class GlobalKeys(NamedTuple):
    operator: str | None
    back: str | None
    repeat: str | None


class Settings(NamedTuple):
    language: str
    timeout: int
    interdigit_timeout: int
    max_invalid: int
    max_timeouts: int
    invalid_prompts: Prompts
    timeout_prompts: Prompts
    keys: GlobalKeys
    operator: str | None
    operator_queue: str
    agent_after_failures: int | None
    max_repeats: int
    max_steps: int


class SurveyQuestion(NamedTuple):
    id: str
    label: str | None
    prompts: Prompts


class Survey(NamedTuple):
    label: str | None
    description: str | None
    intro_prompts: Prompts
    questions: tuple[SurveyQuestion, ...]
    timeout: int | None
    max_invalid: int | None
    max_timeouts: int | None
    invalid_prompts: Prompts | None
    timeout_prompts: Prompts | None
    thanks_prompts: Prompts


class Flow(NamedTuple):
    id: str
    description: str | None
    entry: str
    settings: Settings
    limits: Limits
    nodes: Mapping[str, Node]
    surveys: Mapping[str, Survey]

    def global_keys(self) -> frozenset[str]:
        return keys_in_use(
            self.settings.keys.operator, self.settings.keys.back, self.settings.keys.repeat
        )


# What the model (`ivr.flow`) and its compiled form both derive from their fields.


def transfer_to(
    queue: str | None, extension: str | None, agent: str | None
) -> tuple[Literal["queue", "extension", "agent"], str]:
    """A transfer's kind and target: the one of queue, extension or agent it names."""
    if queue is not None:
        return "queue", queue
    if extension is not None:
        return "extension", extension
    assert agent is not None
    return "agent", agent


def keys_in_use(*keys: str | None) -> frozenset[str]:
    """The global keys a flow's settings enable (a key set to null is disabled)."""
    return frozenset(key for key in keys if key is not None)
