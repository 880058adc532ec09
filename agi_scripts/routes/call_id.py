"""What a call id read from Asterisk may be.

The call id keys the call's row, its journey and its pops. Asterisk's are uniqueids
(`[system-]1795389902.6`, or an ARI client's `channelId`): printable ASCII without
spaces, at most 149 characters (AST_MAX_PUBLIC_UNIQUEID). Ours are stored in 128
(`calls.call_id`, `journeys.call_id`: crm_adapter/sql/tables.py): a longer one would be
stored clipped, and two calls could share a row. Anything else (a 9,000-character id,
one with control characters) is not from a real Asterisk.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MAX_CALL_ID", "is_call_id", "shown"]

MAX_CALL_ID: Final = 128
_CALL_ID: Final = re.compile(rf"[!-~]{{1,{MAX_CALL_ID}}}")


def is_call_id(value: str) -> bool:
    return _CALL_ID.fullmatch(value) is not None


def shown(value: str, limit: int = 40) -> str:
    """A log-safe glimpse of a peer's value: repr escapes control characters."""
    return f"{value[:limit]!r}{'...' if len(value) > limit else ''} ({len(value)} characters)"
