"""The simulated AGI commands that play sound or listen for keys (and EXEC, which may
do both), as res_agi.c, main/app.c and main/channel.c of Asterisk 22 run them.

Each handler takes the channel, the command's arguments as Asterisk split them
(`argv[0]` is the first command word) and the `CommandReply` to fill, and returns False
for wrong arguments (Asterisk's 520).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from callpop.pbx_sim.app_args import separate_args

if TYPE_CHECKING:
    from callpop.pbx_sim.agi_channel import AgiChannelSim, CommandReply

__all__ = ["DTMF_KEYS", "HANDLERS", "SAMPLES_PER_MS", "atoi", "scan_int"]

SAMPLES_PER_MS: Final = 8  # endpos counts 8 kHz samples (beep: 3404, about 0.43 s)
SAY_DIGIT_MS: Final = 830  # say-verbose-misc.txt: SAY DIGITS 123 took 2.496 s
DTMF_KEYS: Final = "0123456789*#ABCD"


def _b(text: str) -> bytes:
    return text.encode("utf-8")


def scan_int(text: str) -> int | None:
    """C `sscanf("%30d")`: optional spaces and sign, then digits; None when none."""
    match = re.match(r"\s*([+-]?\d{1,30})", text)
    return None if match is None else int(match.group(1))


def atoi(text: str) -> int:
    value = scan_int(text)
    return 0 if value is None else value


def _ms(samples: int) -> int:
    return -(-samples // SAMPLES_PER_MS)


def _play(sim: AgiChannelSim, samples: int, offset: int, escapes: str) -> tuple[str, int] | None:
    """Play from `offset` samples; returns what stopped it (see `AgiChannelSim.wait`)."""
    return sim.wait(_ms(max(0, samples - offset)), escapes)


def _stream_file(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    if not 4 <= len(argv) <= 5:
        return False
    offset = 0
    if len(argv) == 5:
        parsed = scan_int(argv[4])
        if parsed is None:
            return False
        offset = parsed
    samples = sim.sound_samples(argv[2])
    if samples is None:  # stream-file.txt: a missing file answers at once
        out.lines.append(_b(f"200 result=-1 endpos={offset}"))
        return True
    sim.played.append(argv[2])
    escapes = argv[3]
    if escapes:
        sim.cursor.listen(sim.now_ms)
    start = sim.now_ms
    got = _play(sim, samples, offset, escapes)
    endpos = min(samples, offset + (sim.now_ms - start) * SAMPLES_PER_MS)
    if got is None:
        out.lines.append(_b(f"200 result=0 endpos={samples}"))
        sim.variables["PLAYBACKSTATUS"] = "SUCCESS"
        return True
    code = got[1] if got[0] == "key" else -1
    out.lines.append(_b(f"200 result={code} endpos={endpos}"))
    sim.variables["PLAYBACKSTATUS"] = "FAILED"
    if got[0] == "hangup":
        sim.hang_up(out)
    return True


def _get_option(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    # STREAM FILE, then a wait for an escape key (stream-file.txt: `200 result=50 endpos=11234`).
    if not 4 <= len(argv) <= 5:
        return False
    samples = sim.sound_samples(argv[2])
    if samples is None:
        out.lines.append(b"200 result=-1 endpos=0")
        return True
    sim.played.append(argv[2])
    escapes = argv[3]
    sim.cursor.listen(sim.now_ms)
    start = sim.now_ms
    got = _play(sim, samples, 0, escapes)
    endpos = min(samples, (sim.now_ms - start) * SAMPLES_PER_MS)
    if got is None:
        timeout = atoi(argv[4]) if len(argv) == 5 else 5000
        got = sim.wait(timeout if timeout > 0 else 5000, escapes)
        if got is None:
            sim.cursor.timed_out()
    if got is None:
        out.lines.append(_b(f"200 result=0 endpos={endpos}"))
    elif got[0] == "key":
        out.lines.append(_b(f"200 result={got[1]} endpos={endpos}"))
    else:
        out.lines.append(_b(f"200 result=-1 endpos={endpos}"))
        sim.hang_up(out)
    return True


def _control_stream_file(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    # Its endpos is in milliseconds and -1 after a full play; `#` is the default
    # fast-forward key and does not stop it (stream-file.txt).
    if not 4 <= len(argv) <= 9:
        return False
    samples = sim.sound_samples(argv[2])
    if samples is None:
        out.lines.append(b"200 result=-1 endpos=-1")
        return True
    sim.played.append(argv[2])
    stop = argv[3].replace("#", "") if len(argv) < 6 else argv[3]
    if stop:
        sim.cursor.listen(sim.now_ms)
    start = sim.now_ms
    got = _play(sim, samples, 0, stop)
    if got is None:
        sim.variables.update(CPLAYBACKSTATUS="SUCCESS", CPLAYBACKOFFSET="-1")
        out.lines.append(b"200 result=0 endpos=-1")
    elif got[0] == "key":
        offset = sim.now_ms - start
        sim.variables.update(
            CPLAYBACKSTATUS="USERSTOPPED", CPLAYBACKSTOPKEY=chr(got[1]), CPLAYBACKOFFSET=str(offset)
        )
        out.lines.append(_b(f"200 result={got[1]} endpos={offset}"))
    else:
        out.lines.append(b"200 result=-1 endpos=-1")
        sim.hang_up(out)
    return True


def _wait_for_digit(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    if len(argv) != 4:
        return False
    timeout = scan_int(argv[3])
    if timeout is None:
        return False
    sim.cursor.listen(sim.now_ms)
    got = sim.wait(None if timeout < 0 else timeout, DTMF_KEYS)
    if got is None:
        sim.cursor.timed_out()
        out.lines.append(b"200 result=0")
    elif got[0] == "key":
        out.lines.append(_b(f"200 result={got[1]}"))
    else:
        out.lines.append(b"200 result=-1")
        sim.hang_up(out)
    return True


def _read_digits(
    sim: AgiChannelSim, prompt: str, maxlen: int, first_ms: int | None, between_ms: int | None
) -> tuple[str, str]:
    """ast_app_getdata_full + ast_readstring_full: any key stops the prompt and counts;
    `#` ends input and is dropped. Returns (status, digits) with status one of
    "complete", "timeout", "empty" (`#` alone), "hangup", "failed"."""
    sim.cursor.listen(sim.now_ms)
    got: tuple[str, int] | None = None
    if prompt:
        samples = sim.sound_samples(prompt)
        if samples is None:
            return ("failed", "")
        sim.played.append(prompt)
        got = _play(sim, samples, 0, DTMF_KEYS)
    digits = ""
    wait = first_ms
    while True:
        if got is None:
            got = sim.wait(wait, DTMF_KEYS)
        if got is None:
            sim.cursor.timed_out()
            return ("timeout", digits)
        if got[0] == "hangup":
            return ("hangup", "")
        key = chr(got[1])
        got = None
        if key == "#" and not digits:
            return ("empty", "")
        if key != "#":
            digits += key
        if key == "#" or len(digits) >= maxlen:
            return ("complete", digits)
        wait = between_ms


def _get_data(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    if len(argv) < 3:
        return False
    timeout = atoi(argv[3]) if len(argv) >= 4 else 0
    maxlen = atoi(argv[4]) if len(argv) >= 5 else 1024
    if maxlen <= 0:
        out.lines.append(b"200 result=-1")
        return True
    # main/app.c: 6 s for the first key and 2 s between keys, unless a timeout is given
    # (then both); a negative timeout waits forever.
    first, between = (6000, 2000) if timeout == 0 else (timeout, timeout)
    status, digits = _read_digits(
        sim, argv[2], maxlen, None if timeout < 0 else first, None if timeout < 0 else between
    )
    if status == "timeout":
        out.lines.append(_b(f"200 result={digits} (timeout)"))  # get-data.txt
    elif status in ("hangup", "failed"):
        out.lines.append(b"200 result=-1")
        if status == "hangup":
            sim.hang_up(out)
    else:
        out.lines.append(_b(f"200 result={digits}"))
    return True


def _say(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    what = argv[1].upper()
    if (what == "DIGITS" and len(argv) != 4) or not 4 <= len(argv) <= 5:
        return False
    if what != "ALPHA" and scan_int(argv[2]) is None:
        return False
    spoken = argv[2].lstrip("+-")
    escapes = argv[3]
    if escapes:
        sim.cursor.listen(sim.now_ms)
    sim.played.append(f"say-{what.lower()}:{argv[2]}")
    got = sim.wait(SAY_DIGIT_MS * max(1, len(spoken)), escapes)
    if got is None:
        out.lines.append(b"200 result=0")
    elif got[0] == "key":
        out.lines.append(_b(f"200 result={got[1]}"))
    else:
        out.lines.append(b"200 result=-1")
        sim.hang_up(out)
    return True


def _record_file(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    # say-verbose-misc.txt: `200 result=35 (dtmf) endpos=0`, `200 result=0 (timeout) endpos=0`.
    if len(argv) < 6:
        return False
    escapes, timeout = argv[4], atoi(argv[5])
    sim.cursor.listen(sim.now_ms)
    got = sim.wait(None if timeout < 0 else timeout, escapes)
    if got is None:
        sim.cursor.timed_out()
        out.lines.append(b"200 result=0 (timeout) endpos=0")
    elif got[0] == "key":
        out.lines.append(_b(f"200 result={got[1]} (dtmf) endpos=0"))
    else:
        out.lines.append(b"200 result=-1 (hangup) endpos=0")
        sim.hang_up(out)
    return True


def _exec(sim: AgiChannelSim, argv: list[str], out: CommandReply) -> bool:
    if len(argv) < 2:
        return False
    app = argv[1].lower()
    data = argv[2] if len(argv) > 2 else ""
    if (sim.read("AGIEXECFULL") or "").lower() in ("yes", "true", "y", "t", "1", "on"):
        # ast_true(): the arguments are expanded before the application sees them,
        # whatever backslashes they hold (mset.txt).
        data = sim.substitute(data)
    sim.executed.append((argv[1], data))
    result = _APPLICATIONS[app](sim, data) if app in _APPLICATIONS else -2  # exec.txt
    out.lines.append(_b(f"200 result={result}"))
    if result == -1 and not sim.dead:
        sim.hang_up(out)
    return True


def _app_playback(sim: AgiChannelSim, data: str) -> int:
    # exec.txt: a missing prompt is `200 result=0` with PLAYBACKSTATUS=FAILED.
    samples = sim.sound_samples(data.split(",")[0])
    if samples is None:
        sim.variables["PLAYBACKSTATUS"] = "FAILED"
        return 0
    sim.played.append(data.split(",")[0])
    if not sim.dead and _play(sim, samples, 0, "") is not None:
        return -1
    sim.variables["PLAYBACKSTATUS"] = "SUCCESS"
    return 0


def _app_set(sim: AgiChannelSim, data: str) -> int:
    name, _, value = data.partition("=")
    sim.set(name, value)
    return 0


def _app_mset(sim: AgiChannelSim, data: str) -> int:
    # pbx_builtin_setvar_multiple: up to 99 pairs, each split at its first `=`; an entry
    # without one is skipped (Asterisk logs a warning); always 0 (mset.txt).
    for entry in separate_args(data, ",", 99):
        pair = separate_args(entry, "=", 2)
        if len(pair) == 2:
            sim.set(pair[0], pair[1])
    return 0


def _app_wait(sim: AgiChannelSim, data: str) -> int:
    try:
        seconds = float(data or "0")
    except ValueError:
        seconds = 0.0
    if not sim.dead and sim.wait(int(seconds * 1000), "") is not None:
        return -1
    return 0


def _app_read(sim: AgiChannelSim, data: str) -> int:
    # Read(variable,filenames,maxdigits,options,attempts,timeout): exec.txt reads `42#`.
    parts = [*data.split(","), "", "", "", "", ""]
    variable, prompt, maxdigits, timeout_s = parts[0], parts[1], atoi(parts[2]), parts[5]
    try:
        timeout = int(float(timeout_s) * 1000) if timeout_s else 0
    except ValueError:
        timeout = 0
    first, between = (6000, 2000) if timeout <= 0 else (timeout, timeout)
    status, digits = _read_digits(sim, prompt.split("&")[0], maxdigits or 255, first, between)
    if status == "hangup":
        sim.variables["READSTATUS"] = "HANGUP"
        return -1
    sim.set(variable, digits)
    sim.variables["READSTATUS"] = "TIMEOUT" if status == "timeout" and not digits else "OK"
    return 0


def _app_noop(sim: AgiChannelSim, data: str) -> int:
    return 0


def _app_answer(sim: AgiChannelSim, data: str) -> int:
    sim.up = True
    return 0


_APPLICATIONS: Final[dict[str, Callable[[AgiChannelSim, str], int]]] = {
    "playback": _app_playback,
    "set": _app_set,
    "mset": _app_mset,
    "wait": _app_wait,
    "read": _app_read,
    "noop": _app_noop,
    "verbose": _app_noop,
    "answer": _app_answer,
    "goto": _app_noop,
}

HANDLERS: Final[dict[str, Callable[[AgiChannelSim, list[str], CommandReply], bool]]] = {
    "STREAM FILE": _stream_file,
    "GET OPTION": _get_option,
    "CONTROL STREAM FILE": _control_stream_file,
    "WAIT FOR DIGIT": _wait_for_digit,
    "GET DATA": _get_data,
    "SAY DIGITS": _say,
    "SAY NUMBER": _say,
    "SAY ALPHA": _say,
    "RECORD FILE": _record_file,
    "EXEC": _exec,
}
