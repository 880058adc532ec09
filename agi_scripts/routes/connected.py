"""`agi://host:4573/connected`: the pop on answer, for sites without AMI.

`Queue(${CALLPOP_QUEUE},t,,,,agi://HOST:4573/connected)` runs this on the *caller's*
channel once an agent answers, before the two are bridged (queue-connected-agi.txt),
so it must return in milliseconds: a handful of GET VARIABLEs, one event to the bus,
and the connection is closed. The queue's URL arguments are expanded when `Queue()`
starts, before QUEUENAME is set, so the queue and the agent are read as variables
(`setinterfacevar`/`setqueuevar`/`setqueueentryvar = yes` in queues.conf; without them
all three are unset: queue-connected-agi-without-setinterfacevar.txt).
"""

from __future__ import annotations

import logging

from agi_scripts.request import AgiRequest, Route
from agi_scripts.routes.call_id import is_call_id, shown
from ivr import variables as v
from ivr.call import iso_utc
from ivr.ports import CallEvent, CallServices
from ivr.runner import Clock, SystemClock

__all__ = ["ConnectedHandler", "connected_route"]

log = logging.getLogger(__name__)


class ConnectedHandler:
    def __init__(self, services: CallServices, *, clock: Clock | None = None) -> None:
        self.services = services
        self.clock = clock or SystemClock()

    async def __call__(self, request: AgiRequest) -> None:
        channel = request.channel
        interface = await channel.get_variable("MEMBERINTERFACE")
        if not interface:
            request.log.warning(
                "the connect AGI sees no MEMBERINTERFACE: set setinterfacevar, setqueuevar "
                "and setqueueentryvar to yes in queues.conf (callpop asterisk-config does)"
            )
            return
        queue = await channel.get_variable("QUEUENAME") or ""
        member_name = await channel.get_variable("MEMBERNAME") or ""
        hold = await channel.get_variable("QEHOLDTIME")
        call_id = await channel.get_variable(v.CALL_ID) or await channel.get_variable(
            "CHANNEL(linkedid)"
        )
        if not call_id:
            call_id = request.environment.uniqueid
        if not is_call_id(call_id):
            # Not from a real Asterisk: no pop for an id no call row can have.
            request.log.warning(
                "no pop: the call id is not an Asterisk uniqueid: %s", shown(call_id)
            )
            return
        # The same data as the AMI listener's agent.connected: the bus keeps the first.
        data: dict[str, object] = {
            "queue": queue,
            "interface": interface,
            "member_name": member_name,
        }
        if hold and hold.isdigit():
            data["hold_s"] = int(hold)
        event = CallEvent("agent.connected", call_id, iso_utc(self.clock.now()), data)
        self.services.publish(event)


def connected_route(
    services: CallServices, *, path: str = "connected", clock: Clock | None = None
) -> Route:
    return Route(path, ConnectedHandler(services, clock=clock))
