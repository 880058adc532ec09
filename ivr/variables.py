"""The channel-variable contract between callpop and the Asterisk dialplan.

One module, used by the drivers, `callpop asterisk-config` and docs/asterisk.md
(as wazo-agid's dialplan_variables.py). No `_` prefix: the values stay on the
caller's channel and are not inherited by the agent's.
"""

from __future__ import annotations

from typing import Final

CALL_ID: Final = "CALLPOP_CALL_ID"
FLOW: Final = "CALLPOP_FLOW"
OUTCOME: Final = "CALLPOP_OUTCOME"
TARGET: Final = "CALLPOP_TARGET"
QUEUE: Final = "CALLPOP_QUEUE"
PRIORITY: Final = "CALLPOP_PRIORITY"
CUSTOMER_ID: Final = "CALLPOP_CUSTOMER_ID"
TIER: Final = "CALLPOP_TIER"
VERIFIED: Final = "CALLPOP_VERIFIED"
TOPIC: Final = "CALLPOP_TOPIC"
LAST_NODE: Final = "CALLPOP_LAST_NODE"
SURVEY: Final = "CALLPOP_SURVEY"

ALL: Final = (
    CALL_ID,
    FLOW,
    OUTCOME,
    TARGET,
    QUEUE,
    PRIORITY,
    CUSTOMER_ID,
    TIER,
    VERIFIED,
    TOPIC,
    LAST_NODE,
    SURVEY,
)

OUTCOMES: Final = ("queue", "extension", "agent", "voicemail", "hangup", "error")

DESCRIPTIONS: Final = {
    CALL_ID: "the call id: CHANNEL(linkedid) read when the IVR started",
    FLOW: "the flow the caller walked (file stem, e.g. main)",
    OUTCOME: "queue | extension | agent | voicemail | hangup | error; empty if callpop was unreachable",
    TARGET: "the queue name, extension, agent interface or mailbox",
    QUEUE: "the queue name when OUTCOME is queue, else empty",
    PRIORITY: "queue priority (QUEUE_PRIO), 0 normal, higher first",
    CUSTOMER_ID: "the CRM customer id when the caller was identified, else empty",
    TIER: "the customer's tier (e.g. vip, gold, standard), else empty",
    VERIFIED: "1 if the caller proved their account in the IVR, else 0",
    TOPIC: "the topic of the caller's last choice (selects the agent's script)",
    LAST_NODE: "the last IVR node the caller was in",
    SURVEY: "FLOW/NAME of the survey heard after the agent hangs up (a queue transfer's survey:), else empty",
}


def flag(value: bool) -> str:
    """Flags are `1`/`0` in the dialplan (`$[${CALLPOP_VERIFIED}]`)."""
    return "1" if value else "0"
