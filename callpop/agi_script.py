"""The classic AGI script's composition root: `agi_scripts.script` is the driver,
this module wires it to the config, the dialplan, the CRM and the journey store.

    exten => 7000,1,AGI(/opt/callpop/.venv/bin/python,-m,callpop.agi_script,/etc/callpop/callpop.yaml,main)

(`callpop asterisk-config` emits that line with this installation's paths.)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agi_scripts import script
from ivr.ports import CallServices

__all__ = ["build_services", "main"]


async def build_services(
    config_path: Path,
) -> tuple[Any, CallServices, Callable[[], Awaitable[None]]]:
    """Flows, CallServices and their closer, from the config file (the composition is
    serve's, without the bus: the pop follows the journey saved in the database)."""
    # Imported here, once the environment is read, not when this module is.
    from callpop.callbacks.store import CallbackStore
    from callpop.config import load_config
    from callpop.flood import FloodReader, FloodStore
    from callpop.journeys import JourneyStore
    from callpop.metrics import Metrics
    from callpop.queue_store import QueueStateReader, QueueStateStore
    from callpop.reload import load_versioned
    from callpop.services import IvrServices
    from crm_adapter.factory import build_crm
    from crm_adapter.sql.engine import create_engine
    from screenpop.bus import InProcessBus

    config = load_config(config_path, os.environ)
    # Each call's process loads the dialplan as it is now: the version its journey names.
    _, flows = load_versioned(Path(config.dialplan), datetime.now(UTC))
    engine = create_engine(config.database)
    try:
        crm = await build_crm(config.crm, config.phone, engine)
    except BaseException:
        await engine.dispose()
        raise
    budget_s = config.crm.lookup_budget_ms / 1000
    services = IvrServices(
        crm=crm.crm,
        bus=InProcessBus(),  # nobody listens in this process
        journeys=JourneyStore(engine),
        metrics=Metrics(),
        lookup_budget_ms=config.crm.lookup_budget_ms,
        queues=QueueStateReader(QueueStateStore(engine), budget_s=budget_s),
        flood=FloodReader(FloodStore(engine), budget_s=budget_s),
        callbacks=CallbackStore(engine),
        phone=config.phone.normaliser(),
    )

    async def aclose() -> None:
        await crm.aclose()
        await engine.dispose()

    return flows, services, aclose


def main(argv: Sequence[str] | None = None) -> int:
    return script.main(build_services, argv)


if __name__ == "__main__":
    sys.exit(main())
