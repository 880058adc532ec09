"""`agi://host:4573/survey`: the post-call survey, after the agent hung up.

The emitted dialplan runs `Queue(...,tc,...)`: with option `c` a caller whose agent
hangs up goes on in the dialplan with `QUEUESTATUS=CONTINUE` (app_queue sets it only
then: the bridge ended with the caller still there), and `callpop-route,survey,1` runs
this route on the caller's channel when the IVR left `CALLPOP_SURVEY` (`FLOW/NAME`).
It reads the call and the agent as variables, as `/connected` does: the call id
(`CALLPOP_CALL_ID`, else `CHANNEL(linkedid)`), the queue (`QUEUENAME`) and the agent
(`MEMBERINTERFACE`, `MEMBERNAME`), which app_queue set on the caller's channel when it
bridged them (`setinterfacevar`/`setqueuevar = yes`, as emitted queues.conf has), then
runs the survey through the shared runner. Without `MEMBERINTERFACE` nobody took the
call: there is nobody to rate, so no survey.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from agi_scripts.request import AgiRequest, Route
from agi_scripts.routes.call_id import is_call_id, shown
from ivr import variables as v
from ivr.compiled import CompiledFlows, LiveFlows
from ivr.events import Caller
from ivr.ports import ChannelGone
from ivr.runner import Clock, run_survey
from ivr.survey import SurveyLeg, SurveyServices

if TYPE_CHECKING:
    from ivr.flow import Flow

__all__ = ["SurveyHandler", "survey_route"]


class SurveyHandler:
    def __init__(
        self,
        flows: Mapping[str, Flow] | CompiledFlows | LiveFlows,
        services: SurveyServices,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.flows = LiveFlows.of(flows)
        self.services = services
        self.clock = clock

    async def __call__(self, request: AgiRequest) -> None:
        channel, env = request.channel, request.environment
        try:
            ref = request.query.get("survey") or await channel.get_variable(v.SURVEY) or ""
            interface = await channel.get_variable("MEMBERINTERFACE") or ""
            queue = await channel.get_variable("QUEUENAME") or ""
            member_name = await channel.get_variable("MEMBERNAME") or ""
            call_id = await channel.get_variable(v.CALL_ID) or await channel.get_variable(
                "CHANNEL(linkedid)"
            )
        except ChannelGone:
            return  # the caller left before the first question: nothing to store
        call_id = call_id or env.uniqueid
        if not is_call_id(call_id):
            request.log.warning(
                "no survey: the call id is not an Asterisk uniqueid: %s", shown(call_id)
            )
            await _back(request)
            return
        if not ref or not interface:
            request.log.warning(
                "no survey for call %s: %s is empty (the dialplan reaches /survey only "
                "after a queue call with a survey; queues.conf needs setinterfacevar = yes)",
                call_id,
                v.SURVEY if not ref else "MEMBERINTERFACE",
            )
            await _back(request)
            return
        await run_survey(
            self.flows.current,
            ref,
            channel,
            self.services,
            SurveyLeg(call_id=call_id, queue=queue, interface=interface, member_name=member_name),
            caller=Caller(number=env.caller_number, name=env.caller_name),
            clock=self.clock,
        )


async def _back(request: AgiRequest) -> None:
    try:
        await request.channel.finish(hangup=False)
    except ChannelGone:
        pass


def survey_route(
    flows: Mapping[str, Flow] | CompiledFlows | LiveFlows,
    services: SurveyServices,
    *,
    path: str = "survey",
    clock: Clock | None = None,
) -> Route:
    return Route(path, SurveyHandler(flows, services, clock=clock))
