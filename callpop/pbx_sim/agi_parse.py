"""How Asterisk reads an AGI command line: `parse_args()` and `find_command()` of
res_agi.c (Asterisk 22), byte for byte, for the FastAGI simulator and the tests.

These are Asterisk's rules, not callpop's: the simulator must split a line exactly
as the real server would, so that a test proving "this hostile caller name arrives as
one argument" proves it against Asterisk's parser and not against our own encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["AGI_BUF_LEN", "COMMANDS", "MAX_ARGS", "CommandSpec", "find_command", "parse_args"]

MAX_ARGS: Final = 128
# `char buf[AGI_BUF_LEN]` filled by fgets: a command is at most 8191 bytes, "\n" included.
AGI_BUF_LEN: Final = 8192


def parse_args(line: bytes) -> list[bytes]:
    """res_agi.c `parse_args`: spaces and tabs separate, `"` toggles quoting, `\\`
    makes the next byte literal (inside quotes or not), at most MAX_ARGS - 1 words."""
    argv: list[bytearray] = []
    cur: bytearray | None = None
    quoted = escaped = False
    whitespace = True
    for byte in line:
        if byte == 0:  # a C string ends at its first NUL
            break
        ch = bytes((byte,))
        if ch == b'"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                # An opening quote after whitespace starts a word, even an empty one.
                cur = bytearray()
                argv.append(cur)
                whitespace = False
            escaped = False
            continue
        if ch in (b" ", b"\t") and not quoted and not escaped:
            whitespace = True
            continue
        if ch == b"\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            if len(argv) >= MAX_ARGS - 1:
                # Asterisk logs "Too many arguments, truncating" and drops the byte
                # (the `break` leaves only its switch, so the loop goes on).
                continue
            cur = bytearray()
            argv.append(cur)
            whitespace = False
        assert cur is not None
        cur += ch
        escaped = False
    return [bytes(word) for word in argv]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    words: tuple[str, ...]
    dead: bool  # allowed on a dead channel (res_agi's command table)

    @property
    def name(self) -> str:
        return " ".join(self.words).upper()

    @property
    def key(self) -> tuple[bytes, ...]:
        return tuple(w.encode() for w in self.words)


def _spec(words: str, dead: bool) -> CommandSpec:
    return CommandSpec(tuple(words.split()), dead)


# res_agi.c `commands[]`, in its order (find_command takes the first match).
COMMANDS: Final = (
    _spec("answer", False),
    _spec("asyncagi break", True),
    _spec("channel status", False),
    _spec("database del", True),
    _spec("database deltree", True),
    _spec("database get", True),
    _spec("database put", True),
    _spec("exec", True),
    _spec("get data", False),
    _spec("get full variable", True),
    _spec("get option", False),
    _spec("get variable", True),
    _spec("hangup", False),
    _spec("noop", True),
    _spec("receive char", False),
    _spec("receive text", False),
    _spec("record file", False),
    _spec("say alpha", False),
    _spec("say digits", False),
    _spec("say number", False),
    _spec("say phonetic", False),
    _spec("say date", False),
    _spec("say time", False),
    _spec("say datetime", False),
    _spec("send image", False),
    _spec("send text", False),
    _spec("set autohangup", False),
    _spec("set callerid", False),
    _spec("set context", False),
    _spec("set extension", False),
    _spec("set music", False),
    _spec("set priority", False),
    _spec("set variable", True),
    _spec("stream file", False),
    _spec("control stream file", False),
    _spec("tdd mode", False),
    _spec("verbose", True),
    _spec("wait for digit", False),
    _spec("speech create", False),
    _spec("speech set", False),
    _spec("speech destroy", True),
    _spec("speech load grammar", False),
    _spec("speech unload grammar", True),
    _spec("speech activate grammar", False),
    _spec("speech deactivate grammar", False),
    _spec("speech recognize", False),
)


# Commands by their words, for a lookup per prefix length instead of a scan.
_BY_WORDS: Final = {spec.key: spec for spec in reversed(COMMANDS)}
_MAX_WORDS: Final = max(len(spec.words) for spec in COMMANDS)


def find_command(argv: list[bytes]) -> CommandSpec | None:
    """res_agi.c `find_command(cmds, 0)`: the first command whose words all match the
    first arguments, case-insensitively (strcasecmp: ASCII only); extra arguments are
    the command's own. No two commands share a prefix of whole words, so the first
    match in the table is the only one."""
    lowered = tuple(arg.lower() for arg in argv[:_MAX_WORDS])
    for n in range(1, len(lowered) + 1):
        spec = _BY_WORDS.get(lowered[:n])
        if spec is not None:
            return spec
    return None
