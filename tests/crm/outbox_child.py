"""A callpop-like process for the crash test: log interactions, then relay the outbox.

    python outbox_child.py DB_URL SEARCH_PATH|- CRM_URL COUNT

Logs COUNT interactions (each committed before the next), prints `logged` and
relays the outbox until killed. COUNT 0: relay only (the restart).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from crm_adapter.outbox import Outbox
from crm_adapter.port import Interaction
from crm_adapter.relay import OutboxRelay
from crm_adapter.rest.adapter import RestCrm
from crm_adapter.settings import OutboxSettings, RestSettings
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.store import SqlStore


async def main(url: str, search_path: str, crm_url: str, count: int) -> None:
    engine = create_engine(url, search_path=None if search_path == "-" else search_path)
    settings = RestSettings.model_validate(
        {
            "base_url": crm_url,
            "operations": {
                "find_by_phone": "GET /customers?phone={phone}",
                "log_interaction": {
                    "method": "POST",
                    "path": "/calls",
                    "json": {"call_id": "{call_id}", "notes": "{notes}"},
                },
            },
        }
    )
    rest = await RestCrm.open(settings)
    outbox = Outbox(
        engine, OutboxSettings(backoff_s=0.05, backoff_max_s=0.2, lease_s=1.0, poll_s=0.2)
    )
    relay = OutboxRelay(outbox, rest.deliver)
    store = SqlStore(engine, outbox_operations=["log_interaction"])
    started = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    for n in range(count):
        await store.log_interaction(Interaction(f"call-{n}", started=started, notes=f"n{n}"))
    print("logged", flush=True)
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
