"""Hot reload, as an operator does it: `callpop serve` runs, calls are in progress, the
admin edits `dialplan/` and runs `callpop reload` (or sends SIGHUP). Asterisk is played
by the FastAGI simulator over real sockets; journeys are read back from the database."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from callpop.control import request
from callpop.pbx_sim.agi_channel import SimOptions
from callpop.pbx_sim.fastagi import CallRecord, call_fastagi
from callpop.pbx_sim.script import CallerId, CallerScript
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.tables import journeys
from ivr.version import hash_dialplan
from tests.callpop.test_serve import FLOW, _wait_ready
from tests.ports import free_port
from tests.redis_server import require_machine_redis, unique_key

# The main menu's prompt lasts 40 s and the caller presses 1 after 20 s of it, so every
# call of the first wave is inside the IVR for ~20 s: the reload lands among them.
LONG_MENU = SimOptions(time_scale=1.0, sounds=(("acme-main-menu", 8000 * 40),))
SLOW_CALLER = "1@20000 2"


def _write_flow(tmp_path: Path, queue: str, *, flow: str = FLOW) -> str:
    path = tmp_path / "dialplan" / "flows" / "main.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(flow.replace("queue: billing\n", f"queue: {queue}\n"), encoding="utf-8")
    return hash_dialplan(tmp_path / "dialplan")


def _write_config(
    tmp_path: Path, *, fastagi: int, web: int, dialplan: str = "./dialplan", extra: str = ""
) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "callpop.yaml"
    path.write_text(
        f"fastagi: 127.0.0.1:{fastagi}\nweb: 127.0.0.1:{web}\n"
        f"database: sqlite:///./callpop.db\ndialplan: {dialplan}\n"
        "reload: {socket: ./callpop.ctl}\n" + extra,
        encoding="utf-8",
    )
    return path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOP_")}
    env["CALLPOP_WEB_SECRET"] = "k" * 32
    return env


async def _callpop(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callpop", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_env(),
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


class Served:
    """`callpop serve` in a subprocess, with its ports and config."""

    def __init__(self, tmp_path: Path, *, dialplan: str = "./dialplan", extra: str = "") -> None:
        self.tmp_path = tmp_path
        self.agi_port, self.web_port = free_port(), free_port()
        self.config = _write_config(
            tmp_path, fastagi=self.agi_port, web=self.web_port, dialplan=dialplan, extra=extra
        )
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callpop", "serve", "--config", str(self.config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_env(),
        )  # fmt: skip
        await _wait_ready(self.web_port, self.proc)

    async def calls_in_ivr(self) -> float:
        async with aiohttp.ClientSession() as http:
            text = await (await http.get(f"http://127.0.0.1:{self.web_port}/metrics")).text()
        for line in text.splitlines():
            if line.startswith('callpop_calls_in_ivr{driver="fastagi"}'):
                return float(line.split()[-1])
        return 0.0

    async def wait_in_ivr(self, count: int) -> None:
        async with asyncio.timeout(60):
            while True:
                if await self.calls_in_ivr() >= count:
                    return
                await asyncio.sleep(0.1)

    def place(self, numbers: Sequence[int], keys: str, options: SimOptions) -> asyncio.Future[Any]:
        def caller(n: int) -> CallerScript:
            number = CallerId(f"+1555123{n:04d}", f"Caller {n}")
            return CallerScript.parse(keys, caller=number, uniqueid=f"1795389902.{n}")

        return asyncio.gather(
            *(call_fastagi("127.0.0.1", self.agi_port, caller(n), options=options) for n in numbers)
        )

    async def stop(self) -> str:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(self.proc.communicate(), 120)
        assert self.proc.returncode == 0, err.decode()[-3000:]
        return err.decode()

    async def journeys(self) -> dict[str, dict[str, Any]]:
        engine = create_engine(f"sqlite:///{self.tmp_path / 'callpop.db'}")
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(select(journeys.c.call_id, journeys.c.data))).all()
        finally:
            await engine.dispose()
        return {call_id: data for call_id, data in rows}


def _queues(records: Sequence[CallRecord]) -> set[str | None]:
    return {r.variables.get("CALLPOP_QUEUE") for r in records}


@pytest.mark.slow
async def test_a_reload_under_200_live_calls_lets_each_finish_on_its_version(
    tmp_path: Path,
) -> None:
    old = _write_flow(tmp_path, "billing")
    served = Served(tmp_path)
    await served.start()
    try:
        live = served.place(range(200), SLOW_CALLER, LONG_MENU)
        await served.wait_in_ivr(200)
        new = _write_flow(tmp_path, "billing-v2")
        code, out, err = await _callpop("--config", str(served.config), "reload")
        assert code == 0, err
        assert out.strip() == (
            f"version {new} is running (was {old}); calls in progress finish on theirs"
        )
        assert await served.calls_in_ivr() >= 150  # the reload landed among live calls
        after = await served.place(range(200, 220), "1 2", SimOptions())
        before = await asyncio.wait_for(live, 120)
    finally:
        log = await served.stop()

    assert _queues(before) == {"billing"}  # the old version's transfer, to its end
    assert _queues(after) == {"billing-v2"}
    saved = await served.journeys()
    assert len(saved) == 220
    versions = {r.variables["CALLPOP_CALL_ID"]: r for r in before}
    assert {saved[call_id]["version"]["hash"] for call_id in versions} == {old}
    assert {saved[r.variables["CALLPOP_CALL_ID"]]["version"]["hash"] for r in after} == {new}
    assert f"dialplan: version {new} taken (control; was {old})" in log


@pytest.mark.slow
async def test_a_bad_version_is_refused_with_its_findings_while_calls_go_on(
    tmp_path: Path,
) -> None:
    old = _write_flow(tmp_path, "billing")
    served = Served(tmp_path)
    await served.start()
    try:
        live = served.place(range(50), SLOW_CALLER, LONG_MENU)
        await served.wait_in_ivr(50)
        broken = FLOW.replace("goto: sales, topic: sales", "goto: saels, topic: sales")
        _write_flow(tmp_path, "billing-v2", flow=broken)
        code, out, err = await _callpop("--config", str(served.config), "reload")
        assert code == 1
        flow_file = tmp_path / "dialplan" / "flows" / "main.yaml"
        assert out.splitlines() == [
            f"{flow_file}:12:19: error: option 2 of 'main_menu' goes to 'saels', which is not "
            "a node of this flow (did you mean 'sales'?) [dangling-target]"
        ]
        assert f"refused, 1 error; version {old} keeps running" in err
        after = await served.place(range(50, 60), "1 2", SimOptions())
        before = await asyncio.wait_for(live, 120)
        status, version = await request(tmp_path / "callpop.ctl", "GET", "/version")
    finally:
        log = await served.stop()

    assert (status, version["hash"]) == (200, old)
    assert _queues(before) == _queues(after) == {"billing"}
    saved = await served.journeys()
    assert {data["version"]["hash"] for data in saved.values()} == {old}
    assert len(saved) == 60
    assert f"new version refused (control), 1 error(s); version {old} keeps running" in log
    assert f"dialplan: {out.strip()}" in log


async def test_sighup_reloads_serve(tmp_path: Path) -> None:
    _write_flow(tmp_path, "billing")
    served = Served(tmp_path)
    await served.start()
    try:
        new = _write_flow(tmp_path, "billing-v2")
        assert served.proc is not None
        served.proc.send_signal(signal.SIGHUP)
        async with asyncio.timeout(30):
            while True:
                _, running = await request(tmp_path / "callpop.ctl", "GET", "/version")
                if running["hash"] == new:
                    break
                await asyncio.sleep(0.1)
        record = (await served.place([1], "1 2", SimOptions()))[0]
    finally:
        log = await served.stop()
    assert record.variables["CALLPOP_QUEUE"] == "billing-v2"
    assert f"version {new} taken (signal" in log


async def test_reload_without_a_running_serve_exits_1_naming_the_socket(tmp_path: Path) -> None:
    config = _write_config(tmp_path, fastagi=free_port(), web=free_port())
    code, _, err = await _callpop("reload", "--config", str(config))
    assert code == 1
    assert f"callpop reload: no callpop serve answers on {tmp_path / 'callpop.ctl'}" in err


@pytest.mark.redis
@pytest.mark.slow
async def test_every_instance_on_the_bus_takes_the_version_one_of_them_was_asked_to_take(
    tmp_path: Path,
) -> None:
    redis_url = require_machine_redis()
    shared = tmp_path / "shared"
    old = _write_flow(shared, "billing")
    bus = f"bus: {redis_url}\nbus_key: '{unique_key()}'\n"
    instances = [
        Served(tmp_path / name, dialplan=str(shared / "dialplan"), extra=bus) for name in "ab"
    ]
    for instance in instances:
        await instance.start()
    try:
        new = _write_flow(shared, "billing-v2")
        code, out, err = await _callpop("--config", str(instances[0].config), "reload")
        assert code == 0, err
        assert out.startswith(f"version {new} is running (was {old})")
        other = instances[1].tmp_path / "callpop.ctl"
        async with asyncio.timeout(30):
            while True:
                _, running = await request(other, "GET", "/version")
                if running["hash"] == new:
                    break
                await asyncio.sleep(0.1)
        [record] = await instances[1].place([1], "1 2", SimOptions())
    finally:
        logs = [await instance.stop() for instance in instances]
    assert record.variables["CALLPOP_QUEUE"] == "billing-v2"
    assert f"version {new} taken (control; was {old})" in logs[0]
    assert f"version {new} taken (notice; was {old})" in logs[1]
