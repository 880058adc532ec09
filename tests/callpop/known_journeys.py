"""Known journeys for the report and replay tests: real simulated calls on a flow,
stored through `JourneyStore` the way `serve` stores them, with a version hash; a
site (callpop.yaml over a database holding them) for the CLI; a dialplan in git."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.journeys import JourneyStore
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from ivr.flow import Flow
from ivr.journey import Journey
from ivr.loader import load_dialplan
from ivr.simulator import NoCrm, ScriptedKeys, parse_keys, simulate

# A Monday at 10:00 in New York: the sample's hours node says open.
OPEN = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Call:
    keys: str
    version: str = "v1hash000001"
    flow: str = "main"
    day: int = 0


def run(flows: Mapping[str, Flow], call_id: str, call: Call) -> tuple[Journey, dict[str, Any]]:
    now = OPEN + timedelta(days=call.day)
    sim = simulate(
        flows,
        flow_id=call.flow,
        caller="+15550001111",
        keys=ScriptedKeys(parse_keys(call.keys)),
        crm=NoCrm(),
        now=now,
        call_id=call_id,
    )
    journey = sim.journey
    journey.started_at = now.isoformat().replace("+00:00", "Z")
    data = journey.to_dict()
    data["version"] = {"hash": call.version, "loaded_at": "2026-12-01T00:00:00Z"}
    return journey, data


async def store(engine: AsyncEngine, flows: Mapping[str, Flow], calls: Sequence[Call]) -> list[str]:
    """Simulate and store `calls` (ids `call-0`, `call-1` ...); returns the ids."""
    entries = [run(flows, f"call-{i}", call) for i, call in enumerate(calls)]
    await JourneyStore(engine).write(entries)
    return [journey.call_id for journey, _ in entries]


def site(tmp_path: Path, dialplan: Path, calls: Sequence[Call]) -> Path:
    """A callpop.yaml over a migrated SQLite database holding `calls` on `dialplan`."""
    db = tmp_path / "callpop.db"

    async def fill() -> None:
        engine = create_engine(f"sqlite:///{db}")
        try:
            await upgrade(engine)
            await store(engine, load_dialplan(dialplan).flows, calls)
        finally:
            await engine.dispose()

    asyncio.run(fill())
    config = tmp_path / "callpop.yaml"
    config.write_text(f"database: sqlite:///{db}\ndialplan: {dialplan}\n", encoding="utf-8")
    return config


def git(cwd: Path, *args: str) -> None:
    """git in `cwd`, as a fixed author (a test's repository of dialplan versions)."""
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def dialplan_repo(tmp_path: Path, source: Path) -> Path:
    """A git repository holding a copy of `source` as `dialplan/`, committed once."""
    repo = tmp_path / "site"
    shutil.copytree(source, repo / "dialplan")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "signed version")
    return repo
