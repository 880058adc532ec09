"""`callpop serve`: the whole thing wired from callpop.yaml, started and stopped as an
operator would, with Asterisk played by the FastAGI simulator over real sockets."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import signal
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from callpop.config import load_config
from callpop.pbx_sim.agi_channel import SimOptions
from callpop.pbx_sim.fastagi import CallRecord, call_fastagi
from callpop.pbx_sim.script import CallerId, CallerScript
from callpop.serve import (
    FASTAGI,
    FASTAGI_FD_MARGIN,
    RUNTIME,
    build_app,
    build_runtime,
    fastagi_max_calls,
)
from crm_adapter.outbox import enqueue
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.tables import calls, journeys
from ivr.ports import CallEvent
from screenpop.bus import PopBus
from screenpop.sqlstore import SqlScreenpopStore
from tests.ports import free_port as _free_port

# No `hours` node: these tests run at any time of day with the real clock.
FLOW = """\
entry: welcome
nodes:
  welcome:
    type: play
    prompts: [{sound: hello, text: Hello.}]
    next: main_menu
  main_menu:
    type: menu
    prompts: [{sound: acme-main-menu, text: "For billing press 1, for sales press 2."}]
    options:
      "1": {goto: billing_menu, topic: billing}
      "2": {goto: sales, topic: sales}
  billing_menu:
    type: menu
    prompts: [{sound: acme-billing-menu, text: "For a payment press 1, for a charge press 2."}]
    options:
      "1": {goto: billing, topic: payments}
      "2": {goto: billing, topic: billing}
  billing:
    type: transfer
    queue: billing
    prompts: [{sound: pls-hold-while-try, text: Please hold.}]
  sales:
    type: transfer
    queue: sales
