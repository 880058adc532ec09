"""Reload across instances and by watching the folder, with the reloader in process:
two instances sharing one bus (the in-process one; the Redis bus implements the same
protocol) and one dialplan folder."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callpop.reload import NOTICE, DialplanReloader, load_versioned
from ivr.compiled import LiveFlows
from ivr.version import content_hash, dialplan_files, hash_dialplan
from screenpop.bus import InProcessBus

FLOW = """\
entry: menu
nodes:
  menu:
    type: menu
    prompts: [{sound: acme-main-menu, text: "For billing press 1."}]
    options:
      "1": {goto: billing}
  billing:
    type: transfer
    queue: QUEUE
"""


def _now() -> datetime:
    return datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def _write(folder: Path, queue: str, text: str = FLOW) -> None:
    (folder / "flows").mkdir(parents=True, exist_ok=True)
    (folder / "flows" / "main.yaml").write_text(text.replace("QUEUE", queue), encoding="utf-8")


async def _until(done: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while True:
            if done():
                return
            await asyncio.sleep(0.01)


def _instance(folder: Path, bus: InProcessBus, name: str) -> DialplanReloader:
    _, flows = load_versioned(folder, _now())
    return DialplanReloader(folder, LiveFlows(flows), bus=bus, clock=_now, instance=name)


def test_the_version_hash_is_the_content_of_the_files_wherever_they_are(tmp_path: Path) -> None:
    _write(tmp_path / "a", "billing")
    _write(tmp_path / "b", "billing")
    assert hash_dialplan(tmp_path / "a") == hash_dialplan(tmp_path / "b")
    # What a tool does from a git revision: the same relative paths and bytes.
    blobs = {"flows/main.yaml": FLOW.replace("QUEUE", "billing").encode()}
    assert content_hash(blobs) == hash_dialplan(tmp_path / "a")
    assert set(dialplan_files(tmp_path / "a")) == {"flows/main.yaml"}
    _write(tmp_path / "b", "billing-v2")
    assert hash_dialplan(tmp_path / "b") != hash_dialplan(tmp_path / "a")


async def test_every_instance_takes_the_version_another_one_was_asked_to_take(
    tmp_path: Path,
) -> None:
    bus = InProcessBus()
    _write(tmp_path, "billing")
    first, second = _instance(tmp_path, bus, "a"), _instance(tmp_path, bus, "b")
    async with first.running(watch_s=0), second.running(watch_s=0):
        await asyncio.sleep(0)  # both follow the bus now
        _write(tmp_path, "billing-v2")
        result = await first.reload("control")
        await _until(lambda: second.version.hash == result.running.hash)
    assert result.accepted and not result.unchanged
    assert second.live.current["main"].nodes["billing"].queue == "billing-v2"  # type: ignore[union-attr]


async def test_a_notice_for_another_hash_than_the_folder_gives_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = InProcessBus()
    other = tmp_path / "other"
    _write(tmp_path, "billing")
    _write(other, "billing")
    first, second = _instance(tmp_path, bus, "a"), _instance(other, bus, "b")
    async with first.running(watch_s=0), second.running(watch_s=0):
        await asyncio.sleep(0)
        _write(tmp_path, "billing-v2")
        _write(other, "billing-v3")  # not the same files: a deployment went wrong
        result = await first.reload("control")
        await _until(lambda: "differ" in caplog.text)
    assert second.version.hash == hash_dialplan(other) != result.running.hash
    assert f"another instance took version {result.running.hash}" in caplog.text


async def test_watching_the_folder_takes_a_changed_version_and_refuses_a_bad_one_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = InProcessBus()
    _write(tmp_path, "billing")
    reloader = _instance(tmp_path, bus, "a")
    notices = bus.subscribe(None)
    async with reloader.running(watch_s=0.02):
        _write(tmp_path, "billing-v2")
        await _until(lambda: reloader.version.hash == hash_dialplan(tmp_path))
        taken = reloader.version.hash
        caplog.set_level(logging.ERROR, logger="callpop.reload")
        _write(tmp_path, "billing", FLOW.replace("goto: billing", "goto: biling"))
        await asyncio.sleep(0.5)  # ~25 polls of a bad version
    assert reloader.version.hash == taken
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1
    kinds = []
    async with asyncio.timeout(5):
        async for event in notices:
            kinds.append((event.type, event.data["cause"]))
            if len(kinds) == 2:
                break
    assert kinds == [(NOTICE, "start"), (NOTICE, "watch")]
