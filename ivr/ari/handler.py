"""The IVR as the Stasis app's `CallHandler`: a `Session` of the call's flow, driven
through the ARI channel by the shared runner (`ivr.runner.start_call`), exactly as the
FastAGI driver drives it through an AGI channel.

An unknown `flow=` in the dialplan is the admin's error, not the caller's problem: it
is logged and the caller goes on to the dialplan with `CALLPOP_OUTCOME=error` (by `start_call`), whose
route is the operator queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ivr.ari.app import StasisCall
from ivr.ari.channel import AriChannel
from ivr.compiled import LiveFlows
from ivr.flow import Flow
from ivr.ports import CallServices
from ivr.runner import Clock, start_call

__all__ = ["IvrCallHandler"]


class IvrCallHandler:
    """Runs each Stasis call's IVR; journeys are saved through `services`."""

    def __init__(
        self,
        flows: Mapping[str, Flow] | LiveFlows,
        services: CallServices,
        *,
        clock: Clock | None = None,
    ) -> None:
        # Compiled once: conditions, schedules and prompts are not re-parsed per call.
        # Each call starts on the version running when it arrives (a reload swaps it).
        self.flows = LiveFlows.of(flows)
        self.services = services
        self.clock = clock

    async def __call__(self, channel: AriChannel, call: StasisCall) -> None:
        await start_call(
            self.flows,
            call.flow,
            channel,
            self.services,
            call_id=call.call_id,
            caller=call.caller,
            dnis=call.dnis,
            channel_name=call.channel_name,
            variables=MappingProxyType(dict(call.args)),
            clock=self.clock,
        )
