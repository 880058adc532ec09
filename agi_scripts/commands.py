"""AGI commands: one encoder that quotes every argument, and the builders the driver uses.

Asterisk splits a command line into arguments with `parse_args()` (res_agi.c): spaces
separate, `"` toggles quoting, and `\\` makes the next byte literal, inside quotes or
not. So an argument written as `"` + value with `\\` and `"` escaped + `"` always
reaches Asterisk as exactly that value, one argument (variables.txt:
`"say \\"hi\\" \\\\ back"` arrives as `say "hi" \\ back`). Every argument goes through
`quote()`, whoever it comes from: there is no per-method escaping to forget
(wazo-agid's `stream_file` passed file names raw).

What no quoting can carry, and what this module does about it:
- a newline ends the command, and whatever follows is read as the next command; a NUL
  truncates it (Asterisk handles C strings). Caller-controlled text (caller ID names,
  CRM fields) may hold either, so every control character becomes a space;
- Asterisk reads at most 8191 bytes of a command (`fgets` into `AGI_BUF_LEN` 8192)
  and reads the rest as a *second* command: a longer command is refused here with
  `LocalProtocolError` rather than truncated into an injection.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from agi_scripts.errors import LocalProtocolError

__all__ = [
    "ALL_KEYS",
    "MAX_COMMAND_BYTES",
    "Command",
    "answer",
    "channel_status",
    "digit_from_code",
    "exec_app",
    "get_data",
    "get_full_variable",
    "get_variable",
    "hangup",
    "noop",
    "quote",
    "say_digits",
    "say_number",
    "set_variable",
    "set_variables",
    "stream_file",
    "verbose",
    "wait_for_digit",
]

# res_agi.c: `char buf[AGI_BUF_LEN]` (8192) filled by fgets, so 8191 bytes incl. "\n".
MAX_COMMAND_BYTES: Final = 8191
# The keys a caller can press that the engine knows (DTMF A-D are not among them).
ALL_KEYS: Final = "0123456789*#"

_NAME = re.compile(r"[A-Z]+(?: [A-Z]+)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A variable, or a dialplan function with its argument (`CHANNEL(linkedid)`).
_PLAIN_VARIABLE = r"[A-Za-z_][A-Za-z0-9_]*"
_VARIABLE_NAME = re.compile(_PLAIN_VARIABLE + r"(?:\([^()\x00-\x1f]*\))?")
_ESCAPES = re.compile(r"[0-9*#A-D]*")


def quote(value: str) -> str:
    """`value` as one AGI argument: control characters become spaces, then `\\` and `"`
    are escaped and the whole is put in double quotes."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        # Most arguments (sound names, numbers, our variable names): nothing to change.
        # For ASCII, isprintable() is exactly "no byte in _CONTROL".
        return '"' + value + '"'
    value = _CONTROL.sub(" ", value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Command:
    """An AGI command: a fixed name (`STREAM FILE`) and its arguments, raw.

    The name is ours and never quoted; every argument is, by `encode()`.
    """

    name: str
    args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"an AGI command name is upper-case words, got {self.name!r}")

    def encode(self) -> bytes:
        line = " ".join((self.name, *map(quote, self.args))) + "\n"
        # A str may hold lone surrogates (e.g. decoded from JSON); never let one abort.
        data = line.encode("utf-8", "replace")
        if len(data) > MAX_COMMAND_BYTES:
            raise LocalProtocolError(
                f"{self.name} is {len(data)} bytes; Asterisk reads at most "
                f"{MAX_COMMAND_BYTES} and would run the rest as another command"
            )
        return data

    def __str__(self) -> str:
        return self.encode().decode("utf-8").rstrip("\n")


def _escape_digits(digits: str) -> str:
    if not _ESCAPES.fullmatch(digits):
        raise ValueError(f"escape digits are DTMF keys, got {digits!r}")
    return digits


def _variable(name: str) -> str:
    if not _VARIABLE_NAME.fullmatch(name):
        raise ValueError(f"not a channel variable or function name: {name!r}")
    return name


def answer() -> Command:
    return Command("ANSWER")


def noop() -> Command:
    return Command("NOOP")


def hangup() -> Command:
    return Command("HANGUP")


def channel_status() -> Command:
    return Command("CHANNEL STATUS")


def stream_file(sound: str, escape_digits: str = "", offset: int | None = None) -> Command:
    """Play `sound`; a key among `escape_digits` stops it (`200 result=<ascii> endpos=N`).

    A missing file answers `200 result=-1 endpos=0` at once (stream-file.txt), the
    same code as a hang-up, which is told apart by the `HANGUP` line that follows.
    """
    args: tuple[str, ...] = (sound, _escape_digits(escape_digits))
    if offset is not None:
        args += (str(int(offset)),)
    return Command("STREAM FILE", args)


