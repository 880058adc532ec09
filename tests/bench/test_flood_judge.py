"""`bench.flood_calls.QueueStateLog`: the flood check's record of the billing row explains
a decision by the state current at that moment, and by unknown state only where that row
had gone unvouched for past the max age (docs/contracts.md, "Queue state across
instances")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.flood_calls import QueueStateLog, overflow_of
from callpop.ami.queue_state import QueueState
from callpop.queue_store import QueueStateStore
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
FULL = QueueState("billing", 60, 900, 3, 0, 0, 3000, open=True, max_callers=60, full=True)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_a_full_row_explains_overflow_until_it_is_stale_then_unknown_too(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    try:
        await upgrade(engine)
        await QueueStateStore(engine, clock=lambda: at(0)).write([FULL])
        log = QueueStateLog(engine, max_age_s=30)
        await log.sample()
        await QueueStateStore(engine, clock=lambda: at(10)).vouch(["billing"])
        await log.sample()  # a refresh, not a new version
        assert len(log.versions) == 2
        current = {overflow_of(v) for v in log.current(at(20), at(40))}
        assert current == {"full"}  # vouched for at 10 s: current until 40 s
        later = {overflow_of(v) for v in log.current(at(20), at(41))}
        assert later == {"full", "room"}  # past 40 s unknown: the queue itself
    finally:
        await engine.dispose()
