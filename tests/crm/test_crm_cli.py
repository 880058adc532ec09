"""The CRM commands end to end: exit codes, where the output goes, its format."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from callpop.cli import cli
from crm_adapter.outbox import Outbox, enqueue
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "callpop.yaml"
    path.write_text("database: sqlite:///./callpop.db\nphone: {default_region: US}\n")
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def test_db_upgrade_migrates_then_has_nothing_to_do(config: Path) -> None:
    first, second = run(config, "db", "upgrade"), run(config, "db", "upgrade")
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert "upgraded from an empty database to" in first.stderr
    assert "already at revision" in second.stderr
    assert (config.parent / "callpop.db").is_file()


def test_a_bad_config_is_exit_1_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "callpop.yaml"
    path.write_text("database: mysql://x/y\n")
    result = run(path, "db", "upgrade")
    assert result.exit_code == 1
    assert f"{path}:1:" in result.stderr


def test_import_reports_rejected_rows_on_stdout_and_exits_1(config: Path, tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("name,phone,tier\nAda,5551234567,gold\n,5551112222,\nBob,oops,\n")

    result = run(config, "crm", "import", str(csv))

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{csv}:3: name is empty",
        f"{csv}:4: phone 'oops' is not a possible phone number",
    ]
    assert "1 created, 0 updated, 0 unchanged, 2 rejected" in result.stderr


def test_a_stray_quote_rejects_its_line_and_imports_the_other_1000(
    config: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "people.csv"
    rows = [f"Customer {n},555{n:07d},A{n}\n" for n in range(1, 1001)]
    rows.insert(499, 'Stray Quote,"5559999999,A-broken\n')  # line 501
    csv.write_text("name,phone,account\n" + "".join(rows))

    result = run(config, "crm", "import", str(csv))

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{csv}:501: unclosed quote at column 13: the field it opens never ends on this line "
        "(the lines after it are read on their own)"
    ]
    assert "1000 created, 0 updated, 0 unchanged, 1 rejected" in result.stderr


def test_a_clean_import_twice_is_exit_0_and_unchanged(config: Path, tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("name,phone,account\nAda,5551234567,4711\nBob,5551112222,4712\n")
    first, second = run(config, "crm", "import", str(csv)), run(config, "crm", "import", str(csv))
    assert (first.exit_code, second.exit_code, first.stdout, second.stdout) == (0, 0, "", "")
    assert "2 created" in first.stderr
    assert "0 created, 0 updated, 2 unchanged" in second.stderr


def test_an_unknown_column_imports_nothing(config: Path, tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("name,phone,acount\nAda,5551234567,4711\n")
    result = run(config, "crm", "import", str(csv))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{csv}:1: unknown column 'acount'")


def test_a_missing_file_is_exit_1_naming_it(config: Path, tmp_path: Path) -> None:
    result = run(config, "crm", "import", str(tmp_path / "nope.csv"))
    assert result.exit_code == 1
    assert f"{tmp_path / 'nope.csv'}:1: cannot read" in result.stderr


def test_init_demo_fills_the_database_once(config: Path) -> None:
    first = run(config, "init", "--demo", "--customers", "30", "--seed", "3")
    second = run(config, "init", "--demo", "--customers", "30", "--seed", "3")
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert "30 demo customers added (0 were there)" in first.stderr
    assert "demo logins: alice/alice" in first.stderr
    assert "0 demo customers added (30 were there)" in second.stderr


def test_init_without_demo_only_migrates(config: Path) -> None:
    result = run(config, "init")
    assert result.exit_code == 0 and "migrated" in result.stderr


def test_a_corrupt_database_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "callpop.db").write_bytes(b"not a database " * 300)
    config = tmp_path / "callpop.yaml"
    config.write_text(f"database: sqlite:///{tmp_path}/callpop.db\n")
    csv = tmp_path / "people.csv"
    csv.write_text("name,phone\nAda,5551234567\n")
    for args in (("db", "upgrade"), ("crm", "import", str(csv))):
        result = run(config, *args)
        assert result.exit_code == 1
        assert "Traceback" not in result.stderr
        (line,) = result.stderr.splitlines()
        assert line.endswith(
            f"sqlite:///{tmp_path}/callpop.db: database unavailable: file is not a database"
        ), line


async def _outbox_with_one_of_each(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        outbox = Outbox(engine)
        now = outbox.now()
        async with engine.begin() as conn:
            for call_id in ("c1", "c2", "c3"):
                await enqueue(conn, call_id, "log_interaction", {"call_id": call_id}, now)
        first, second, _third = await outbox.claim()
        await outbox.delivered(first)
        await outbox.failed(second, "log_interaction: CRM refused with HTTP 401: bad token")
    finally:
        await engine.dispose()


def test_outbox_lists_counts_and_the_refused_entries_with_the_crms_answer(
    config: Path, tmp_path: Path
) -> None:
    asyncio.run(_outbox_with_one_of_each(f"sqlite:///{tmp_path}/callpop.db"))
    result = run(config, "crm", "outbox")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("pending    1 (oldest ")
    assert lines[1:3] == ["failed     1", "delivered  1"]
    assert re.fullmatch(
        r"  c2:1  log_interaction  \S+ \S+Z  1 attempts  "
        r"log_interaction: CRM refused with HTTP 401: bad token",
        lines[5],
    )
    assert lines[-1] == "once the cause is fixed: callpop crm outbox retry --failed"


def test_outbox_retry_requeues_the_failed_ones_only_when_asked(
    config: Path, tmp_path: Path
) -> None:
    asyncio.run(_outbox_with_one_of_each(f"sqlite:///{tmp_path}/callpop.db"))
    plain = run(config, "crm", "outbox", "retry")
    assert plain.exit_code == 0
    # c3's claim lease still runs: a relay may be sending it, so it is left alone.
    assert plain.stdout.splitlines() == [
        "0 write-backs due now; a running callpop serve sends them within 5 s",
        "1 refused ones left as they are (add --failed to requeue them)",
    ]
    failed = run(config, "crm", "outbox", "retry", "--failed")
    assert failed.stdout.splitlines() == [
        "1 write-backs due now, 1 of them refused before; a running callpop serve sends them "
        "within 5 s"
    ]
    assert run(config, "crm", "outbox").stdout.splitlines()[:3][1] == "failed     0"
