"""The virtual PBX on its own: what a test-phone call does when callpop's FastAGI port
does not answer (the dialplan's fallback), and the caller IDs a trunk lets through."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from callpop.ami.client import AMIClient
from callpop.ami.codec import Message
from callpop.ami.controls import AmiControls, ControlRefused
from callpop.ami.listener import AMIListener
from callpop.demo.pbx import PbxSettings, VirtualPbx, clean_caller_id
from callpop.demo.prompts import PromptBook
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.script import CallerId
from ivr.ports import CallEvent


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_when_callpop_does_not_answer_the_caller_goes_to_the_operator_queue() -> None:
    frames: list[dict[str, Any]] = []
    queued = asyncio.Event()

    def tell(frame: dict[str, Any]) -> None:
        frames.append(frame)
        if frame.get("type") == "queue":
            queued.set()

    async with AMIServer() as ami:
        pbx = VirtualPbx(
            PbxSettings("127.0.0.1", closed_port()), ami=ami, book=PromptBook({}), queues=None
        )
        call = pbx.place_call("+15550104321", "Sean Chen", tell)
        async with asyncio.timeout(10):
            await queued.wait()
        call.hang_up()
        await pbx.aclose()
    kinds = [f["type"] for f in frames]
    assert kinds[:3] == ["state", "notice", "outcome"]
    assert "falls back to the operator queue" in frames[1]["text"]
    assert frames[2]["outcome"] == "(none)"
    assert [f["queue"] for f in frames if f["type"] == "queue"] == ["operator"]
    assert frames[-1]["state"] == "ended"


@pytest.mark.parametrize(
    ("number", "name", "expected"),
    [
        ("+1 (555) 010-4321", "Sean Chen", CallerId("+15550104321", "Sean Chen")),
        ("", "", CallerId(None, None)),
        (None, "Ann\r\nEvent: Hangup", CallerId(None, "Ann Event: Hangup")),
        ("5551234567<script>", "<b>x</b>", CallerId("5551234567", "<b>x</b>")),
        ("1" * 40, "n" * 90, CallerId("1" * 32, "n" * 80)),
    ],
)
def test_a_caller_id_is_what_a_trunk_lets_through(
    number: str | None, name: str | None, expected: CallerId
) -> None:
    assert clean_caller_id(number, name) == expected


async def test_a_pause_from_the_status_menu_keeps_queues_from_ringing_the_phone() -> None:
    async with AMIServer() as ami:
        pbx = VirtualPbx(
            PbxSettings("127.0.0.1", closed_port()), ami=ami, book=PromptBook({}), queues=None
        )
        pbx.phones.register("PJSIP/101", "alice", lambda view: None)
        controls = AmiControls(lambda: client)
        client = AMIClient(ami.host, ami.port, "callpop", "callpop", on_event=_ignore)
        task = asyncio.create_task(client.run())
        try:
            async with asyncio.timeout(5):
                await client.wait_connected()
            await controls.pause(interface="PJSIP/101", paused=True, reason="Lunch")
            assert [p.interface for p in pbx.phones.available()] == []
            await controls.pause(interface="PJSIP/101", paused=False)
            assert [p.interface for p in pbx.phones.available()] == ["PJSIP/101"]
            with pytest.raises(ControlRefused, match="Interface not found"):
                await controls.pause(interface="PJSIP/999", paused=True, reason="Lunch")
        finally:
            await client.close()
            async with asyncio.timeout(5):
                await task
            await pbx.aclose()


async def _ignore(msg: Message) -> None:
    return None


async def test_a_pause_is_reported_back_as_app_queue_does_and_read_as_the_agents_status() -> None:
    published: list[CallEvent] = []
    heard = asyncio.Event()

    def publish(event: CallEvent) -> None:
        published.append(event)
        heard.set()

    async with AMIServer() as ami:
        pbx = VirtualPbx(
            PbxSettings("127.0.0.1", closed_port()), ami=ami, book=PromptBook({}), queues=None
        )
        pbx.phones.register("PJSIP/101", "alice", lambda view: None)
        seen: list[Message] = []
        async with AMIListener(
            ami.host, ami.port, "callpop", "callpop", publish, observers=(seen.append,)
        ) as listener:
            async with asyncio.timeout(5):
                await listener.wait_resyncs(1)
                await AmiControls(lambda: listener.client).pause(
                    interface="PJSIP/101", paused=True, reason="Lunch"
                )
                while not any(e.data.get("paused") for e in published):
                    heard.clear()
                    await heard.wait()
        await pbx.aclose()
    pauses = [m for m in seen if m.event == "QueueMemberPause"]
    assert [(m.get("Queue"), m.get("Paused"), m.get("PausedReason")) for m in pauses] == [
        ("operator", "1", "Lunch")
    ]
    assert [(e.type, dict(e.data)) for e in published] == [
        # the login's QueueStatus lists alice as a member, not paused; then the pause
        (
            "agent.status",
            {"interface": "PJSIP/101", "paused": False, "reason": "", "in_call": False},
        ),
        (
            "agent.status",
            {"interface": "PJSIP/101", "paused": True, "reason": "Lunch", "in_call": False},
        ),
    ]
