"""A `callpop serve` process killed mid-call and started again, as an operator meets it:
the IVR through the FastAGI simulator, the queue through the AMI simulator, the agent's
and the supervisor's pages as websockets. After the restart the live pop and the
wrap-up come back on the agent's socket, their dispositions are accepted, the
wallboard's totals are the day's, and the queue events of every call are rows."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_events import Ids, QueueCall, Snapshot, Writer
from callpop.pbx_sim.fastagi import call_fastagi
from callpop.pbx_sim.script import CallerId, CallerScript
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from crm_adapter.sql.tables import queue_events
from screenpop.auth import Passwords
from screenpop.sqlstore import SqlScreenpopStore
from tests.ports import free_port as _free_port
from tests.screenpop.wsclient import Tab, open_tab

PASSWORD = "correct horse battery"
FLOW = """\
entry: menu
nodes:
  menu:
    type: menu
    prompts: [{sound: acme-main-menu, text: "For billing press 1."}]
    options:
      "1": {goto: billing, topic: billing}
  billing:
    type: transfer
    queue: billing
"""
DISPOSITIONS = "dispositions:\n  resolved: {label: Resolved}\n"


class Serve:
    """One `callpop serve` process of the test's config; `start` again after `kill`."""

    def __init__(self, tmp_path: Path, ami: AMIServer) -> None:
        self.web = _free_port()
        self.agi = _free_port()
        self.url = f"http://127.0.0.1:{self.web}"
        dialplan = tmp_path / "dialplan"
        (dialplan / "flows").mkdir(parents=True)
        (dialplan / "flows" / "main.yaml").write_text(FLOW, encoding="utf-8")
        (dialplan / "dispositions.yaml").write_text(DISPOSITIONS, encoding="utf-8")
        self.database = tmp_path / "callpop.db"
        self.config = tmp_path / "callpop.yaml"
        self.config.write_text(
            f"fastagi: 127.0.0.1:{self.agi}\nweb: 127.0.0.1:{self.web}\n"
            f"database: sqlite:///{self.database}\ndialplan: {dialplan}\n"
            f"ami: {{host: 127.0.0.1, port: {ami.port}, username: callpop}}\n",
            encoding="utf-8",
        )
        self.log = tmp_path / "serve.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOP_")}
        env["CALLPOP_WEB_SECRET"] = "k" * 32
        env["CALLPOP_AMI__SECRET"] = "pw"
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "callpop",
                "--config",
                str(self.config),
                "serve",
                stdout=log,
                stderr=log,
                env=env,
            )
        async with asyncio.timeout(60), aiohttp.ClientSession() as http:
            while self.proc.returncode is None:
                try:
                    async with http.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(
            "callpop serve exited before it was ready:\n"
            + self.log.read_text(encoding="utf-8")[-2000:]
        )

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
                raise AssertionError(
                    "callpop serve did not stop within 30 s of SIGTERM:\n"
                    + self.log.read_text(encoding="utf-8", errors="replace")[-4000:]
                ) from None


@pytest.fixture
async def pbx() -> AsyncIterator[AMIServer]:
    async with AMIServer(username="callpop", secret="pw") as server:
        yield server


@pytest.fixture
async def serve(tmp_path: Path, pbx: AMIServer) -> AsyncIterator[Serve]:
    instance = Serve(tmp_path, pbx)
    engine = create_engine(f"sqlite:///{instance.database}")
    try:
        await upgrade(engine)
        store = SqlScreenpopStore(engine)
        passwords = Passwords()
        await store.add_account("alice", "PJSIP/101", "agent", passwords.hash(PASSWORD))
        await store.add_account("sue", "PJSIP/200", "supervisor", passwords.hash(PASSWORD))
    finally:
        await engine.dispose()
    try:
        yield instance
    finally:
        await instance.stop()


async def logged_in(url: str, name: str) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get(f"{url}/login") as page:
        html = await page.text()
    token = html.split('name="_csrf" value="', 1)[1].split('"', 1)[0]
    async with session.post(
        f"{url}/login",
        allow_redirects=False,
        data={"_csrf": token, "name": name, "password": PASSWORD},
    ) as r:
        assert r.status == 302, f"login as {name}: {r.status}"
    return session


async def dispose(url: str, session: aiohttp.ClientSession, call: str) -> int:
    async with session.get(f"{url}/agent") as page:
        html = await page.text()
    token = html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
    async with session.post(
        f"{url}/api/v1/calls/{call}/disposition",
        json={"disposition": "resolved", "notes": "done"},
        headers={"X-CSRF-Token": token},
    ) as response:
        return response.status


async def ivr_call(serve: Serve, n: int) -> str:
    """A caller through the IVR to the billing queue; the call id the IVR gave it."""
    script = CallerScript.parse(
        "1", caller=CallerId(f"+1555123{n:04d}", f"Caller {n}"), uniqueid=f"1795389902.{n}"
    )
    record = await call_fastagi("127.0.0.1", serve.agi, script)
    return record.variables["CALLPOP_CALL_ID"]


