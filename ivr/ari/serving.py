"""The ARI driver as `callpop serve` runs it: one async context per configured app.

`ivr` imports nothing from `callpop`, so the settings come in as any object shaped like
`callpop.config.AriSettings` (`AriConnection`), and the IVR itself as the `CallHandler`
the composition root builds around the shared runner. Used from an aiohttp cleanup
context:

    async def ari_ctx(app):
        async with ari_app_context(config.ari, handler, grace_s=config.shutdown_grace_s) as ari:
            app[ARI_APP] = ari
            yield
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from ivr.ari.app import CallHandler, StasisApp
from ivr.ari.client import AriClient, ClientSettings
from ivr.ari.errors import AriUnauthorized, AriUnavailable
from ivr.ari.ledger import SessionLedger

__all__ = ["AriConnection", "ari_app_context"]

log = logging.getLogger(__name__)


class AriConnection(Protocol):
    """What the driver needs from the `ari:` section of `callpop.yaml`."""

    @property
    def url(self) -> str: ...

    @property
    def username(self) -> str: ...

    @property
    def app(self) -> str: ...

    def resolved_password(self) -> str: ...


@asynccontextmanager
async def ari_app_context(
    settings: AriConnection,
    handler: CallHandler,
    *,
    grace_s: float = 30.0,
    client_settings: ClientSettings | None = None,
    ledger: SessionLedger | None = None,
) -> AsyncIterator[StasisApp]:
    """Connect the Stasis app and keep it connected until the context exits; then give
    live calls `grace_s` to finish and send the rest on to the operator.

    Wrong credentials raise `AriUnauthorized` at once (a configuration error `serve`
    reports); an Asterisk that is down is not an error: the app connects when it is up.
    With a `ledger` (several instances, ivr/ari/ledger.py) sessions are recorded and
    callers a dead instance left in Stasis are sent on.
    """
    async with AriClient(
        settings.url, settings.username, settings.resolved_password(), settings=client_settings
    ) as client:
        try:
            await client.asterisk_info()
        except AriUnauthorized as exc:
            raise AriUnauthorized(
                exc.method,
                exc.path,
                exc.status,
                exc.reason,
                f"Asterisk refused ARI user {settings.username!r} at {settings.url}: "
                "check ari.username and the password",
            ) from None
        except AriUnavailable as exc:
            log.warning(
                "ARI at %s is not reachable yet (%s); the app connects when it is",
                settings.url,
                exc,
            )
        app = StasisApp(client, settings.app, handler, ledger=ledger)
        runner = asyncio.create_task(app.run(), name=f"ari-app-{settings.app}")
        try:
            yield app
        finally:
            await app.stop(grace_s)
            await runner
