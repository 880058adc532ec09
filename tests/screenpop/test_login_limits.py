"""Login floods over HTTP: how many password checks a burst of guesses gets, how many
run at once, and whom a lockout locks. argon2 verifications are counted in the hasher
the app is given (argon2-cffi's own class), through the real login form."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest
from argon2 import PasswordHasher

from screenpop.auth import Passwords
from tests.screenpop.conftest import PASSWORD, Desk, make_desk


class CountingHasher(PasswordHasher):
    """argon2id at a test's cost, counting verifications and how many ran at once.
    Each one is held a little (as a real 64 MiB verification is) so that concurrent
    ones overlap."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.verified += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(0.02)
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


async def counted_desk(
    tmp_path: Path, **settings: Any
) -> AsyncIterator[tuple[Desk, CountingHasher]]:
    hasher = CountingHasher()
    async for desk in make_desk(tmp_path, passwords=Passwords(hasher), settings=settings):
        hasher.verified = hasher.peak = 0  # the accounts' creation verified nothing, but be sure
        yield desk, hasher


async def form_token(desk: Desk) -> str:
    async with desk.session() as browser, browser.get(f"{desk.url}/login") as page:
        html = await page.text()
    return html.split('name="_csrf" value="', 1)[1].split('"', 1)[0]


async def guess(
    http: aiohttp.ClientSession,
    desk: Desk,
    token: str,
    name: str,
    password: str = "wrong guess",
    **headers: str,
) -> int:
    """One login POST carrying the form's token in the cookie and the field."""
    async with http.post(
        f"{desk.url}/login",
        allow_redirects=False,
        data={"_csrf": token, "name": name, "password": password},
        headers={"Cookie": f"callpop_login={token}", **headers},
    ) as response:
        await response.read()
        return response.status


async def burst(
    desk: Desk,
    names: list[str],
    headers: Sequence[Mapping[str, str]] | None = None,
    password: str = "wrong guess",
) -> list[int]:
    token = await form_token(desk)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(), connector=connector
    ) as http:
        return list(
            await asyncio.gather(
                *(
                    guess(http, desk, token, name, password, **(headers[n] if headers else {}))
                    for n, name in enumerate(names)
                )
            )
        )


async def test_sixty_simultaneous_guesses_at_one_user_get_five_password_checks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async for desk, hasher in counted_desk(tmp_path):
        statuses = await burst(desk, ["alice"] * 60)
        assert hasher.verified == 5
        assert statuses.count(401) == 5 and statuses.count(429) == 55
        locked = [r.getMessage() for r in caplog.records if "too many attempts" in r.getMessage()]
        assert len(locked) == 1  # once when the name is locked, not per guess


async def test_sixty_simultaneous_guesses_at_sixty_names_get_the_addresss_twenty(
    tmp_path: Path,
) -> None:
    async for desk, hasher in counted_desk(tmp_path):
        statuses = await burst(desk, [f"user{n}" for n in range(60)])
        assert hasher.verified == 20
        assert statuses.count(401) == 20 and statuses.count(429) == 40


async def test_an_unknown_name_costs_one_password_check_like_a_known_one(tmp_path: Path) -> None:
    async for desk, hasher in counted_desk(tmp_path):
        assert await burst(desk, ["mallory"]) == [401]
        assert hasher.verified == 1
        assert await burst(desk, ["alice"]) == [401]
        assert hasher.verified == 2


async def test_a_flood_from_many_addresses_runs_two_checks_at_a_time_and_refuses_the_excess(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async for desk, hasher in counted_desk(
        tmp_path,
        web_trusted_proxies=("127.0.0.1",),
        web_limits={"login_concurrent": 2, "login_waiting": 8},
    ):
        caplog.set_level(logging.INFO, logger="screenpop.views")
        headers = [{"X-Forwarded-For": f"203.0.113.{n}"} for n in range(60)]
        statuses = await burst(desk, [f"user{n}" for n in range(60)], headers)
        assert hasher.peak <= 2
        assert statuses.count(503) > 0  # refused at once, not queued without end
        assert hasher.verified == statuses.count(401) <= 60 - statuses.count(503)
        # the flood over, an agent logs in
        async with desk.session() as agent:
            assert (await desk.login(agent, "alice")).status == 302
        # said when the gate starts refusing and when it lets one through again, not
        # per refusal: the recoveries account for every 503
        said = [
            r.getMessage() for r in caplog.records if r.getMessage().startswith("password checks")
        ]
        assert said[0].startswith("password checks: 10 running and queued, refusing logins")
        recoveries = [int(m.split("(")[1].split()[0]) for m in said if "accepting" in m]
        assert len(said) == 2 * len(recoveries) and sum(recoveries) == statuses.count(503)


async def test_twenty_bad_logins_behind_the_proxy_do_not_lock_out_other_agents(
    tmp_path: Path,
) -> None:
    async for desk, _hasher in counted_desk(tmp_path, web_trusted_proxies=("127.0.0.1",)):
        stranger = {"X-Forwarded-For": "203.0.113.9"}
        statuses = await burst(desk, [f"user{n}" for n in range(20)], [stranger] * 20)
        assert statuses == [401] * 20
        assert await burst(desk, ["bob"], [stranger], password=PASSWORD) == [429]
        # every other agent, each from their own desk behind the same proxy
        for n, name in enumerate(("alice", "bob", "sue")):
            agent = {"X-Forwarded-For": f"198.51.100.{n + 1}"}
            assert await burst(desk, [name], [agent], password=PASSWORD) == [302]


async def test_a_forwarded_for_header_from_an_untrusted_peer_changes_nothing(
    tmp_path: Path,
) -> None:
    async for desk, hasher in counted_desk(tmp_path):  # no trusted proxies
        headers = [{"X-Forwarded-For": f"203.0.113.{n}"} for n in range(30)]
        statuses = await burst(desk, [f"user{n}" for n in range(30)], headers)
        assert hasher.verified == 20 and statuses.count(429) == 10


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.test/",
        "/%0a/evil.test/",
        "/%0d%0a/evil.test/",
        "/%5Cevil.test",
        "//evil.test/",
        "https://evil.test/",
        "/%20/evil.test",
        "%2F%2Fevil.test",
        "javascript:alert(1)",
        "/\\evil.test",
    ],
)
async def test_login_never_sends_the_agent_off_site(desk: Desk, target: str) -> None:
    async with desk.session() as browser:
        await desk.login(browser, "alice")
        async with browser.get(
            f"{desk.url}/login?next={target}", allow_redirects=False
        ) as response:
            assert response.status == 302
            assert response.headers["Location"] == "/agent"


async def test_login_returns_to_a_page_of_this_site(desk: Desk) -> None:
    async with desk.session() as browser:
        await desk.login(browser, "alice")
        async with browser.get(
            f"{desk.url}/login", params={"next": "/agent?tab=calls"}, allow_redirects=False
        ) as response:
            assert response.headers["Location"] == "/agent?tab=calls"
