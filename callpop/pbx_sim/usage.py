"""The 520 usage texts Asterisk 22 prints for the commands the recordings show, verbatim
(raw XML doc markup included: invalid.txt, variables.txt, wait-for-digit.txt, exec.txt).

For other commands the simulator answers with the single-line form res_agi uses when
a command has no usage text (`520 Invalid command syntax.  Proper usage not available.`).
"""

from __future__ import annotations

from typing import Final

__all__ = ["usage_lines"]

_HEAD: Final = b"520-Invalid command syntax.  Proper usage follows:"
_TAIL: Final = b"520 End of proper usage."
_NONE: Final = b"520 Invalid command syntax.  Proper usage not available."

_USAGE: Final[dict[str, tuple[bytes, ...]]] = {
    "EXEC": (
        b"Executes <replaceable>application</replaceable> with given <replaceable>options</replaceable>.",
        b"Returns whatever the <replaceable>application</replaceable> returns, or <literal>-2</literal> on failure to find <replaceable>application</replaceable>.",
        b"<note>NOTE:</note> exec does not evaluate dialplan functions and variables unless it is explicitly enabled by setting the <variable>AGIEXECFULL</variable> variable to <literal>yes</literal>.",
    ),
    "STREAM FILE": (
        b"Send the given file, allowing playback to be interrupted by the given digits, if any. Returns <literal>0</literal> if playback completes without a digit being pressed, or the ASCII numerical value of the digit if one was pressed, or <literal>-1</literal> on error or if the channel was disconnected. If musiconhold is playing before calling stream file it will be automatically stopped and will not be restarted after completion.",
        b"It sets the following channel variables upon completion:",
        b"<variable>PLAYBACKSTATUS</variable>: The status of the playback attempt as a text string.",
        b"    <value>SUCCESS</value>",
        b"    <value>FAILED</value>",
    ),
    "GET DATA": (
        b"Stream the given <replaceable>file</replaceable>, and receive DTMF data.",
        b"Returns the digits received from the channel at the other end.",
    ),
    "SAY DIGITS": (
        b"Say a given digit string, returning early if any of the given DTMF digits are received on the channel. Returns <literal>0</literal> if playback completes without a digit being pressed, or the ASCII numerical value of the digit if one was pressed or <literal>-1</literal> on error/hangup.",
    ),
    "GET VARIABLE": (
        b"Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set. Returns <literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the variable in parentheses.",
        b"Example return code: 200 result=1 (testvariable)",
    ),
    "SET VARIABLE": (b"Sets a variable to the current channel.",),
    "WAIT FOR DIGIT": (
        b"Waits up to <replaceable>timeout</replaceable> milliseconds for channel to receive a DTMF digit. Returns <literal>-1</literal> on channel failure, <literal>0</literal> if no digit is received in the timeout, or the numerical value of the ascii of the digit if one is received. Use <literal>-1</literal> for the <replaceable>timeout</replaceable> value if you desire the call to block indefinitely.",
    ),
}


def usage_lines(command: str) -> list[bytes]:
    """The lines of the 520 answer to `command` (its upper-case name)."""
    body = _USAGE.get(command)
    if body is None:
        return [_NONE]
    return [_HEAD, *body, _TAIL]
