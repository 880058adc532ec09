"""screenpop is given its settings (`ScreenpopSettings`, built by callpop's composition
root): no module of it imports callpop, even inside a function or under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

SCREENPOP = Path(__file__).resolve().parents[2] / "screenpop"


def test_no_screenpop_module_imports_callpop() -> None:
    found = []
    for path in sorted(SCREENPOP.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            found += [f"{path.name}:{node.lineno}" for n in names if n.split(".")[0] == "callpop"]
    assert found == []
