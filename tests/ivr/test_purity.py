"""The engine is pure: nothing in `ivr/` but `runner.py`, `loop_concurrency.py` (the runner's
waits on an event loop) and `ari/` does I/O or reads a clock.

Checked on the source (AST), so an import hidden in a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ivr

IVR = Path(ivr.__file__).parent
IMPURE = {IVR / "runner.py", IVR / "loop_concurrency.py"}
FORBIDDEN_MODULES = frozenset(
    {
        "asyncio",
        "socket",
        "aiohttp",
        "sqlalchemy",
        "time",
        "selectors",
        "threading",
        "subprocess",
        "urllib",
        "http",
    }
)
# Reading the wall clock: `datetime.now()`, `datetime.utcnow()`, `datetime.today()`,
# `date.today()`, whatever the module was imported as.
CLOCK_CALLS = frozenset({"now", "utcnow", "today"})


def pure_modules() -> list[Path]:
    return sorted(
        path
        for path in IVR.rglob("*.py")
        if path not in IMPURE and (IVR / "ari") not in path.parents
    )


def violations(source: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found.extend(
            f"line {getattr(node, 'lineno', '?')}: imports {name}"
            for name in names
            if name.split(".")[0] in FORBIDDEN_MODULES
        )
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCK_CALLS
            and isinstance(node.func.value, ast.Name | ast.Attribute)
            and (ast.unparse(node.func.value).split(".")[-1] in ("datetime", "date"))
        ):
            found.append(f"line {node.lineno}: reads the clock with {ast.unparse(node.func)}()")
    return found


def test_the_engine_modules_are_checked() -> None:
    names = {path.name for path in pure_modules()}
    assert {
        "session.py",
        "call.py",
        "listening.py",
        "routing.py",
        "conditions.py",
        "schedule.py",
        "flow.py",
    } <= names
    assert "runner.py" not in names


@pytest.mark.parametrize("path", pure_modules(), ids=lambda p: str(p.relative_to(IVR)))
def test_no_io_and_no_clock(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio",
        "import time as t",
        "from socket import socket",
        "from sqlalchemy.ext.asyncio import create_async_engine",
        "import urllib.request",
        "def f():\n    import aiohttp",
        "from datetime import datetime\nx = datetime.now()",
        "import datetime\nx = datetime.datetime.utcnow()",
        "from datetime import date\nx = date.today()",
    ],
)
def test_the_check_finds_what_it_forbids(source: str) -> None:
    assert violations(source)


def test_the_check_allows_time_arithmetic() -> None:
    assert violations("from datetime import datetime, timedelta\nx = timedelta(seconds=1)") == []
