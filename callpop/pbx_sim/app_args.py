"""How a dialplan application splits its argument string: `__ast_app_separate_args()` of
main/app.c (Asterisk 22), for the simulator's applications.

Asterisk's rules, not callpop's, ported line for line so that a test of "this value
reaches the channel unchanged through `EXEC MSet`" tests Asterisk's parser and not our
encoder (mset.txt records the real server doing it).
"""

from __future__ import annotations

__all__ = ["separate_args"]


def separate_args(data: str, delim: str, max_args: int) -> list[str]:
    """Split `data` at `delim` into at most `max_args` parts, with `remove_chars` on (as
    `AST_STANDARD_APP_ARGS` and `AST_NONSTANDARD_APP_ARGS` call it).

    In every part but the last slot: `\\` makes the next character literal and is
    dropped, `"` is dropped and toggles quoting, and a delimiter inside quotes, `()` or
    `[]` does not split (the depths carry across parts, as in C). Once `max_args - 1`
    parts are split, the rest is the last part, exactly as it stands: nothing in it is
    unescaped. A delimiter as the last character adds an empty last part."""
    parts: list[str] = []
    paren = bracket = 0
    quoted = False
    at, end = 0, len(data)
    ended_on_delim = False
    while at < end and len(parts) < max_args - 1:
        part: list[str] = []
        ended_on_delim = False
        while at < end:
            ch = data[at]
            if ch == "(":
                paren += 1
            elif ch == ")":
                paren = max(paren - 1, 0)
            elif ch == "[":
                bracket += 1
            elif ch == "]":
                bracket = max(bracket - 1, 0)
            elif ch == '"' and delim != '"':
                quoted = not quoted
                at += 1
                continue
            elif ch == "\\":
                # C moves the rest left over the backslash and steps past the character
                # now under it (past the string's end if the backslash was last).
                if at + 1 < end:
                    part.append(data[at + 1])
                at += 2
                continue
            elif ch == delim and not paren and not quoted and not bracket:
                at += 1
                ended_on_delim = True
                break
            part.append(ch)
            at += 1
        parts.append("".join(part))
    if at < end or ended_on_delim:
        parts.append(data[at:])
    return parts
