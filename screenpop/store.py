"""What the screen-pop reads and writes besides the CRM: agents, journeys, pop history.

`ScreenpopStore` is the Protocol the web app is given; `screenpop.sqlstore` implements
it on callpop's database (the `agents`, `calls`, `journeys`, `pops` and
`interactions` tables of `crm_adapter/migrations/`). Customer data never comes
through here: that is the CRM adapter's job (`crm_adapter.port.CrmAdapter`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

__all__ = [
    "ROLES",
    "Account",
    "AccountExists",
    "CallRow",
    "PopRecord",
    "QueueDay",
    "QueueEventKind",
    "QueueEventRecord",
    "Role",
    "ScreenpopStore",
    "StoreError",
    "StoredPop",
]

Role = Literal["agent", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "admin")
# Pop states as the `pops` table spells them (the panel's "accepted" is "live" there).
StoredPopState = Literal["offered", "live", "wrapup", "done", "retracted"]
# What the `queue_events` table keeps of a call in the queues (docs/screenpop.md).
QueueEventKind = Literal[
    "joined",
    "offered",
    "no_answer",
    "connected",
    "completed",
    "withdrawn",
    "abandoned",
    "left",
    "hungup",
]


class StoreError(Exception):
    """The store cannot do what was asked (a user error: the message says why)."""


class AccountExists(StoreError):
    """An agent with this name or interface is already there."""


@dataclass(frozen=True, slots=True)
class Account:
    """A person who logs in to the panel. `interface` is their queue-member interface
    as AMI reports it (`PJSIP/101`, `Local/8100@callpop-agents`)."""

    id: str
    name: str
    interface: str
    role: Role
    password_hash: str
    active: bool = True

    def public(self) -> dict[str, str]:
        """What the browser may know of the account (never the hash)."""
        return {"id": self.id, "name": self.name, "interface": self.interface, "role": self.role}


@dataclass(frozen=True, slots=True)
class CallRow:
    """One line of an agent's "today's calls"."""

    call_id: str
    state: StoredPopState
    offered_at: datetime
    connected_at: datetime | None
    ended_at: datetime | None
    caller: str
    caller_name: str
    customer_id: str | None
    disposition: str | None
    # why a retracted pop went: the agent's missed calls (no answer, the caller hung
    # up or left the queue); one answered by another agent is not in the list
    reason: str | None = None
    # when the pop went to wrap-up: the call's end, when the agent still had to dispose
    wrapup_at: datetime | None = None

    @property
    def hung_up_at(self) -> datetime | None:
        """The call's end for this agent: talk stops here, wrap-up starts here."""
        if self.wrapup_at is not None:
            return self.wrapup_at
        return self.ended_at if self.connected_at is not None else None

    @property
    def talk_s(self) -> int | None:
        """Seconds talked (answer to hang-up); wrap-up is not talk."""
        if self.connected_at is None or self.hung_up_at is None:
            return None
        return max(0, int((self.hung_up_at - self.connected_at).total_seconds()))

    @property
    def wrapup_s(self) -> int | None:
        """Seconds of wrap-up (hang-up to disposition): 0 when the outcome was given
        during the call, None while still in wrap-up or never answered."""
        if self.wrapup_at is None:
            return 0 if self.state == "done" and self.connected_at is not None else None
        if self.ended_at is None:
            return None
        return max(0, int((self.ended_at - self.wrapup_at).total_seconds()))


@dataclass(frozen=True, slots=True)
class PopRecord:
    """One change of a pop, as the history keeps it: the pop as it stands after it.

    `moved` says the state changed at `at` (its time column is set); an update of the
    notes, the disposition or the payload keeps the state's time."""

    call_id: str
    agent_id: str
    state: StoredPopState
    at: datetime
    queue: str = ""
    interface: str = ""
    notes: str = ""
    disposition: str | None = None
    reason: str | None = None
    offers: int = 0
    moved: bool = True
    pbx: str = ""  # the Asterisk (`ami:` entry) whose events made the pop; "" unknown


@dataclass(frozen=True, slots=True)
class StoredPop:
    """An active pop (offered, live or in wrap-up) as the `pops` table has it: what a
    starting instance shows the agent again. `since` is when it entered its state."""

    call_id: str
    agent_id: str
    state: StoredPopState
    since: datetime
    queue: str
    interface: str
    notes: str
    disposition: str | None
    offers: int
    pbx: str = ""


