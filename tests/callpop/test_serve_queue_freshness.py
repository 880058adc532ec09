"""Queue state freshness through `callpop serve` (a real process, the AMI simulator on a
socket): while logged in, the lease holder vouches for the queues' rows though nothing
changes; when Asterisk's manager interface goes away it stops, says so once, and once
the rows are older than `queues.state_max_age_s` a caller takes the flow's
unknown-state path; when AMI is back, current state again (docs/admin.md, "When AMI is
lost")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_status import QueueBoard, QueueMemberSpec
from callpop.pbx_sim.fastagi import call_fastagi
from callpop.pbx_sim.script import CallerScript
from callpop.queue_store import QueueRow, QueueStateStore
from crm_adapter.sql.engine import create_engine
from tests.callpop.test_restart import Serve
from tests.callpop.test_restart import serve as serve  # the fixture

ALICE = QueueMemberSpec("billing", "PJSIP/101", "Alice Agent")
MAX_AGE_S = 5  # the smallest allowed: the test waits it out once

# Open (someone staffs it): the billing queue; unknown: the operator.
FLOW = """\
entry: check
nodes:
  check:
    type: branch
    cases:
      - {when: "queue.billing.open", goto: billing}
    default: operator
  billing: {type: transfer, queue: billing}
  operator: {type: transfer, queue: operator}
"""


@pytest.fixture
async def pbx() -> AsyncIterator[AMIServer]:
    async with AMIServer(username="callpop", secret="pw", answers=[QueueBoard([ALICE])]) as s:
        yield s


@pytest.fixture
def site(serve: Serve) -> Serve:
    (serve.config.parent / "dialplan" / "flows" / "main.yaml").write_text(FLOW)
    with serve.config.open("a") as config:
        config.write(f"queues: {{state_max_age_s: {MAX_AGE_S}, state_refresh_s: 1}}\n")
    return serve


async def billing_row(serve: Serve) -> QueueRow | None:
    engine = create_engine(f"sqlite:///{serve.database}")
    try:
        return (await QueueStateStore(engine).rows()).get("billing")
    finally:
        await engine.dispose()


async def until_seen_after(serve: Serve, after: datetime | None) -> QueueRow:
    async with asyncio.timeout(20):
        while True:
            row = await billing_row(serve)
            if row is not None and (after is None or row.seen_at > after):
                return row
            await asyncio.sleep(0.1)


async def until_logged(serve: Serve, text: str) -> None:
    async with asyncio.timeout(20):
        while text not in serve.log.read_text(encoding="utf-8"):  # noqa: ASYNC110 (a file)
            await asyncio.sleep(0.1)


async def queue_of_a_call(serve: Serve, n: int) -> str:
    script = CallerScript.parse("", uniqueid=f"1795389902.{n}")
    record = await call_fastagi("127.0.0.1", serve.agi, script)
    return record.variables["CALLPOP_QUEUE"]


async def test_queue_state_is_vouched_for_while_logged_in_and_unknown_once_ami_is_lost(
    site: Serve, pbx: AMIServer
) -> None:
    await site.start()
    first = await until_seen_after(site, None)
    again = await until_seen_after(site, first.seen_at)  # nothing changed, refreshed
    assert again.fields == first.fields and again.fields["open"] is True
    assert await queue_of_a_call(site, 1) == "billing"

    port = pbx.port
    await pbx.close()  # Asterisk's manager interface goes away
    await until_logged(site, "AMI not connected: queue state of billing")
    last = await billing_row(site)
    assert last is not None
    # wait the max age out (and a second for the readers' one-second cache)
    past = last.seen_at + timedelta(seconds=MAX_AGE_S + 1) - datetime.now(UTC)
    await asyncio.sleep(max(0.0, past.total_seconds()))
    assert await billing_row(site) == last  # nobody vouched for it since
    assert await queue_of_a_call(site, 2) == "operator"  # unknown: the branch's default
    assert await queue_of_a_call(site, 3) == "operator"
    said = site.log.read_text(encoding="utf-8")
    assert said.count("AMI not connected: queue state of billing") == 1
    assert said.count("queue.billing.* reads as unknown") == 1  # two callers, one line

    await pbx.start(port=port)  # AMI back: the login resync rewrites the row
    await until_logged(site, "AMI connected again")
    await until_seen_after(site, last.seen_at)
    await asyncio.sleep(1.1)  # past the readers' one-second cache of the stale answer
    assert await queue_of_a_call(site, 4) == "billing"
    said = site.log.read_text(encoding="utf-8")
    assert said.count("AMI connected again") == 1  # not at start-up: only after a loss
    assert said.count("callpop.queues queue state of billing is current again") == 1
