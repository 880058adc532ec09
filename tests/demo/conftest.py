"""`callpop demo` for tests: the whole thing on 127.0.0.1, every port chosen by the OS,
its database in the test's temporary folder, the IVR clock on a fixed Tuesday morning
(office open: the test does not depend on when it runs), prompts at a quick pace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callpop.config import Config, HostPort
from callpop.demo.compose import DemoOptions, DemoServer

REPO = Path(__file__).resolve().parents[2]
OPEN_TUESDAY = datetime(2026, 11, 24, 10, 30, tzinfo=ZoneInfo("America/New_York"))
SEED = 1


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[DemoServer]:
    config = Config.model_validate({"dialplan": str(REPO / "dialplan")})
    options = DemoOptions(
        web=HostPort("127.0.0.1", 0),
        fastagi=HostPort("127.0.0.1", 0),
        database=tmp_path / "demo.db",
        customers=50,
        seed=SEED,
        at=OPEN_TUESDAY,
        pace=0.25,
    )
    async with DemoServer(config, options, environ={}) as server:
        yield server
