"""Where a dialplan's files are: what a load reads, named without loading anything.

Kept apart from the loader (ruamel.yaml) and the catalog models (pydantic) so that
hashing a dialplan's files (`ivr.version`) costs neither import: the classic AGI script
hashes them on every call to find its cached flows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = ["CATALOG_NAMES", "dialplan_layout"]

CATALOG_NAMES: Final = (
    "queues.yaml",
    "dispositions.yaml",
    "scripts.yaml",
    "schedules.yaml",
    "pause_reasons.yaml",
)
"""The catalog files of `dialplan/` (`ivr.catalog.CATALOG_FILES` gives their models)."""


def dialplan_layout(path: Path) -> tuple[Path, Path]:
    """(root, flows folder) of a dialplan named by `path`: a folder with `flows/`,
    a folder named `flows` (its parent holds the catalog), or a plain folder of flows."""
    if (path / "flows").is_dir():
        return path, path / "flows"
    if path.name == "flows":
        return path.parent, path
    return path, path
