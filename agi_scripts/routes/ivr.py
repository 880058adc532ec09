"""`agi://host:4573/ivr?flow=main`: the caller's IVR, from the dialplan's entry context.

Reads the call id (`CHANNEL(linkedid)`: `agi_uniqueid` is the call id only on the
first leg, call-id.txt), answers, and runs the flow's `Session` through the shared
runner, which leaves the `CALLPOP_*` outcome on the channel; the dialplan then goes
on with `Goto(callpop-route,${CALLPOP_OUTCOME},1)`. An unknown `flow=` is the admin's
error, not the caller's: it is logged and the caller goes on with
`CALLPOP_OUTCOME=error` (the operator), as under ARI.

The call id keys the call's row, its journey and its pops, so it is checked before
anything uses it (`call_id.py`). A peer answering anything but an Asterisk uniqueid (a
9,000-character id, one with control characters) is not a real Asterisk: the session
ends as a protocol error, recorded under `agi_uniqueid` (clipped), which the environment
gave before any caller-controlled value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from agi_scripts.request import AgiRequest, Route
from agi_scripts.routes.call_id import MAX_CALL_ID, is_call_id, shown
from ivr.callflow import ENTRY_FLOW
from ivr.compiled import CompiledFlows, LiveFlows
from ivr.events import Caller
from ivr.ports import CallServices, ChannelGone
from ivr.runner import Clock, SystemClock, start_call

if TYPE_CHECKING:
    from ivr.flow import Flow

__all__ = ["IvrHandler", "ivr_route"]


class IvrHandler:
    """Runs one call's flow; flows are compiled once for every call. With `LiveFlows`
    each new call starts on the version running when it arrives (a reload swaps it)."""

    def __init__(
        self,
        flows: Mapping[str, Flow] | CompiledFlows | LiveFlows,
        services: CallServices,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.flows = LiveFlows.of(flows)
        self.services = services
        # One clock for every call of the route, not one made per call.
        self.clock = clock or SystemClock()

    async def __call__(self, request: AgiRequest) -> None:
        channel, env = request.channel, request.environment
        flow = request.query.get("flow") or ENTRY_FLOW
        call_id = env.uniqueid
        if not is_call_id(call_id):
            channel.protocol_error(f"agi_uniqueid is not an Asterisk uniqueid: {shown(call_id)}")
            call_id = call_id[:MAX_CALL_ID]
        try:
            linked = await channel.get_variable("CHANNEL(linkedid)")
        except ChannelGone:
            # Gone before the IVR began: the session still runs (and ends at once) so
            # the journey records a caller who left at the very start.
            linked = None
        if linked and is_call_id(linked):
            call_id = linked
        elif linked:
            channel.protocol_error(
                f"CHANNEL(linkedid) is not an Asterisk uniqueid: {shown(linked)}"
            )
        if channel.gone is None:
            try:
                await channel.answer()
            except ChannelGone:
                pass
        await start_call(
            self.flows,
            flow,
            channel,
            self.services,
            call_id=call_id,
            caller=Caller(number=env.caller_number, name=env.caller_name),
            dnis=env.get("extension"),
            channel_name=env.channel,
            variables={k: v for k, v in request.query.items() if k != "flow"},
            clock=self.clock,
        )


def ivr_route(
    flows: Mapping[str, Flow] | CompiledFlows | LiveFlows,
    services: CallServices,
    *,
    path: str = "ivr",
    clock: Clock | None = None,
) -> Route:
    return Route(path, IvrHandler(flows, services, clock=clock))
