"""What a callback request must be before it is stored, in the standard library alone:
`CallbackStore` (SQLAlchemy, `serve`) and the classic AGI script's sqlite3 path
(callpop/classic_services.py) check with the same rules."""

from __future__ import annotations

import re

__all__ = ["WAITING", "check_number", "check_request", "printable"]

# A number callpop may dial back: digits, an optional leading +, as typed on a keypad or
# given by caller ID. It becomes the Exten of an Originate: nothing else may pass.
_NUMBER = re.compile(r"\+?[0-9]{2,31}", re.ASCII)
_QUEUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}", re.ASCII)
WAITING = ("pending", "placing")


def check_number(number: str) -> str:
    """The number, or ValueError saying what a callback number is."""
    if not _NUMBER.fullmatch(number):
        raise ValueError(
            f"{number[:40]!r} is not a number to call back: 2 to 31 digits, an optional leading '+'"
        )
    return number


def check_request(*, call_id: str, queue: str, number: str, call_id_limit: int) -> None:
    """ValueError when a request cannot be stored as given."""
    check_number(number)
    if not call_id or len(call_id) > call_id_limit:
        raise ValueError(f"call id must be 1 to {call_id_limit} characters")
    if not _QUEUE.fullmatch(queue):
        raise ValueError(f"{queue[:40]!r} is not a queue name")


def printable(text: str, limit: int) -> str:
    # caller ID names are the caller's to choose: keep them one printable line
    return "".join(ch if ch.isprintable() else " " for ch in text)[:limit]
