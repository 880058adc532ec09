"""Logging set up once by the entry point, never at import time.

Lines are `time level logger message key=value ...`. Values that came from a caller or
a peer (caller ID names, digits, CRM fields) are passed as `extra={"fields": {...}}`
and rendered with `repr`-style escaping, so a caller name holding a newline or an ANSI
escape can never forge a second log line or repaint a terminal.

The message itself goes through the same escaping (`printable`): a peer's string that
reached it through `%s` (an Asterisk call id in a call's prefix, an AMI field, a
header) cannot break the line either. One helper for every log line, so no call site
has to remember; a traceback, added after the message, keeps its lines.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["FieldFormatter", "printable", "safe", "setup_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def _escape(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


def printable(text: str) -> str:
    """`text` with every character that is not printable (CR, LF, ESC and the other
    controls, DEL, bidirectional overrides) written as its Python escape (`\\r`,
    `\\x1b`, `\\u202e`), and backslashes doubled, so an escape in the input cannot
    pass for one made here. Readable text, accented letters included, is kept."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(c if c.isprintable() and c != "\\" else _escape(c) for c in text)


def safe(value: object) -> str:
    """One log token for any value: printable ASCII kept, the rest escaped."""
    text = str(value)
    if (
        text
        and text.isprintable()
        and text.isascii()
        and " " not in text
        and '"' not in text
        and "\\" not in text
    ):
        return text
    return (
        '"'
        + "".join(
            c if " " <= c <= "~" and c not in '"\\' else ('\\"' if c == '"' else _escape(c))
            for c in text
        )
        + '"'
    )


class FieldFormatter(logging.Formatter):
    """The message escaped by `printable`, then `key=value` pairs from
    `extra={"fields": {...}}`, each escaped by `safe`."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields: Any = getattr(record, "fields", None)
        if isinstance(fields, Mapping) and fields:
            line += " " + " ".join(f"{k}={safe(v)}" for k, v in fields.items())
        return line


def setup_logging(level: str = "INFO", stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(FieldFormatter(_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's access log is noise at info level for a telephony server.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