def get_data(sound: str, timeout_ms: int, max_digits: int) -> Command:
    """Play `sound` (none if ""), then read up to `max_digits` keys; `#` ends input and
    is dropped; `timeout_ms` is both the first-key and the between-keys wait
    (`ast_app_getdata_full`); `(timeout)` follows the digits on a timeout (get-data.txt)."""
    if timeout_ms <= 0 or max_digits <= 0:
        raise ValueError("GET DATA needs a positive timeout and digit count")
    return Command("GET DATA", (sound, str(int(timeout_ms)), str(int(max_digits))))


def wait_for_digit(timeout_ms: int) -> Command:
    """Wait for one key: `200 result=<ascii>`, `0` on timeout, `-1` on hang-up."""
    return Command("WAIT FOR DIGIT", (str(int(timeout_ms)),))


def say_digits(digits: str, escape_digits: str = "") -> Command:
    if not digits.isdigit() or not digits.isascii():
        raise ValueError(f"SAY DIGITS takes digits, got {digits!r}")
    return Command("SAY DIGITS", (digits, _escape_digits(escape_digits)))


def say_number(number: int, escape_digits: str = "") -> Command:
    return Command("SAY NUMBER", (str(int(number)), _escape_digits(escape_digits)))


def set_variable(name: str, value: str) -> Command:
    """Set a channel variable; the value is stored as given, never evaluated (and
    quoted, like every argument, by `encode()`)."""
    return Command("SET VARIABLE", (_variable(name), value))


# MSet (main/pbx_variables.c, `pbx_builtin_setvar_multiple`) splits its argument at
# commas into at most 99 pairs with `ast_app_separate_args` (main/app.c): `\x` is a
# literal x, a `"` is dropped and toggles quoting, a comma inside quotes, `()` or `[]`
# does not separate. Then each pair at its first `=`, the value after it taken as it is
# (the split's last part is never unescaped). So a value needs this one escape: every
# character that split looks at, backslashed (mset.txt, recorded on Asterisk 22).
_APP_SPECIAL = re.compile(r'([\\",()\[\]])')
_PLAIN_NAME = re.compile(_PLAIN_VARIABLE)
# The 99th part is the unsplit rest: stay under it.
_MSET_PAIRS: Final = 98
# `EXEC "MSet" "` ... `"\n` around the pairs.
_MSET_FRAME_BYTES: Final = len(b'EXEC "MSet" ""\n')


def set_variables(variables: Sequence[tuple[str, str]]) -> tuple[Command, ...]:
    """The commands that set `variables` on the channel, in order: as many as fit in one
    `EXEC MSet` (one round trip instead of one `SET VARIABLE` each).

    A value holding `$` is set by its own `SET VARIABLE`, which never evaluates: a
    channel with `AGIEXECFULL=yes` has Asterisk substitute `${...}` in an EXEC's
    arguments before the application sees them (res_agi.c, `handle_exec`), and the
    escapes above do not stop that. A pair too long for any command is left to
    `encode()`, which refuses it."""
    commands: list[Command] = []
    batch: list[str] = []
    size = _MSET_FRAME_BYTES

    def flush() -> None:
        nonlocal size
        if batch:
            commands.append(Command("EXEC", ("MSet", ",".join(batch))))
            batch.clear()
            size = _MSET_FRAME_BYTES

    for name, value in variables:
        if not _PLAIN_NAME.fullmatch(name):
            raise ValueError(f"MSet sets plain variables, got {name!r}")
        if "$" in value:
            flush()
            commands.append(set_variable(name, value))
            continue
        pair = name + "=" + _APP_SPECIAL.sub(r"\\\1", value)
        # Bytes as `encode()` will write them: quote() escapes each \ and ".
        pair_bytes = len(quote(pair).encode("utf-8", "replace")) - 1  # - 2 quotes + 1 comma
        if batch and (size + pair_bytes > MAX_COMMAND_BYTES or len(batch) == _MSET_PAIRS):
            flush()
        batch.append(pair)
        size += pair_bytes
    flush()
    return tuple(commands)


def get_variable(name: str) -> Command:
    """`200 result=1 (value)`, or `200 result=0` when unset (variables.txt)."""
    return Command("GET VARIABLE", (_variable(name),))


def get_full_variable(expression: str) -> Command:
    """Evaluate a `${...}` expression on the channel. Never pass caller text in it."""
    return Command("GET FULL VARIABLE", (expression,))


def exec_app(application: str, arguments: str | None = None) -> Command:
    """Run a dialplan application; its arguments are one string, comma-separated."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", application):
        raise ValueError(f"not a dialplan application name: {application!r}")
    args = (application,) if arguments is None else (application, arguments)
    return Command("EXEC", args)


def verbose(message: str, level: int = 1) -> Command:
    return Command("VERBOSE", (message, str(int(level))))


def digit_from_code(code: int) -> str | None:
    """The key of a `result=<ascii>` (`49` is `1`, `35` is `#`, `42` is `*`), "" for `0`
    (no key), None for a key the engine does not know (DTMF A-D)."""
    if code == 0:
        return ""
    if 0 < code < 128 and chr(code) in ALL_KEYS:
        return chr(code)
    return None
