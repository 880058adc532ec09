"""Queue-member interfaces as the screen-pop compares them.

AMI names the agent of a queue event by its member `Interface` (`PJSIP/101`,
`Local/8100@callpop-agents/n`); the agents table holds what the admin typed with
`callpop agents add`. Both go through `normalise_interface` before they are compared.
"""

from __future__ import annotations

__all__ = ["normalise_interface"]

# Channel technologies as Asterisk spells them (`core show channeltypes`).
_TECHNOLOGIES = {
    "pjsip": "PJSIP",
    "sip": "SIP",
    "iax2": "IAX2",
    "local": "Local",
    "dahdi": "DAHDI",
    "agent": "Agent",
    "skinny": "Skinny",
    "unistim": "UNISTIM",
    "motif": "Motif",
    "console": "Console",
    "websocket": "WebSocket",
}


def normalise_interface(interface: str) -> str:
    """The form interfaces are compared in: AMI reports a Local member with its dial
    options (`Local/8100@callpop-agents/n`), the agents table holds it without them;
    the technology is case-insensitive in Asterisk (`pjsip/101` is `PJSIP/101`)."""
    value = interface.strip()
    tech, slash, rest = value.partition("/")
    if not slash:
        return value
    if tech.lower() == "local":
        # Local/EXTEN@CONTEXT/OPTIONS: options are single letters after the last slash
        base, _, options = rest.rpartition("/")
        if base and options.isalpha() and len(options) <= 4:
            rest = base
    return f"{_TECHNOLOGIES.get(tech.lower(), tech)}/{rest}"
