"""`callpop serve` restarted with `web_secret_file` set, as the docs advise: agents stay
logged in, and a cookie logged out before the restart stays logged out after it."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from screenpop.auth import Passwords
from screenpop.sqlstore import SqlScreenpopStore
from tests.callpop.serving import start_serve
from tests.callpop.test_serve import _wait_ready, _write_config
from tests.ports import free_port as _free_port

PASSWORD = "correct horse battery"


async def stop(proc: asyncio.subprocess.Process) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    return err.decode()


async def log_in(http: aiohttp.ClientSession, base: str, name: str) -> str:
    async with http.get(f"{base}/login") as page:
        token = (await page.text()).split('name="_csrf" value="', 1)[1].split('"', 1)[0]
    async with http.post(
        f"{base}/login",
        allow_redirects=False,
        data={"_csrf": token, "name": name, "password": PASSWORD},
    ) as response:
        assert response.status == 302
    return http.cookie_jar.filter_cookies(URL(base))["callpop_session"].value


async def page_status(base: str, cookie: str) -> int:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        http.cookie_jar.update_cookies({"callpop_session": cookie}, URL(base))
        async with http.get(f"{base}/agent", allow_redirects=False) as response:
            return response.status


@pytest.mark.slow
async def test_a_logged_out_cookie_stays_refused_after_a_restart(tmp_path: Path) -> None:
    web_port = _free_port()
    config = _write_config(tmp_path, fastagi=0, web=web_port)
    (tmp_path / "web.secret").write_text("s" * 40 + "\n", encoding="utf-8")
    with config.open("a", encoding="utf-8") as extra:
        extra.write("web_secret_file: ./web.secret\n")
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    try:
        await upgrade(engine)
        store = SqlScreenpopStore(engine)
        digest = Passwords().hash(PASSWORD)
        await store.add_account("alice", "PJSIP/101", "agent", digest)
        await store.add_account("bob", "PJSIP/102", "agent", digest)
    finally:
        await engine.dispose()
    base = f"http://127.0.0.1:{web_port}"

    proc = await start_serve(config)
    await _wait_ready(web_port, proc)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as alice:
        stolen = await log_in(alice, base, "alice")
        async with alice.get(f"{base}/agent") as page:
            csrf = (
                (await page.text())
                .split('<meta name="csrf-token" content="', 1)[1]
                .split('"', 1)[0]
            )
        async with alice.post(
            f"{base}/logout", data={"_csrf": csrf}, allow_redirects=False
        ) as response:
            assert response.status == 302
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as bob:
        kept = await log_in(bob, base, "bob")
    assert await page_status(base, stolen) == 302
    await stop(proc)

    proc = await start_serve(config)
    await _wait_ready(web_port, proc)
    try:
        assert await page_status(base, kept) == 200  # the same key: bob is still in
        assert await page_status(base, stolen) == 302  # the logout outlived the restart
    finally:
        await stop(proc)
