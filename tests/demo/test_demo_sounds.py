"""The demo plays the prompts' recordings: `callpop demo --sounds DIR` with what
`callpop prompts render` made, the test phone's page playing each prompt the IVR
streams, for as long as the recording lasts."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import expect

from callpop.config import Config, HostPort
from callpop.demo.compose import DemoOptions, DemoServer
from callpop.demo.context import UNKNOWN_NUMBER
from callpop.demo.prompts import SAMPLES_PER_MS, PromptBook
from callpop.tts import Tools, plan, render
from ivr.loader import load_dialplan
from tests.demo.conftest import OPEN_TUESDAY, REPO
from tests.demo.web_client import Frames, heard
from tests.screenpop.browser import chromium, new_page, shot

MADE = ("acme-main-menu", "acme-welcome")


@pytest.fixture(scope="module")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two of the sample's prompts, spoken as `callpop prompts render` speaks them."""
    out = tmp_path_factory.mktemp("sounds")
    to_make, _ = plan(load_dialplan(REPO / "dialplan"))
    tools = Tools.find()
    for item in to_make:
        if item.sound in MADE:
            render(item, out, tools)
    return out


@pytest.fixture
async def demo_with_sounds(tmp_path: Path, sounds: Path) -> AsyncIterator[DemoServer]:
    config = Config.model_validate({"dialplan": str(REPO / "dialplan")})
    options = DemoOptions(
        web=HostPort("127.0.0.1", 0),
        fastagi=HostPort("127.0.0.1", 0),
        database=tmp_path / "demo.db",
        customers=20,
        seed=1,
        at=OPEN_TUESDAY,
        pace=1.0,
        sounds=sounds,
    )
    async with DemoServer(config, options, environ={}) as server:
        yield server


def _samples(path: Path) -> int:
    with wave.open(str(path)) as audio:
        frames: int = audio.getnframes()
        rate: int = audio.getframerate()
        return frames * 8000 // rate


def test_a_prompt_with_a_recording_lasts_as_long_as_it(sounds: Path) -> None:
    book = PromptBook.from_flows(load_dialplan(REPO / "dialplan").flows.values(), sounds=sounds)
    menu = sounds / "en" / "acme-main-menu.wav"
    assert book.samples("acme-main-menu") == _samples(menu)
    assert set(book.recordings) == set(MADE)
    # Without a recording, the length is still made up from the words.
    assert book.samples("acme-billing-menu") > 8 * SAMPLES_PER_MS


def test_a_file_that_is_not_wav_or_a_name_that_climbs_is_no_recording(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "acme-main-menu.wav").write_bytes(b"RIFF but not really")
    book = PromptBook.from_flows(load_dialplan(REPO / "dialplan").flows.values(), sounds=tmp_path)
    assert book.recordings == {}


async def test_the_phone_is_told_the_recording_and_can_fetch_only_those(
    demo_with_sounds: DemoServer, sounds: Path
) -> None:
    urls = demo_with_sounds.urls
    assert urls is not None
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(urls.base + "/demo/phone/ws") as phone_ws:
            phone = Frames(phone_ws)
            await phone.send({"type": "dial", "number": UNKNOWN_NUMBER})
            menu = await phone.until(heard("For billing and payments, press 1"))
            await phone.send({"type": "hangup"})
        served = await http.get(urls.base + menu["audio"])
        body = await served.read()
        missing = await http.get(urls.base + "/demo/sounds/acme-billing-menu.wav")
        climbing = await http.get(urls.base + "/demo/sounds/..%2F..%2Fetc%2Fpasswd.wav")
    assert menu["audio"] == "/demo/sounds/acme-main-menu.wav"
    assert abs(menu["ms"] - _samples(sounds / "en" / "acme-main-menu.wav") / SAMPLES_PER_MS) <= 1
    assert (served.status, served.headers["Content-Type"]) == (200, "audio/wav")
    assert body == (sounds / "en" / "acme-main-menu.wav").read_bytes()
    assert (missing.status, climbing.status) == (404, 404)


@pytest.mark.browser
async def test_the_test_phone_plays_the_rendered_menu_in_chromium(
    demo_with_sounds: DemoServer, sounds: Path
) -> None:
    urls = demo_with_sounds.urls
    assert urls is not None
    async with chromium() as browser:
        _, page = await new_page(browser, "1366")
        await page.goto(urls.phone)
        await expect(page.locator("#conn-status")).to_have_class("conn conn-up")
        await page.click(".caller-unknown")  # not a VIP: the main menu, not straight to a queue
        await page.click("#call-btn")
        # The greetings first, at the real pace (no recording: their length from the words).
        await expect(page.locator("#np-text")).to_contain_text(
            "For billing and payments", timeout=30_000
        )
        box = page.locator("#now-playing")
        await expect(box).to_have_attribute("data-audio", "playing")
        audio = page.locator("#np-audio")
        await expect(audio).to_have_attribute("src", "/demo/sounds/acme-main-menu.wav")
        # Playing, for as long as the file lasts (the browser decoded it).
        await page.wait_for_function(
            "() => { const a = document.getElementById('np-audio');"
            " return !a.paused && a.currentTime > 0.2; }",
            timeout=15_000,
        )
        duration = await audio.evaluate("a => a.duration")
        await shot(page, "demo-phone-playing-rendered-prompt")
    seconds = _samples(sounds / "en" / "acme-main-menu.wav") / 8000
    assert abs(duration - seconds) < 0.05
