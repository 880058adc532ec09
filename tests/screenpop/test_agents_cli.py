"""`callpop agents add` and `agents list` against a real database file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from callpop.cli import cli
from crm_adapter.sql.engine import create_engine
from screenpop.auth import Passwords
from screenpop.sqlstore import SqlScreenpopStore


def run(tmp_path: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    config = tmp_path / "callpop.yaml"
    config.write_text("database: sqlite:///./agents.db\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "agents", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def stored_hash(tmp_path: Path, name: str) -> str:
    async def read() -> str:
        engine = create_engine(f"sqlite:///{tmp_path / 'agents.db'}")
        try:
            account = await SqlScreenpopStore(engine).account_by_name(name)
        finally:
            await engine.dispose()
        assert account is not None
        return account.password_hash

    return asyncio.run(read())


def test_add_an_agent_with_the_password_from_stdin(tmp_path: Path) -> None:
    code, out, _ = run(
        tmp_path,
        "add",
        "alice",
        "--interface",
        "pjsip/101",
        "--password-stdin",
        stdin="long enough pass\n",
    )
    assert code == 0
    assert out == "added agent alice on PJSIP/101 (id 1)\n"
    assert Passwords().verify(stored_hash(tmp_path, "alice"), "long enough pass")


def test_the_password_prompt_asks_twice(tmp_path: Path) -> None:
    code, out, _ = run(
        tmp_path,
        "add",
        "sue",
        "--interface",
        "PJSIP/200",
        "--role",
        "supervisor",
        stdin="supervisor-pass\nsupervisor-pass\n",
    )
    assert code == 0 and "added supervisor sue on PJSIP/200" in out


def test_list_shows_name_role_and_interface(tmp_path: Path) -> None:
    run(
        tmp_path,
        "add",
        "bob",
        "--interface",
        "Local/8100@callpop-agents/n",
        "--password-stdin",
        stdin="long enough pass\n",
    )
    code, out, _ = run(tmp_path, "list")
    assert (code, out) == (0, "bob\tagent\tLocal/8100@callpop-agents\n")


def test_user_errors_exit_1_with_the_reason(tmp_path: Path) -> None:
    run(
        tmp_path,
        "add",
        "alice",
        "--interface",
        "PJSIP/101",
        "--password-stdin",
        stdin="long enough pass\n",
    )
    cases = [
        (("add", "alice", "--interface", "PJSIP/102", "--password-stdin"), "already exists"),
        (("add", "carol", "--interface", "PJSIP/101", "--password-stdin"), "already exists"),
        (("add", "dave", "--interface", "101", "--password-stdin"), "not TECH/resource"),
        (("add", "<script>", "--interface", "PJSIP/103", "--password-stdin"), "agent name"),
    ]
    for args, message in cases:
        code, _, err = run(tmp_path, *args, stdin="long enough pass\n")
        assert code == 1 and message in err, (args, err)
    code, _, err = run(
        tmp_path, "add", "erin", "--interface", "PJSIP/104", "--password-stdin", stdin="short\n"
    )
    assert code == 1 and "at least 8 characters" in err


def test_a_wrong_role_is_bad_usage(tmp_path: Path) -> None:
    code, _, _ = run(
        tmp_path,
        "add",
        "x",
        "--interface",
        "PJSIP/1",
        "--role",
        "root",
        "--password-stdin",
        stdin="long enough pass\n",
    )
    assert code == 2
