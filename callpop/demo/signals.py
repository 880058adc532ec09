"""What happens to a call on the virtual PBX, as one queue of signals per call: the
phones' answers, rejections and hang-ups, the caller's hang-up, "a phone is free", and
the agent's transfer (posted by the PBX's AMI responders)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from callpop.demo.phones import AgentPhone

__all__ = ["Signal", "TransferTo"]


@dataclass(frozen=True, slots=True)
class TransferTo:
    """Where a transfer sends the caller: `exten`@`context` of the emitted dialplan.
    `attended`: Atxfer (consult first); `redirect`: Redirect of the caller's channel."""

    exten: str
    context: str
    attended: bool = False
    redirect: bool = False


@dataclass(frozen=True, slots=True)
class Signal:
    """Something that happened to the call: from a phone, the caller or the PBX."""

    kind: Literal[
        "answer",
        "decline",
        "agent_hangup",
        "caller_hangup",
        "free",
        "transfer",
        "consult_answer",
        "consult_end",
    ]
    phone: AgentPhone | None = None
    to: TransferTo | None = None
