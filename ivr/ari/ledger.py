"""The shared record of Stasis sessions, for several callpop instances on one Asterisk.

Each instance runs its own Stasis app (`ari.app`: two websockets under one app name take
the events from each other). When an instance dies, its callers stay in Stasis, silent,
and nobody is listening to their app any more. So every instance records its live
sessions (channel, call id, owning instance) and renews a heartbeat in the shared
database; a surviving instance's reconciliation lists every channel in Stasis and sends
on (`callpop-route,operator,1`) those of another callpop app whose owner is dead or
unknown, never those of a live instance.

`SessionLedger` is what the app needs; `callpop/ari_ledger.py` keeps it in SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Claims", "LedgerUnavailable", "SessionLedger"]


class LedgerUnavailable(Exception):
    """The shared store cannot be reached; every method may raise it."""


@dataclass(frozen=True, slots=True)
class Claims:
    """What the ledger says of channels in other apps' Stasis."""

    live: frozenset[str]  # owned by a live instance: leave them be
    orphaned: Mapping[str, str]  # channel id -> the dead (or unknown) owner: send them on


class SessionLedger(Protocol):
    async def heartbeat(self) -> None:
        """This instance (and its app) is alive; called every few seconds."""

    async def session_started(self, channel_id: str, call_id: str) -> None: ...

    async def session_ended(self, channel_id: str) -> None: ...

    async def claims(self, in_stasis: Mapping[str, str]) -> Claims:
        """`in_stasis`: channel id -> the app whose Stasis it is in (apps other than this
        instance's). Channels of an app no callpop instance ever ran are in neither set."""

    async def retire(self) -> None:
        """A clean shutdown: this instance's records go."""
