"""Run the Alembic migrations from code (`callpop db upgrade`, `serve`, `demo`, tests)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.port import CrmRejected, CrmUnavailable
from crm_adapter.sql.errors import mapped_errors

__all__ = ["alembic_config", "current_revision", "heads", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def heads() -> list[str]:
    """The heads of the revision history; one, or someone branched it."""
    return list(ScriptDirectory.from_config(alembic_config()).get_heads())


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database to `revision`, in one transaction where the database allows
    (PostgreSQL: all or nothing).

    This is the first thing every command does with the database, so a database that
    cannot be used is reported here, naming it (password hidden): `CrmUnavailable` for a
    missing, unreadable or corrupt file or a server that does not answer, `CrmRejected`
    for a database at a revision this callpop does not know (a newer callpop's)."""
    url = engine.url.set(drivername=engine.url.get_backend_name())  # as the admin wrote it
    where = f"database {url.render_as_string(hide_password=True)}"
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        _check_sqlite_opens(url.database, where)
    try:
        with mapped_errors(where):
            async with engine.begin() as connection:
                await connection.run_sync(_upgrade, revision)
    except CommandError as exc:
        raise CrmRejected(f"{where}: {exc}") from exc


def _check_sqlite_opens(path: str, where: str) -> None:
    """Open the file once, here, before the pool does. aiosqlite, when its connect fails,
    stops its worker thread without waiting for it, and the thread then reports to a
    loop that a failed startup has already closed: a traceback after the one-line error."""
    try:
        sqlite3.connect(path).close()
    except sqlite3.Error as exc:
        raise CrmUnavailable(f"{where}: database unavailable: {exc}") from None


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
