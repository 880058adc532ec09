"""The websocket hub over real sockets: each agent gets their own pops and nothing
else, a reconnect replays what was missed, tabs stay in step and one of them rings."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from ivr.journey import Journey, JourneyOutcome, JourneyStep
from tests.screenpop.conftest import CRM_ORIGIN, Desk
from tests.screenpop.wsclient import open_tab


async def logged_in(desk: Desk, name: str) -> aiohttp.ClientSession:
    return await desk.logged_in(name)


async def test_a_call_pops_on_the_agent_it_rings_and_on_no_other(desk: Desk) -> None:
    async with await logged_in(desk, "alice") as alice, await logged_in(desk, "bob") as bob:
        a = await open_tab(alice, desk.url)
        b = await open_tab(bob, desk.url)
        await a.until_type("welcome")
        await b.until_type("welcome")
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551230001")
        await desk.ring(call, "alice")
        offered = await a.until_type("pop.offered", call)
        assert offered["pop"]["state"] == "offered"
        # bob's socket stays silent about alice's call: the next thing he sees is his own
        other = desk.next_call_id()
        await desk.ivr(other, number="+15551230002")
        await desk.ring(other, "bob")
        first_pop_for_bob = await b.until(lambda f: f["type"].startswith("pop."))
        assert first_pop_for_bob["pop"]["call_id"] == other
        assert all(f.get("pop", {}).get("call_id") != call for f in b.seen)


async def test_a_socket_cannot_ask_for_another_agents_pops(desk: Desk) -> None:
    async with await logged_in(desk, "alice") as alice, await logged_in(desk, "bob") as bob:
        a = await open_tab(alice, desk.url)
        await a.until_type("welcome")
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551230003")
        await desk.ring(call, "alice")
        await desk.answer(call, "alice")
        await a.until_type("pop.accepted", call)
        # bob names alice as the agent and asks for everything from seq 0: the socket
        # is bound to the account that authenticated it
        b = await open_tab(
            bob, desk.url, agent=desk.accounts["alice"].id, agent_id=desk.accounts["alice"].id
        )
        welcome = await b.until_type("welcome")
        assert welcome["agent"]["name"] == "bob"
        reset = await b.next()
        assert reset["type"] == "reset"
        # and he cannot write alice's notes either
        await b.send(type="notes", call_id=call, notes="bob was here")
        await b.send(type="ping")
        await b.until_type("pong")
        assert not any(f["type"].startswith("pop.") for f in b.seen)
        assert desk.hub.machine.pop(call, desk.accounts["alice"].id).notes == ""


async def test_sockets_need_a_session(desk: Desk) -> None:
    async with desk.session() as anonymous:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await anonymous.ws_connect(desk.url.replace("http", "ws") + "/ws")
    assert refused.value.status == 401


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
async def test_sockets_from_other_origins_are_refused(desk: Desk, origin: str) -> None:
    async with await logged_in(desk, "alice") as alice:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await alice.ws_connect(
                desk.url.replace("http", "ws") + "/ws", headers={"Origin": origin}
            )
    assert refused.value.status == 403


async def test_the_own_origin_and_web_origins_may_open_sockets(desk: Desk) -> None:
    async with await logged_in(desk, "alice") as alice:
        for origin in (desk.url, CRM_ORIGIN):
            tab = await open_tab(alice, desk.url, origin=origin)
            assert (await tab.until_type("welcome"))["agent"]["name"] == "alice"
            await tab.ws.close()


async def test_reconnect_replays_what_was_missed(desk: Desk) -> None:
    async with await logged_in(desk, "alice") as alice:
        tab = await open_tab(alice, desk.url)
        welcome = await tab.until_type("welcome")
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551230004")
        await desk.ring(call, "alice")
        offered = await tab.until_type("pop.offered", call)
        await tab.ws.close()
        await desk.answer(call, "alice")  # happens while the tab is away
        await desk.publish("ivr.node", "unrelated", node="x", kind="menu")
        again = await open_tab(alice, desk.url, since=offered["seq"], epoch=welcome["epoch"])
        await again.until_type("welcome")
        # the payload's completion (`pop.updated`) may have been missed too: replayed as well
        replayed = await again.until(lambda f: f["type"] in ("pop.accepted", "reset"))
        assert replayed["type"] == "pop.accepted" and replayed["seq"] > offered["seq"]
        pops = [f for f in again.seen if f["type"].startswith("pop.")]
        assert all(f["seq"] > offered["seq"] for f in pops)
        assert {f["type"] for f in pops} <= {"pop.updated", "pop.accepted"}
        assert not any(f["type"] == "reset" for f in again.seen)


async def test_a_reload_gets_the_current_pop_back(desk: Desk) -> None:
    async with await logged_in(desk, "alice") as alice:
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551230005")
        await desk.ring(call, "alice")
        await desk.answer(call, "alice")
        await desk.complete(call, "alice")
        fresh = await open_tab(alice, desk.url)  # a reloaded page knows nothing
        await fresh.until_type("reset")
        current = await fresh.until(lambda f: f["type"].startswith("pop."))
        assert (current["type"], current["pop"]["call_id"]) == ("pop.wrapup", call)


async def test_seqs_of_another_hub_instance_mean_a_reset(desk: Desk) -> None:
    async with await logged_in(desk, "alice") as alice:
        tab = await open_tab(alice, desk.url, since=1, epoch="another-instance")
        await tab.until_type("welcome")
        assert (await tab.next())["type"] == "reset"


async def test_tabs_stay_in_step_and_only_one_rings(desk: Desk) -> None:
    async with await logged_in(desk, "alice") as alice:
        first = await open_tab(alice, desk.url)
        assert (await first.until_type("alert"))["alerting"] is True
        second = await open_tab(alice, desk.url)
        assert (await second.until_type("alert"))["alerting"] is False
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551230006")
        await desk.ring(call, "alice")
        one = await first.until_type("pop.offered", call)
        two = await second.until_type("pop.offered", call)
        assert one == two
        await second.send(type="focus")  # the agent looks at the second tab now
        assert (await second.until_type("alert"))["alerting"] is True
        assert (await first.until_type("alert"))["alerting"] is False
        await desk.answer(call, "alice")
        await first.until_type("pop.accepted", call)
        await second.send(type="notes", call_id=call, notes="typed in tab two")
        updated = await first.until_type("pop.updated", call)
        assert updated["pop"]["notes"] == "typed in tab two"


async def test_the_alert_moves_when_the_ringing_tab_closes(desk: Desk) -> None:
    async with await logged_in(desk, "alice") as alice:
        first = await open_tab(alice, desk.url)
        await first.until_type("alert")
        second = await open_tab(alice, desk.url)
        await second.until_type("alert")
        await first.ws.close()
        assert (await second.until_type("alert"))["alerting"] is True


async def test_pop_on_answer_hides_ringing_offers(desk: Desk) -> None:
    async with await logged_in(desk, "alice") as alice:
        tab = await open_tab(alice, desk.url, pop_on="answer")
        assert (await tab.until_type("welcome"))["pop_on"] == "answer"
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551230007")
        await desk.ring(call, "alice")
        await desk.answer(call, "alice")
        first = await tab.until(lambda f: f["type"].startswith("pop."))
        assert first["type"] == "pop.accepted"
        assert not any(f["type"] == "pop.offered" for f in tab.seen)


async def test_the_preference_can_change_from_the_panel(desk: Desk) -> None:
    async with await logged_in(desk, "alice") as alice:
        tab = await open_tab(alice, desk.url)
        await tab.until_type("welcome")
        await tab.send(type="prefs", pop_on="answer")
        assert (await tab.until_type("prefs"))["pop_on"] == "answer"
        assert desk.hub.pop_on(desk.accounts["alice"].id) == "answer"


async def test_a_wallboard_is_for_supervisors_only(desk: Desk) -> None:
    async with await logged_in(desk, "alice") as alice:
        tab = await open_tab(alice, desk.url, view="wallboard")
        error = await tab.until_type("error")
        assert "supervisor" in error["message"]
        assert await tab.closed() == 1008


async def test_the_supervisor_sees_both_agents_calls_on_the_wallboard(desk: Desk) -> None:
    async with await logged_in(desk, "sue") as sue:
        board = await open_tab(sue, desk.url, view="wallboard")
        await board.until_type("wallboard")
        first, second = desk.next_call_id(), desk.next_call_id()
        await desk.ivr(first, number="+15551230008")
        await desk.ivr(second, number="+15551230009", queue="sales")
        await desk.ring(first, "alice")
        await desk.answer(first, "alice")
        await desk.ring(second, "bob", queue="sales")

        def both(frame: dict[str, object]) -> bool:
            if frame["type"] != "wallboard":
                return False
            agents = {a["name"]: a for a in frame["board"]["agents"]}  # type: ignore[index]
            return bool(
                agents["alice"]["state"] == "on_call" and agents["bob"]["state"] == "ringing"
            )

        frame = await board.until(both)
        agents = {a["name"]: a for a in frame["board"]["agents"]}
        assert agents["alice"]["call_id"] == first and agents["bob"]["call_id"] == second
        assert [q["queue"] for q in frame["board"]["queues"]] == ["sales"]


async def test_a_broken_message_closes_the_socket_with_a_reason(desk: Desk) -> None:
    async with await logged_in(desk, "alice") as alice:
        ws = await alice.ws_connect(desk.url.replace("http", "ws") + "/ws")
        await ws.send_str('{"type": "notes", "call_id": "c", "notes": "before hello"}')
        message = await ws.receive()
        assert "hello" in message.json()["message"]
        await ws.receive()
        assert ws.close_code == 1008


@pytest.mark.parametrize("runner", ["journey on the bus", "journey saved only"])
async def test_a_queue_that_rings_before_the_journey_is_saved_still_gets_the_ivr_path(
    desk: Desk,
    runner: str,
) -> None:
    """Asterisk may ring the agent (AgentCalled) before the runner has saved the journey
    and published ivr.ended: the pop goes out with node ids, then an update brings the
    journey's labels and keys (from `ivr.ended` itself, or from the database when the
    event does not carry the journey)."""
    async with await logged_in(desk, "alice") as alice:
        tab = await open_tab(alice, desk.url)
        await tab.until_type("welcome")
        call = desk.next_call_id()
        await desk.publish(
            "ivr.started",
            call,
            flow="main",
            caller={"number": "+15551230001", "name": ""},
            dnis="7000",
        )
        await desk.publish("ivr.node", call, node="main_menu", kind="menu")
        await desk.ring(call, "alice")
        offered = await tab.until_type("pop.offered", call)
        assert offered["pop"]["payload"]["ivr"]["steps"][0]["label"] == ""

        journey = Journey(
            call_id=call,
            flow="main",
            caller_number="+15551230001",
            caller_name="",
            dnis="7000",
            started_at="2026-11-24T15:00:00.000Z",
        )
        journey.steps.append(
            JourneyStep(
                flow="main",
                node="main_menu",
                kind="menu",
                entered_ms=0,
                left_ms=900,
                keys=["1"],
                result="1",
                label="Main menu",
            )
        )
        journey.outcome = JourneyOutcome("queue", "billing", 0, "option", 1000)
        if runner == "journey on the bus":
            await desk.publish(
                "ivr.ended",
                call,
                outcome="queue",
                target="billing",
                variables={},
                journey=journey.to_dict(),
            )
        else:
            await desk.journeys.save(journey)
            await desk.publish("ivr.ended", call, outcome="queue", target="billing", variables={})

        def labelled(frame: dict[str, Any]) -> bool:
            steps = frame.get("pop", {}).get("payload", {}).get("ivr", {}).get("steps", [])
            return frame["type"] == "pop.updated" and any(s["label"] == "Main menu" for s in steps)

        updated = await tab.until(labelled)
        assert updated["pop"]["payload"]["ivr"]["steps"][0]["keys"] == ["1"]
