"""Scripted queue calls and bus reading shared by the AMI tests."""

from __future__ import annotations

import asyncio

from callpop.pbx_sim.ami_events import Ids, QueueCall, Snapshot, Writer
from screenpop.bus import BusEvent, EventStream

__all__ = ["queue_call", "take"]


def queue_call(
    call_id: str,
    uid: str,
    ids: Ids | None = None,
    *,
    member: str = "Bob Agent",
    caller_name: str = "Carol Caller",
) -> QueueCall:
    """A caller of `call_id` (its CALLPOP_CALL_ID) in queue `sales`, offered to `PJSIP/101`."""
    caller = Snapshot(
        channel=f"PJSIP/trunk-{uid[-8:]:0>8}",
        uniqueid=uid,
        linkedid=uid,
        context="callpop-route",
        exten="queue",
        priority=3,
        caller_num="+15551234567",
        caller_name=caller_name,
        variables=(("CALLPOP_CALL_ID", call_id),),
    )
    return QueueCall(caller, "sales", "PJSIP/101", member, ids or Ids("1800000000", 500), Writer())


async def take(stream: EventStream, count: int, timeout_s: float = 5.0) -> list[BusEvent]:
    """The next `count` call events of `stream`, within `timeout_s` (agents' own events,
    `agent.status` from the members' pauses, have no call and are passed over)."""
    out: list[BusEvent] = []
    async with asyncio.timeout(timeout_s):
        async for event in stream:
            if not event.call_id:
                continue
            out.append(event)
            if len(out) == count:
                break
    return out
