"""Logging set up once by the entry point, never at import time.

Lines are `time level logger message key=value ...`. Values that came from a caller or
a peer (caller ID names, digits, CRM fields) are passed as `extra={"fields": {...}}`
and rendered with `repr`-style escaping, so a caller name holding a newline or an ANSI
escape can never forge a second log line or repaint a terminal.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["FieldFormatter", "safe", "setup_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def safe(value: object) -> str:
    """One log token for any value: printable ASCII kept, the rest escaped."""
    text = str(value)
    if text and text.isprintable() and text.isascii() and " " not in text and '"' not in text:
        return text
    return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


class FieldFormatter(logging.Formatter):
    """Appends `key=value` pairs from `extra={"fields": {...}}`, each escaped by `safe`."""

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
