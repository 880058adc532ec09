"""Run the Alembic migrations from code (`callpop db upgrade`, `serve`, `demo`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.port import CrmRejected
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
    try:
        with mapped_errors(where):
            async with engine.begin() as connection:
                await connection.run_sync(_upgrade, revision)
    except CommandError as exc:
        raise CrmRejected(f"{where}: {exc}") from exc


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
