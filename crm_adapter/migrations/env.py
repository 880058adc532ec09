"""Alembic environment for every callpop table (one linear history, design.md).

`crm_adapter.sql.migrate.upgrade(engine)` hands a live connection in through
`config.attributes["connection"]`; the `alembic` command line (developers writing a
revision: `alembic -c crm_adapter/migrations/alembic.ini revision -m "..."`) gets a
URL from `-x url=...` or `CALLPOP_DATABASE` and runs on its own async engine.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.tables import metadata

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "CALLPOP_DATABASE"
    )
    if not url:
        raise SystemExit("give the database with -x url=... or CALLPOP_DATABASE")
    return url


async def _run_with_own_engine() -> None:
    engine = create_engine(_url())
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_configure)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (given := config.attributes.get("connection")) is not None:
    _configure(given)
else:
    asyncio.run(_run_with_own_engine())
