"""What a `Session` asks its driver to do: the engine's outputs.

`Session.handle(event)` returns a list of actions. Notifications (`EnterNode`,
`SetVariables`) need no answer; the list then ends with exactly one action that
waits for an event (`Play` -> `PlayFinished`, `Collect` -> `DigitsEntered`,
`Lookup` -> `LookupFinished`, `QueueLookup` -> `QueuesLooked`, `CallbackRequest` ->
`CallbackRequested`, `FloodLookup` -> `FloodLooked`, `CheckPin` -> `PinChecked`) or with a final one (`Transfer`, `Hangup`).
Prompts here are resolved: templates are filled, nothing is left to the driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from ivr.journey import mask

__all__ = [
    "PIN_SHOWN",
    "Action",
    "CallbackRequest",
    "CheckPin",
    "Collect",
    "EnterNode",
    "FloodLookup",
    "Hangup",
    "Lookup",
    "Play",
    "QueueLookup",
    "SayDigits",
    "SayNumber",
    "SetVariables",
    "Sound",
    "Spoken",
    "Transfer",
    "TransferKind",
]

TransferKind = Literal["queue", "extension", "agent", "voicemail"]

PIN_SHOWN: Final = "****"
"""A PIN wherever text shows it (journeys, traces, the simulator): not even its length."""


@dataclass(frozen=True, slots=True)
class Sound:
    """An Asterisk sound file, by name without extension."""

    name: str
    text: str | None = None


@dataclass(frozen=True, slots=True, repr=False)
class SayDigits:
    """Digits read one by one (AGI `SAY DIGITS`, ARI `digits:`). `sensitive`: they are
    a masked entry read back: the caller hears them, traces and logs show `shown`."""

    digits: str
    sensitive: bool = False

    @property
    def shown(self) -> str:
        """The digits as text may show them (`ivr.journey.mask` when sensitive)."""
        return mask(self.digits) if self.sensitive else self.digits

    def __repr__(self) -> str:  # logs and tracebacks show actions
        if self.sensitive:
            return f"SayDigits(digits={self.shown!r}, sensitive=True)"
        return f"SayDigits(digits={self.digits!r})"

    def __post_init__(self) -> None:
        if not self.digits.isdigit():
            raise ValueError(f"SayDigits takes digits only, got {self.digits!r}")


@dataclass(frozen=True, slots=True)
class SayNumber:
    """A number read as a number (AGI `SAY NUMBER`, ARI `number:`)."""

    number: int


Spoken = Sound | SayDigits | SayNumber


@dataclass(frozen=True, slots=True)
class EnterNode:
    """The call entered a node (the wallboard's "calls by node")."""

    flow: str
    node: str
    kind: str


@dataclass(frozen=True, slots=True)
class SetVariables:
    """Channel variables to set now (name, value); names are `CALLPOP_*`."""

    variables: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Play:
    """Play prompts. If `interruptible`, the first key stops playback and is reported."""

    prompts: tuple[Spoken, ...]
    interruptible: bool = True


@dataclass(frozen=True, slots=True)
class Collect:
    """Play prompts (a key stops them and counts as the first digit), then collect digits.

    Input ends at `max_digits`, at the `terminator` (dropped), after `timeout_ms` with
    no first key, or after `interdigit_ms` between keys. With `max_digits == 1` and no
    terminator every key, `#` included, is an answer.
    """

    prompts: tuple[Spoken, ...]
    max_digits: int
    timeout_ms: int
    interdigit_ms: int
    terminator: str | None = None
    min_digits: int = 1
    sensitive: bool = False
    """The digits answered are a masked entry: nothing but the engine may show them."""
    pin: bool = False
    """The digits answered are a PIN: shown as `PIN_SHOWN`, not even their length."""

    def __post_init__(self) -> None:
        if not 1 <= self.min_digits <= self.max_digits:
            raise ValueError("need 1 <= min_digits <= max_digits")
        if self.timeout_ms <= 0 or self.interdigit_ms <= 0:
            raise ValueError("timeouts must be positive")


@dataclass(frozen=True, slots=True, repr=False)
class Lookup:
    """Ask the CRM, within the lookup budget the driver's services enforce."""

    by: Literal["phone", "account"]
    value: str
    sensitive: bool = False
    """`value` is a masked entry (an account typed at a `sensitive` input): show `shown`."""

    @property
    def shown(self) -> str:
        return mask(self.value) if self.sensitive else self.value

    def __repr__(self) -> str:  # logs and tracebacks show actions
        return f"Lookup(by={self.by!r}, value={self.shown!r}, sensitive={self.sensitive})"


@dataclass(frozen=True, slots=True)
class QueueLookup:
    """Read the state of these queues (a branch's `queue.Q.X` names), within the lookup
    budget; answered by `QueuesLooked`."""

    queues: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.queues:
            raise ValueError("a queue lookup names at least one queue")


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """Store a callback request for this call (its call id is the runner's), within the
    lookup budget; answered by `CallbackRequested`. `number` is what the caller keyed,
    or the caller ID as the PBX gave it when `caller_id`: the services validate it for
    the site's region (the engine knows no numbering plan)."""

    queue: str
    number: str
    caller_id: bool
    caller_name: str
    waited_s: float

    def __post_init__(self) -> None:
        if not self.queue:
            raise ValueError("a callback request names its queue")
        if self.waited_s < 0:
            raise ValueError("waited_s cannot be negative")


@dataclass(frozen=True, slots=True)
class FloodLookup:
    """Read the flood switch (`callpop flood on --message NAME`) within the lookup
    budget; answered by `FloodLooked`."""


@dataclass(frozen=True, slots=True, repr=False)
class CheckPin:
    """Ask the CRM whether `pin` is this customer's PIN, within the PIN budget of the
    driver's services; answered by `PinChecked`. `pin` goes to the CRM adapter and
    nowhere else: the repr (logs, tracebacks) shows `PIN_SHOWN`."""

    customer_id: str
    pin: str

    def __post_init__(self) -> None:
        if not self.customer_id:
            raise ValueError("a PIN is checked for a customer")
        if not self.pin.isdigit():
            raise ValueError("a PIN is digits only")

    def __repr__(self) -> str:
        return f"CheckPin(customer_id={self.customer_id!r}, pin={PIN_SHOWN!r})"


@dataclass(frozen=True, slots=True)
class Transfer:
    """Leave the IVR for a queue, an extension, an agent or a voicemail box. Final.

    `variables` are the outcome variables (`CALLPOP_*`) to set before returning to
    the dialplan; `prompts` play first (e.g. "please hold")."""

    kind: TransferKind
    target: str
    priority: int
    variables: tuple[tuple[str, str], ...]
    prompts: tuple[Spoken, ...] = ()


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call after the prompts. Final."""

    variables: tuple[tuple[str, str], ...]
    prompts: tuple[Spoken, ...] = ()


Action = (
    EnterNode
    | SetVariables
    | Play
    | Collect
    | Lookup
    | QueueLookup
    | CallbackRequest
    | FloodLookup
    | CheckPin
    | Transfer
    | Hangup
)