@dataclass(frozen=True, slots=True)
class QueueEventRecord:
    """One row of `queue_events`. `at` is the event's own time (Asterisk's, for AMI
    events): with the call id, kind and interface it identifies the event, so the same
    event written by several instances is one row."""

    call_id: str
    kind: QueueEventKind
    at: datetime
    queue: str = ""
    interface: str = ""
    agent_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class QueueDay:
    """What the wallboard counts, from the stored rows: the ids of the calls handled and
    abandoned since the start of the day, and the calls waiting now (queue, call id,
    since, caller)."""

    handled: frozenset[str]
    abandoned: frozenset[str]
    waiting: tuple[tuple[str, str, datetime, str], ...]


class ScreenpopStore(Protocol):
    async def account_by_name(self, name: str) -> Account | None: ...

    async def account(self, agent_id: str) -> Account | None: ...

    async def accounts(self) -> list[Account]:
        """Every active account, by name."""
        ...

    async def add_account(
        self, name: str, interface: str, role: Role, password_hash: str
    ) -> Account:
        """Raises `AccountExists`."""
        ...

    async def set_password_hash(self, agent_id: str, password_hash: str) -> None: ...

    async def journey(self, call_id: str) -> Mapping[str, Any] | None:
        """The stored IVR journey of the call (`ivr.journey.Journey.to_dict()`)."""
        ...

    async def call(self, call_id: str) -> Mapping[str, Any] | None:
        """The `calls` row: caller, caller_name, dnis, flow, customer_id, started_at."""
        ...

    async def record_customer_choice(
        self,
        call_id: str,
        customer_id: str,
        *,
        agent: str,
        at: datetime,
        caller: str = "",
        caller_name: str = "",
        started_at: datetime | None = None,
    ) -> None:
        """The customer the agent attached to the call (chosen among candidates, or
        created), on the call's `calls` row (`chosen_customer_id`, `chosen_by`,
        `chosen_at`); a call with no row yet gets one (`caller`, `caller_name`,
        `started_at` from the pop). The IVR's `customer_id` is left as it was."""
        ...

    async def journey_and_caller(
        self, call_id: str
    ) -> tuple[Mapping[str, Any] | None, tuple[str, str] | None]:
        """`journey(call_id)` and the (caller, caller_name) of `call(call_id)` in one
        read: what the pop needs of a call this process did not see."""
        ...

    async def record_pop(
        self, call_id: str, agent_id: str, state: StoredPopState, at: datetime
    ) -> None:
        """Keep the pop's state for the agent's history and the reports."""
        ...

    async def record_pops(self, records: Sequence[PopRecord]) -> None:
        """`record_pop` for each record, in order, in one transaction: all or none
        (raises `StoreError` or the database's error, and records nothing)."""
        ...

    async def record_history(
        self, records: Sequence[PopRecord], queue_events: Sequence[QueueEventRecord]
    ) -> None:
        """`record_pops(records)` and the queue events in one transaction; a queue
        event already stored (another instance wrote it) is skipped."""
        ...

    async def active_pops(self, since: datetime) -> list[StoredPop]:
        """Pops offered, live or in wrap-up, changed since `since`, oldest first."""
        ...

    async def queue_day(self, since: datetime) -> QueueDay:
        """The wallboard's counts from `queue_events` since `since`."""
        ...

    async def calls_of(self, agent_id: str, since: datetime, limit: int = 50) -> list[CallRow]:
        """The agent's pops offered since `since`, newest first (retracted ones left out)."""
        ...

    async def revoke_session(self, nonce: str, expires: datetime) -> None:
        """The session with this nonce is over (logout), on every instance sharing the
        database, until `expires`, when the cookie is dead anyway."""
        ...

    async def session_revoked(self, nonce: str) -> bool: ...

    async def session_account(self, agent_id: str, nonce: str) -> Account | None:
        """The active account `agent_id` if its session `nonce` is not revoked, else None:
        `account` and `session_revoked` in one read (every request and socket asks it)."""
        ...

    async def revoked_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """(nonce, revoked_at) of the sessions revoked at or after `since`, oldest first."""
        ...

    async def use_embed_token(self, token_id: str, expires: datetime) -> bool:
        """True the first time a token id is used (on any instance sharing the
        database), False ever after, until `expires`."""
        ...
