"""The IVR as the Stasis app's `CallHandler`: a `Session` of the call's flow, driven
through the ARI channel by the shared runner (`ivr.runner.start_call`), exactly as the
FastAGI driver drives it through an AGI channel.

An unknown `flow=` in the dialplan is the admin's error, not the caller's problem: it
is logged and the caller goes on to the dialplan with `CALLPOP_OUTCOME=error` (by `start_call`), whose
route is the operator queue.

`Stasis(callpop,survey=${CALLPOP_SURVEY})` (the route's `survey` extension, ARI
variant) runs the post-call survey instead (`ivr.runner.run_survey`), with the agent
and the queue read from the caller's channel as the FastAGI `/survey` route reads them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType

from ivr import variables as v
from ivr.ari.app import StasisCall
from ivr.ari.channel import AriChannel
from ivr.compiled import LiveFlows
from ivr.flow import Flow
from ivr.ports import CallServices, ChannelGone
from ivr.runner import Clock, run_survey, start_call
from ivr.survey import SurveyLeg, SurveyServices

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
        surveys: SurveyServices | None = None,
    ) -> None:
        # Compiled once: conditions, schedules and prompts are not re-parsed per call.
        # Each call starts on the version running when it arrives (a reload swaps it).
        self.flows = LiveFlows.of(flows)
        self.services = services
        self.clock = clock
        self.surveys = surveys

    async def __call__(self, channel: AriChannel, call: StasisCall) -> None:
        if "survey" in call.args:
            await self._survey(channel, call, call.args["survey"])
            return
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

    async def _survey(self, channel: AriChannel, call: StasisCall, ref: str) -> None:
        try:
            ref = ref or await channel.read_variable(v.SURVEY)
            interface = await channel.read_variable("MEMBERINTERFACE")
            queue = await channel.read_variable("QUEUENAME")
            member_name = await channel.read_variable("MEMBERNAME")
        except ChannelGone:
            return  # the caller left before the first question: nothing to store
        if self.surveys is None or not ref or not interface:
            if self.surveys is None:
                missing = "no survey services"
            else:
                missing = f"{v.SURVEY if not ref else 'MEMBERINTERFACE'} is empty"
            log.warning("call %r: no survey (%s); back to the dialplan", call.call_id, missing)
            try:
                await channel.finish(hangup=False)
            except ChannelGone:
                pass
            return
        await run_survey(
            self.flows.current,
            ref,
            channel,
            self.surveys,
            SurveyLeg(call.call_id, queue, interface, member_name),
            caller=call.caller,
            clock=self.clock,
        )