"""


BUS_KEY = web.AppKey("test_bus", PopBus)


def _billing_call(n: int) -> CallerScript:
    # main menu 1 (billing), billing menu 2 (question about a charge) -> queue billing
    return CallerScript.parse(
        "1 2", caller=CallerId(f"+1555123{n:04d}", f"Caller {n}"), uniqueid=f"1795389902.{n}"
    )


def _write_config(tmp_path: Path, *, fastagi: int, web: int, grace_s: float = 30) -> Path:
    flows = tmp_path / "dialplan" / "flows"
    flows.mkdir(parents=True, exist_ok=True)
    (flows / "main.yaml").write_text(FLOW, encoding="utf-8")
    path = tmp_path / "callpop.yaml"
    path.write_text(
        f"fastagi: 127.0.0.1:{fastagi}\nweb: 127.0.0.1:{web}\n"
        "database: sqlite:///./callpop.db\ndialplan: ./dialplan\n"
        f"shutdown_grace_s: {grace_s}\n",
        encoding="utf-8",
    )
    return path


def _metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[TestServer, int]]:
    config = load_config(
        _write_config(tmp_path, fastagi=0, web=0), environ={"CALLPOP_WEB_SECRET": "k" * 32}
    )
    runtime = await build_runtime(config, environ={"CALLPOP_WEB_SECRET": "k" * 32})
    await SqlScreenpopStore(runtime.engine).add_account("alice", "PJSIP/101", "agent", "x")
    app = build_app(runtime)
    app[BUS_KEY] = runtime.bus
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server, app[FASTAGI].port
    finally:
        await server.close()
        await runtime.aclose()


async def test_metrics_are_prometheus_text_and_count_calls_by_outcome(
    served: tuple[TestServer, int],
) -> None:
    server, agi_port = served
    async with aiohttp.ClientSession() as http:
        before = await (await http.get(server.make_url("/metrics"))).text()
        records = await asyncio.gather(
            *(call_fastagi("127.0.0.1", agi_port, _billing_call(n)) for n in range(3))
        )
        # The caller is handed back before the journey is saved and `ivr.ended` counted.
        async with asyncio.timeout(10):
            while True:
                after = await (await http.get(server.make_url("/metrics"))).text()
                if _metric(after, "callpop_calls_in_ivr", driver="fastagi") == 0:
                    break
                await asyncio.sleep(0.02)
    assert [r.variables.get("CALLPOP_QUEUE") for r in records] == ["billing"] * 3
    counted = _metric(after, "callpop_calls_total", driver="fastagi", outcome="queue")
    assert counted - _metric(before, "callpop_calls_total", driver="fastagi", outcome="queue") == 3


async def test_metrics_count_crm_write_backs_pending_failed_and_delivered(
    served: tuple[TestServer, int],
) -> None:
    server, _ = served
    outbox = server.app[RUNTIME].crm.outbox
    async with server.app[RUNTIME].engine.begin() as conn:
        for call_id in ("c1", "c2", "c3", "c4"):
            await enqueue(conn, call_id, "log_interaction", {"call_id": call_id}, outbox.now())
    first, second, third, _ = await outbox.claim()
    await outbox.delivered(first)
    await outbox.delivered(second)
    await outbox.failed(third, "log_interaction: CRM refused with HTTP 401")

    async with aiohttp.ClientSession() as http:
        text = await (await http.get(server.make_url("/metrics"))).text()

    counts = {
        state: _metric(text, "callpop_outbox_entries", state=state)
        for state in ("pending", "failed", "delivered")
    }
    assert counts == {"pending": 1, "failed": 1, "delivered": 2}


async def test_metrics_count_pops_offered_to_agents_and_their_latency(
    served: tuple[TestServer, int],
) -> None:
    server, agi_port = served
    record = await call_fastagi("127.0.0.1", agi_port, _billing_call(7))
    call_id = record.variables["CALLPOP_CALL_ID"]
    # What the AMI listener publishes on AgentCalled.
    server.app[BUS_KEY].publish(
        CallEvent(
            "agent.ringing",
            call_id,
            datetime.now(UTC).isoformat(timespec="milliseconds"),
            {"queue": "billing", "interface": "PJSIP/101", "member_name": "alice"},
        )
    )
    async with asyncio.timeout(10), aiohttp.ClientSession() as http:
        while True:
            text = await (await http.get(server.make_url("/metrics"))).text()
            if _metric(text, "callpop_pops_delivered_total", type="offered") >= 1:
                break
            await asyncio.sleep(0.02)
    assert _metric(text, "callpop_pop_latency_seconds_count") == 1


async def test_readyz_says_ready_once_everything_is_up(served: tuple[TestServer, int]) -> None:
    server, _ = served
    async with aiohttp.ClientSession() as http:
        response = await http.get(server.make_url("/readyz"))
    assert response.status == 200


# --- as an operator runs it: a process, a config file, signals ----------------------------


async def _run_serve(config: Path, *extra: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOP_")}
    env["CALLPOP_WEB_SECRET"] = "k" * 32
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callpop",
        "--config",
        str(config),
        "serve",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def _wait_ready(web_port: int, proc: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(60), aiohttp.ClientSession() as http:
        while proc.returncode is None:
            try:
                response = await http.get(f"http://127.0.0.1:{web_port}/readyz")
                if response.status == 200:
                    return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    err = await proc.stderr.read() if proc.stderr is not None else b""
    raise AssertionError(f"callpop serve exited before it was ready: {err.decode()[-2000:]}")


async def test_a_bad_config_exits_1_naming_file_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "callpop.yaml"
    config.write_text("web: 127.0.0.1:8080\nfastagi: nonsense\n", encoding="utf-8")
    proc = await _run_serve(config)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert f"{config}:2:1" in err.decode()


async def test_a_busy_port_exits_1_saying_which_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = _write_config(tmp_path, fastagi=port, web=_free_port())
        proc = await _run_serve(config)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert re.search(rf"FastAGI on 127\.0\.0\.1:{port}: the port is already in use", err.decode())


@pytest.mark.slow
async def test_sigterm_during_50_live_calls_lets_them_finish_and_saves_every_journey(
    tmp_path: Path,
) -> None:
    agi_port, web_port = _free_port(), _free_port()
    config = _write_config(tmp_path, fastagi=agi_port, web=web_port, grace_s=60)
    proc = await _run_serve(config)
    await _wait_ready(web_port, proc)
    # Prompts play at a fifth of real time: every call is mid-IVR when SIGTERM lands.
    slow = SimOptions(time_scale=0.2)
    calls_task = asyncio.gather(
        *(call_fastagi("127.0.0.1", agi_port, _billing_call(n), options=slow) for n in range(50))
    )
    async with asyncio.timeout(60), aiohttp.ClientSession() as http:
        while True:
            text = await (await http.get(f"http://127.0.0.1:{web_port}/metrics")).text()
            if _metric(text, "callpop_calls_in_ivr", driver="fastagi") == 50:
                break
            await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    records = await asyncio.wait_for(calls_task, 120)
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert [r.variables.get("CALLPOP_OUTCOME") for r in records] == ["queue"] * 50

    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    try:
        async with engine.connect() as conn:
            saved = (await conn.execute(select(journeys.c.call_id))).scalars().all()
            outcomes = (await conn.execute(select(calls.c.outcome))).scalars().all()
    finally:
        await engine.dispose()
    assert len(saved) == 50
    assert set(outcomes) == {"queue"}


@pytest.mark.slow
async def test_sigterm_with_no_grace_during_a_burst_still_writes_every_calls_journey(
    tmp_path: Path,
) -> None:
    agi_port, web_port = _free_port(), _free_port()
    config = _write_config(tmp_path, fastagi=agi_port, web=web_port, grace_s=0)
    proc = await _run_serve(config)
    await _wait_ready(web_port, proc)
    # Asterisk answering at once: calls end faster than journeys are written, so many
    # are still queued when the signal lands, and the calls still in the IVR are
    # cancelled at once (no grace) and sent back to the dialplan.
    finished: list[CallRecord | OSError] = []
    hundred_done = asyncio.Event()

    async def call(n: int) -> CallRecord | OSError:
        result: CallRecord | OSError
        try:
            result = await call_fastagi("127.0.0.1", agi_port, _billing_call(n))
        except OSError as exc:  # refused: the server had stopped accepting
            result = exc
        finished.append(result)
        if len(finished) == 100:
            hundred_done.set()
        return result

    calls_task = asyncio.gather(*(call(n) for n in range(300)))
    await asyncio.wait_for(hundred_done.wait(), 60)
    proc.send_signal(signal.SIGTERM)
    results = await asyncio.wait_for(calls_task, 120)
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]
    served = [r for r in results if isinstance(r, CallRecord)]
    served_ids = {
        r.variables["CALLPOP_CALL_ID"] for r in served if "CALLPOP_CALL_ID" in r.variables
    }
    assert len([r for r in served if r.variables.get("CALLPOP_OUTCOME") == "queue"]) >= 100

    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    try:
        async with engine.connect() as conn:
            saved = set((await conn.execute(select(journeys.c.call_id))).scalars().all())
            rows = set((await conn.execute(select(calls.c.call_id))).scalars().all())
    finally:
        await engine.dispose()
    assert served_ids <= saved
    assert rows == saved
    assert "Traceback" not in err.decode()


def test_fastagi_holds_as_many_calls_as_the_open_file_limit_leaves_beside_the_rest() -> None:
    assert fastagi_max_calls(20_000, 40) == 20_000 - 40 - FASTAGI_FD_MARGIN


def test_fastagi_takes_a_call_even_when_the_open_file_limit_leaves_nothing() -> None:
    # The limit is logged at start; a call it cannot hold fails on its own.
    assert fastagi_max_calls(100, 90) == 1


async def test_served_fastagi_holds_at_most_what_the_open_file_limit_leaves(
    served: tuple[TestServer, int],
) -> None:
    server, _port = served
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    max_calls = server.app[FASTAGI].max_calls
    assert max_calls is not None and 0 < max_calls <= soft - FASTAGI_FD_MARGIN
