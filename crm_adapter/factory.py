"""Build the CRM side of callpop from its settings: what the composition root calls.

    stack = await build_crm(config.crm, config.phone, engine)
    services = IvrServices(crm=stack.crm, ...)
    # in a cleanup context: task = asyncio.create_task(stack.relay.run()) if stack.relay
    ...
    await stack.aclose()

`crm.adapter: sql`  -> customers, cases and interactions in callpop's database.
`crm.adapter: rest` -> customers and cases from the integrator's CRM (breaker, budget,
cache); interactions committed locally and delivered by the outbox relay.
Either way the directory half is guarded by the breaker and the TTL cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.breaker import CircuitBreaker
from crm_adapter.lookup_watch import log_breaker_change
from crm_adapter.outbox import Outbox
from crm_adapter.port import CrmAdapter
from crm_adapter.relay import OutboxRelay
from crm_adapter.resilient import ResilientCrm
from crm_adapter.settings import CrmSettings, PhoneSettings
from crm_adapter.split import SplitCrm
from crm_adapter.sql.store import SqlStore

if TYPE_CHECKING:
    from crm_adapter.rest.adapter import RestCrm

__all__ = ["CrmStack", "build_crm"]

WRITE_BACKS = ("log_interaction", "update_interaction")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class CrmStack:
    crm: CrmAdapter
    store: SqlStore
    directory: ResilientCrm
    outbox: Outbox
    relay: OutboxRelay | None  # None: nothing to deliver (the built-in CRM)
    rest: RestCrm | None

    async def aclose(self) -> None:
        await self.crm.aclose()


async def build_crm(
    settings: CrmSettings,
    phone: PhoneSettings,
    engine: AsyncEngine,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    clock: Callable[[], datetime] = _utcnow,
) -> CrmStack:
    normaliser = phone.normaliser()
    breaker = CircuitBreaker(
        settings.breaker.failures,
        settings.breaker.reset_s,
        monotonic,
        name=f"crm-{settings.adapter}",
        on_change=log_breaker_change,
    )
    outbox = Outbox(engine, settings.outbox, clock=clock)
    rest: RestCrm | None = None
    relay: OutboxRelay | None = None
    if settings.adapter == "rest":
        assert settings.rest is not None  # CrmSettings guarantees it
        # Imported only here: the built-in CRM (and each classic AGI script's process)
        # does not load aiohttp's client.
        from crm_adapter.rest.adapter import RestCrm

        rest = await RestCrm.open(settings.rest, phone=normaliser)
        relay = OutboxRelay(outbox, rest.deliver)
        store = SqlStore(
            engine,
            normaliser,
            clock=clock,
            on_enqueue=relay.wake,
            outbox_operations=[op for op in WRITE_BACKS if rest.has(op)],
        )
        timeout_s = settings.rest.timeout_s
        source: RestCrm | SqlStore = rest
    else:
        store = SqlStore(engine, normaliser, clock=clock)
        timeout_s = 5.0
        source = store
    directory = ResilientCrm(
        source,
        phone=normaliser,
        breaker=breaker,
        cache_ttl_s=settings.cache_ttl_s,
        cache_size=settings.cache_size,
        timeout_s=timeout_s,
        clock=monotonic,
    )
    return CrmStack(
        crm=SplitCrm(directory, store),
        store=store,
        directory=directory,
        outbox=outbox,
        relay=relay,
        rest=rest,
    )
