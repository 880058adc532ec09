"""Reconciliation: after every (re)connect, make the app's sessions agree with Asterisk.

What the recordings force (09-app-websocket-reconnect): while the app's websocket is
away its channels stay in Stasis, silent or still playing; their events are dropped and
never replayed; there is no new StasisStart on reconnect; a caller who hung up meanwhile
sends nothing ever. So on start and on every reconnect the app lists the channels
(`GET /channels`, every channel of the server) and, for its own (`Stasis(app)` or
`Stasis(app,...)`):
- a session whose channel is still there goes on (`resynced`: a playback that ended
  while away is found by asking for it);
- a session whose channel is gone, or no longer in the app, ends: the caller left while
  nobody listened (`vanished`), and the runner saves the journey as a hang-up;
- a channel in the app with no session (callpop restarted, or a session ended without
  reaching the channel) is sent on to `callpop-route,operator,1`, so no caller is left
  in silence (design.md, "Asterisk side");
- with a `SessionLedger` (several instances on one Asterisk, ledger.py), a channel in
  another callpop instance's Stasis whose owner is dead or unknown is sent on the same
  way; never one whose owner is alive.

`plan_resync` decides, sans I/O; `Resynchroniser` does the requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Set
from dataclasses import dataclass
from typing import Protocol

from ivr.ari.channel import OPERATOR_EXTENSION
from ivr.ari.client import AriClient
from ivr.ari.errors import AriConflict, AriError, AriNotFound
from ivr.ari.ledger import LedgerUnavailable, SessionLedger
from ivr.ari.models import ChannelSnapshot

__all__ = ["ResyncPlan", "Resynchroniser", "SessionRegistry", "plan_resync", "stasis_app"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResyncPlan:
    alive: frozenset[str]
    vanished: frozenset[str]
    orphans: tuple[str, ...]


def plan_resync(
    listed: Iterable[ChannelSnapshot],
    app: str,
    live_before: Set[str],
    live_now: Set[str],
    settled: Set[str],
) -> ResyncPlan:
    """Sort channel ids into sessions that go on, sessions whose caller left, orphans.

    `live_before` are the sessions that existed when `GET /channels` was sent: a session
    started later may be missing from the list without having gone. `live_now` are the
    sessions when the answer came: a channel with a session started meanwhile is no
    orphan. `settled` are channels the app has already sent on (continue, hang-up): they
    may still show in Stasis for a moment and must be left alone.
    """
    in_app = {c.id for c in listed if c.in_stasis(app)}
    alive = frozenset(live_before & in_app)
    vanished = frozenset((live_before & live_now) - in_app)
    orphans = tuple(sorted(in_app - live_now - settled))
    return ResyncPlan(alive=alive, vanished=vanished, orphans=orphans)


class SessionRegistry(Protocol):
    """What the resynchroniser needs from the app."""

    def live_channels(self) -> Set[str]: ...

    def settled_channels(self) -> Set[str]: ...

    def resynced_channel(self, channel_id: str) -> None: ...

    def vanished_channel(self, channel_id: str) -> None: ...


class Resynchroniser:
    """Runs one reconciliation. Orphans get a grace period before they are sent on: a
    channel that entered Stasis just as the socket came up may show in the list before
    its StasisStart is read, and must not be taken from its own session."""

    def __init__(
        self,
        client: AriClient,
        app: str,
        registry: SessionRegistry,
        *,
        route_context: str,
        orphan_grace_s: float = 1.0,
        ledger: SessionLedger | None = None,
    ) -> None:
        self.client = client
        self.app = app
        self.registry = registry
        self.route_context = route_context
        self.orphan_grace_s = orphan_grace_s
        self.ledger = ledger
        self.orphans_sent_on = 0
        self.taken_over = 0  # channels of dead instances sent on
        self.take_over_checks = 0
        self._ledger_down = False

    async def run(self) -> ResyncPlan:
        """Raises AriError if the channels cannot be listed (the caller retries)."""
        live_before = set(self.registry.live_channels())
        listed = await self.client.list_channels()
        plan = plan_resync(
            listed,
            self.app,
            live_before,
            set(self.registry.live_channels()),
            set(self.registry.settled_channels()),
        )
        for channel_id in plan.vanished:
            self.registry.vanished_channel(channel_id)
        for channel_id in plan.alive:
            self.registry.resynced_channel(channel_id)
        if plan.vanished or plan.orphans:
            log.info(
                "ARI resync: %d sessions go on, %d callers left while away, %d orphans",
                len(plan.alive),
                len(plan.vanished),
                len(plan.orphans),
            )
        foreign = await self._foreign_orphans(listed)
        if plan.orphans or foreign:
            await asyncio.sleep(self.orphan_grace_s)
            for channel_id in plan.orphans:
                await self._send_on(channel_id, self.app)
            await self._take_over(foreign)
        return plan

    async def take_over(self) -> int:
        """Only the other instances' part of `run`: send on the callers a dead instance
        left in Stasis. Run every few seconds with a ledger (app.py); returns how many.
        Raises AriError if the channels cannot be listed."""
        if self.ledger is None:
            return 0
        self.take_over_checks += 1
        foreign = await self._foreign_orphans(await self.client.list_channels())
        if not foreign:
            return 0
        before = self.taken_over
        await asyncio.sleep(self.orphan_grace_s)
        await self._take_over(foreign)
        return self.taken_over - before

    async def _take_over(self, foreign: dict[str, tuple[str, str]]) -> None:
        for channel_id, (app, owner) in sorted(foreign.items()):
            if await self._send_on(channel_id, app):
                self.taken_over += 1
                log.warning(
                    "ARI resync: channel %s was left in Stasis(%s) by instance %s, which "
                    "is gone; sent to the operator",
                    channel_id,
                    app,
                    owner,
                )

    async def _foreign_orphans(
        self, listed: Iterable[ChannelSnapshot]
    ) -> dict[str, tuple[str, str]]:
        """Channels in another callpop instance's Stasis whose owner is dead or unknown
        (ledger.py): channel id -> (app, owner). The ledger unreachable: none this time
        (logged once), never a guess that could take a live instance's callers."""
        if self.ledger is None:
            return {}
        others = {
            c.id: app for c in listed if (app := stasis_app(c)) is not None and app != self.app
        }
        try:
            claims = await self.ledger.claims(others)
        except LedgerUnavailable as exc:
            if not self._ledger_down:
                log.warning(
                    "ARI resync: the session ledger is unreachable (%s); "
                    "other instances' callers are left alone until it is back",
                    exc,
                )
                self._ledger_down = True
            return {}
        if self._ledger_down:
            log.info("ARI resync: the session ledger is reachable again")
            self._ledger_down = False
        return {cid: (others[cid], owner) for cid, owner in claims.orphaned.items()}

    async def _send_on(self, channel_id: str, app: str) -> bool:
        if (
            channel_id in self.registry.live_channels()
            or channel_id in self.registry.settled_channels()
        ):
            return False
        try:
            snapshot = await self.client.get_channel(channel_id)
            if not snapshot.in_stasis(app):
                return False
            await self.client.continue_in_dialplan(
                channel_id, self.route_context, OPERATOR_EXTENSION, 1
            )
        except (AriNotFound, AriConflict):
            return False  # it left on its own meanwhile
        except AriError as exc:
            log.warning("ARI resync: could not send channel %s on: %s", channel_id, exc)
            return False
        self.orphans_sent_on += 1
        if app == self.app:
            log.info("ARI resync: channel %s had no session; sent to the operator", channel_id)
        return True


def stasis_app(channel: ChannelSnapshot) -> str | None:
    """The app whose Stasis the channel is in (`Stasis(app,args...)`), or None."""
    if channel.dialplan.app_name != "Stasis":
        return None
    return channel.dialplan.app_data.split(",", 1)[0] or None
