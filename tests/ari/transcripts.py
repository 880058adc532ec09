"""The recorded ARI exchanges of tests/fixtures/asterisk/ari/, as rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "asterisk" / "ari"
API_DOCS = FIXTURES / "api-docs"
TRANSCRIPTS = sorted(FIXTURES.glob("*.jsonl"))


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def all_rows(kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, row) for every row of `kind` (`event`, `rest`, ...) of every transcript."""
    for path in TRANSCRIPTS:
        for row in rows(path):
            if row["type"] == kind:
                yield path.name, row


def event_frames() -> list[tuple[str, str]]:
    """(file name, exact text frame) of every recorded websocket event."""
    return [(name, row["raw"]) for name, row in all_rows("event")]


def api_docs(resource: str) -> dict[str, Any]:
    docs: dict[str, Any] = json.loads((API_DOCS / f"{resource}.json").read_text(encoding="utf-8"))
    return docs
