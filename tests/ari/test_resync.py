"""Reconciliation decisions, on channel lists a real Asterisk returned."""

from __future__ import annotations

from dataclasses import replace

from ivr.ari.events import ChannelSnapshot
from ivr.ari.resync import plan_resync

from .transcripts import FIXTURES, rows


def listed_in_09() -> list[ChannelSnapshot]:
    row = next(
        r
        for r in rows(FIXTURES / "09-app-websocket-reconnect.jsonl")
        if r["type"] == "rest"
        and r["method"] == "GET"
        and r["path"] == "/channels"
        and r["response_body"]
    )
    return [ChannelSnapshot.from_json(c) for c in row["response_body"]]


IVR_LEG = "1795408100.11"  # Local/7100;2 in Stasis(callpop)
CALLER_LEG = "1795408100.10"  # Local/7100;1 in Stasis(callpop-caller)


def test_a_session_whose_channel_is_still_in_the_app_goes_on() -> None:
    plan = plan_resync(listed_in_09(), "callpop", {IVR_LEG}, {IVR_LEG}, set())
    assert plan.alive == {IVR_LEG}
    assert not plan.vanished and not plan.orphans


def test_a_session_whose_channel_is_gone_ends() -> None:
    plan = plan_resync([], "callpop", {IVR_LEG}, {IVR_LEG}, set())
    assert plan.vanished == {IVR_LEG}


def test_a_channel_of_the_app_without_a_session_is_an_orphan() -> None:
    plan = plan_resync(listed_in_09(), "callpop", set(), set(), set())
    assert plan.orphans == (IVR_LEG,)


def test_channels_of_another_app_are_not_ours() -> None:
    plan = plan_resync(listed_in_09(), "callpop", set(), set(), set())
    assert CALLER_LEG not in plan.orphans


def test_a_channel_that_left_stasis_ends_its_session() -> None:
    in_dialplan = [
        replace(c, dialplan=replace(c.dialplan, app_name="Queue", app_data="support"))
        for c in listed_in_09()
    ]
    plan = plan_resync(in_dialplan, "callpop", {IVR_LEG}, {IVR_LEG}, set())
    assert plan.vanished == {IVR_LEG}


def test_a_session_started_during_the_listing_is_neither_gone_nor_orphan() -> None:
    # The StasisStart came after GET /channels was sent: not in `live_before`.
    plan = plan_resync([], "callpop", set(), {IVR_LEG}, set())
    assert not plan.vanished
    plan = plan_resync(listed_in_09(), "callpop", set(), {IVR_LEG}, set())
    assert not plan.orphans


def test_a_channel_already_sent_on_is_left_alone() -> None:
    plan = plan_resync(listed_in_09(), "callpop", set(), set(), {IVR_LEG})
    assert not plan.orphans
