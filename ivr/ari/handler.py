"""The IVR as the Stasis app's `CallHandler`: a `Session` of the call's flow, driven
through the ARI channel by the shared runner (`ivr.runner.run_call`), exactly as the
FastAGI driver drives it through an AGI channel.

An unknown `flow=` in the dialplan is the admin's error, not the caller's problem: it
is logged and the caller goes on to the dialplan with `CALLPOP_OUTCOME=error`, whose
route is the operator queue.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType

from ivr.ari.app import StasisCall
from ivr.ari.channel import AriChannel
from ivr.compiled import LiveFlows
from ivr.errors import FlowError
from ivr.flow import Flow
from ivr.outcome import error_variables
from ivr.ports import CallServices
from ivr.runner import CallInfo, Clock, run_call
from ivr.session import Session

__all__ = ["IvrCallHandler"]

log = logging.getLogger(__name__)


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
        try:
            session = Session(self.flows.current, call.flow)
        except FlowError as exc:
            log.error(
                "channel %s: Stasis asks for flow %r, which is not loaded (%s); "
                "sending the caller to the operator",
                channel.id,
                call.flow,
                exc,
            )
            await channel.set_variables(error_variables(call.call_id, call.flow, None))
            await channel.finish(hangup=False)
            return
        info = CallInfo(
            call_id=call.call_id,
            caller=call.caller,
            dnis=call.dnis,
            channel=call.channel_name,
            variables=MappingProxyType(dict(call.args)),
        )
        await run_call(session, channel, self.services, info, clock=self.clock)