def in_queue(call_id: str, n: int) -> QueueCall:
    """The call as the queue's AMI events show it, offered to alice's phone."""
    uid = f"1795389902.{n}"
    caller = Snapshot(
        channel=f"PJSIP/trunk-{n:08x}",
        uniqueid=uid,
        linkedid=uid,
        context="callpop-route",
        exten="queue",
        priority=3,
        caller_num=f"+1555123{n:04d}",
        caller_name=f"Caller {n}",
        variables=(("CALLPOP_CALL_ID", call_id),),
    )
    return QueueCall(caller, "billing", "PJSIP/101", "alice", Ids("1795389902", 100 * n), Writer())


async def board_totals(tab: Tab, **expected: int) -> dict[str, Any]:
    frame = await tab.until(
        lambda f: (
            f["type"] == "wallboard"
            and all(f["board"]["totals"][k] == v for k, v in expected.items())
        )
    )
    return dict(frame["board"]["totals"])


async def reset_pops(tab: Tab) -> dict[str, str]:
    await tab.until_type("reset")
    pops: dict[str, str] = {}
    while (frame := await tab.next())["type"] != "alert":
        if frame["type"].startswith("pop."):
            pops[frame["pop"]["call_id"]] = frame["pop"]["state"]
    return pops


async def test_a_serve_killed_mid_call_gives_the_agent_back_their_pops_and_counts(
    serve: Serve, pbx: AMIServer
) -> None:
    await serve.start()
    await pbx.wait_logins(1)
    alice, sue = await logged_in(serve.url, "alice"), await logged_in(serve.url, "sue")
    try:
        tab = await open_tab(alice, serve.url)
        welcome = await tab.until_type("welcome")
        board = await open_tab(sue, serve.url, view="wallboard")

        # a call that rang alice without an answer, then again, and went to wrap-up
        wrapped = await ivr_call(serve, 1)
        first = in_queue(wrapped, 1)
        pbx.emit(first.joined() + first.agent_called() + first.ring_no_answer())
        await tab.until_type("pop.retracted", wrapped)
        pbx.emit(first.agent_called() + first.answered() + first.completed())
        await tab.until_type("pop.wrapup", wrapped)
        # a caller who gave up waiting
        gone = await ivr_call(serve, 2)
        second = in_queue(gone, 2)
        pbx.emit(second.joined() + second.abandoned(12, caller_hung_up=True))
        # the call alice is on when the process dies
        live = await ivr_call(serve, 3)
        third = in_queue(live, 3)
        pbx.emit(third.joined() + third.agent_called() + third.answered())
        last = await tab.until_type("pop.accepted", live)
        before = await board_totals(board, handled=2, abandoned=1, talking=1)
        async with alice.get(f"{serve.url}/api/v1/calls/today") as response:
            assert {c["call_id"]: c["state"] for c in (await response.json())["calls"]} == {
                wrapped: "wrapup",
                live: "live",
            }

        await serve.kill()
        await serve.start()
        await pbx.wait_logins(2)

        # the page reconnects as it does, saying what it saw last
        tab = await open_tab(alice, serve.url, since=last["seq"], epoch=welcome["epoch"])
        assert await reset_pops(tab) == {wrapped: "wrapup", live: "accepted"}
        assert await dispose(serve.url, alice, live) == 200
        assert await dispose(serve.url, alice, wrapped) == 200
        await tab.until_type("pop.done", wrapped)
        pbx.emit(third.completed())  # disposed during the call: done when it ends
        await tab.until_type("pop.done", live)
        board = await open_tab(sue, serve.url, view="wallboard")
        after = await board_totals(board, handled=2, abandoned=1)
        assert (after["handled"], after["abandoned"]) == (before["handled"], before["abandoned"])
    finally:
        await alice.close()
        await sue.close()
    await serve.stop()

    engine = create_engine(f"sqlite:///{serve.database}")
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        queue_events.c.call_id, queue_events.c.kind, queue_events.c.reason
                    ).order_by(queue_events.c.at, queue_events.c.id)
                )
            ).all()
    finally:
        await engine.dispose()
    story: dict[str, list[tuple[str, str | None]]] = {}
    for row in rows:
        story.setdefault(row.call_id, []).append((row.kind, row.reason))
    assert story[wrapped] == [
        ("joined", None),
        ("offered", None),
        ("no_answer", None),
        ("withdrawn", "no_answer"),
        ("offered", None),
        ("left", "connected"),
        ("connected", None),
        ("completed", "agent"),
        ("hungup", None),
    ]
    assert story[gone] == [("joined", None), ("abandoned", "abandoned"), ("hungup", None)]
    assert story[live] == [
        ("joined", None),
        ("offered", None),
        ("left", "connected"),
        ("connected", None),
        ("completed", "agent"),
        ("hungup", None),
    ]
