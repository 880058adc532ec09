"""`callpop callbacks`: what an admin sees of the callbacks, and taking one back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner, Result

from callpop.callbacks.store import CallbackStore
from callpop.cli import cli
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade


def callbacks(tmp_path: Path, *args: str) -> Result:
    config = tmp_path / "callpop.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'callpop.db'}\n")
    return CliRunner().invoke(cli, ["--config", str(config), "callbacks", *args])


def asked(tmp_path: Path, *numbers: str) -> None:
    async def store() -> None:
        engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
        await upgrade(engine)
        try:
            for n, number in enumerate(numbers):
                await CallbackStore(engine).request(
                    call_id=f"c{n}", queue="billing", number=number, caller_name="",
                    waited_s=361, at=datetime(2026, 12, 6, 10, 42, tzinfo=UTC),
                )  # fmt: skip
        finally:
            await engine.dispose()

    asyncio.run(store())


def test_the_waiting_callbacks_are_listed_in_request_order(tmp_path: Path) -> None:
    asked(tmp_path, "5550001", "5550002")
    result = callbacks(tmp_path)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[:4] for line in lines] == [
        ["1", "pending", "billing", "5550001"],
        ["2", "pending", "billing", "5550002"],
    ]
    assert "asked 2026-12-06 10:42Z after 6 min, 0 call(s)" in lines[0]


def test_a_cancelled_callback_leaves_the_list_but_not_the_record(tmp_path: Path) -> None:
    asked(tmp_path, "5550001", "5550002")
    cancelled = callbacks(tmp_path, "cancel", "1")
    assert (cancelled.exit_code, cancelled.output) == (0, "callback 1 cancelled\n")
    assert [line.split()[0] for line in callbacks(tmp_path).output.splitlines()] == ["2"]
    assert "1  cancelled" in callbacks(tmp_path, "--all").output


def test_cancelling_one_that_is_not_pending_says_why_and_fails(tmp_path: Path) -> None:
    asked(tmp_path, "5550001")
    callbacks(tmp_path, "cancel", "1")
    again = callbacks(tmp_path, "cancel", "1")
    assert again.exit_code == 1
    assert "callback 1 is cancelled, not pending" in again.output
    missing = callbacks(tmp_path, "cancel", "9")
    assert (missing.exit_code, "no callback 9" in missing.output) == (1, True)
