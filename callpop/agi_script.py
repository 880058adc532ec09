"""The classic AGI script's composition root: `agi_scripts.script` is the driver,
this module wires it to the config, the dialplan, the CRM and the journey store.

    exten => 7000,1,AGI(/opt/callpop/.venv/bin/python,-m,callpop.agi_script,/etc/callpop/callpop.yaml,main)

(`callpop asterisk-config` emits that line with this installation's paths.)

Asterisk starts a process per call, so what this module imports is paid on every call.
The flows and what the script needs of the config come from the script's cache
(`callpop.flow_cache`: validated and linted once per version of the files). On a
SQLite site with the built-in CRM the services are `callpop.classic_services` (sqlite3
alone) and the call runs without an event loop (no asyncio is loaded); any other site
(PostgreSQL, a REST CRM) gets the composition `serve` uses, on an event loop.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agi_scripts import script
from agi_scripts.script import Services, ServicesStart

if TYPE_CHECKING:
    from callpop.config import Config

__all__ = ["build_services", "main"]


def build_services(config_path: Path) -> ServicesStart:
    """How to start the flows, CallServices and their closer, from the config file."""
    # Imported here, once the environment is read, not when this module is.
    from callpop.classic_services import ClassicServices, ClassicSite, site_of
    from callpop.flow_cache import cache_folder, cached_flows
    from crm_adapter.sql.sqlite_file import SqliteReader

    validated: list[Config] = []

    def load() -> tuple[Path, Any]:
        # A cache miss: the config validated as every command validates it.
        from callpop.config import load_config

        config = load_config(config_path, os.environ)
        validated.append(config)
        site = site_of(config)
        return Path(config.dialplan), None if site is None else site.to_dict()

    # Each call's process runs the dialplan as it is now (the version its journey names).
    flows, kept = cached_flows(
        config_path, os.environ, cache_folder(os.environ), datetime.now(UTC), load
    )
    site = ClassicSite.of(kept) if kept is not None else None
    if site is not None:
        reader = SqliteReader.open(site.database)
        if reader is not None:
            services = ClassicServices(site, reader)

            async def close_reader() -> None:
                reader.close()

            async def ready() -> Services:
                return flows, services, close_reader

            return ServicesStart(ready, on_loop=False)
    config = validated[0] if validated else None

    async def served() -> Services:
        return await _served(flows, config, config_path)

    return ServicesStart(served, on_loop=True)


async def _served(flows: Any, config: Config | None, config_path: Path) -> Services:
    """The composition `serve` uses, without the bus (the pop follows the journey saved
    in the database): for PostgreSQL, a REST CRM, or a SQLite file not in WAL mode."""
    from callpop.callbacks.store import CallbackStore
    from callpop.config import load_config
    from callpop.flood import FloodReader, FloodStore
    from callpop.journeys import JourneyStore
    from callpop.metrics import Metrics
    from callpop.queue_store import QueueStateReader, QueueStateStore
    from callpop.services import IvrServices
    from callpop.surveys import SurveyStore
    from crm_adapter.factory import build_crm
    from crm_adapter.sql.engine import create_engine
    from screenpop.bus import InProcessBus

    if config is None:
        config = load_config(config_path, os.environ)
    engine = create_engine(config.database)
    try:
        crm = await build_crm(config.crm, config.phone, engine)
    except BaseException:
        await engine.dispose()
        raise
    budget_s = config.crm.lookup_budget_ms / 1000
    journeys = JourneyStore(engine)
    services = IvrServices(
        crm=crm.crm,
        bus=InProcessBus(),  # nobody listens in this process
        journeys=journeys,
        metrics=Metrics(),
        lookup_budget_ms=config.crm.lookup_budget_ms,
        pin_budget_ms=config.crm.pin_budget_ms,
        queues=QueueStateReader(
            QueueStateStore(engine), budget_s=budget_s, max_age_s=config.queues.state_max_age_s
        ),
        flood=FloodReader(FloodStore(engine), budget_s=budget_s),
        callbacks=CallbackStore(engine),
        phone=config.phone.normaliser(),
        surveys=SurveyStore(engine),
    )

    async def aclose() -> None:
        await journeys.aclose()
        await crm.aclose()
        await engine.dispose()

    return flows, services, aclose


def main(argv: Sequence[str] | None = None) -> int:
    return script.main(build_services, argv)


if __name__ == "__main__":
    sys.exit(main())
