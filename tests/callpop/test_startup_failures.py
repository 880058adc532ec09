"""`callpop serve` that cannot start: one line saying what failed and where, exit 1.

Each test starts the real command in a subprocess, as an operator or a service manager
would, with one thing wrong. Besides the usual startup log records, stderr holds
exactly one line: the error, naming the file, URL or port; never a traceback.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from tests.ports import free_port

FLOW = """\
entry: welcome
nodes:
  welcome:
    type: play
    prompts: [{sound: hello, text: Hello.}]
    next: bye
  bye:
    type: hangup
"""

# A record of `callpop.logs` (timestamp first), or a line of its JSON form.
_LOG_RECORD = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d|\{)")


def write_config(
    tmp_path: Path,
    extra: str = "",
    *,
    database: str = "sqlite:///./callpop.db",
    fastagi: int = 0,
    web: int = 0,
) -> Path:
    flows = tmp_path / "dialplan" / "flows"
    flows.mkdir(parents=True, exist_ok=True)
    (flows / "main.yaml").write_text(FLOW, encoding="utf-8")
    path = tmp_path / "callpop.yaml"
    path.write_text(
        f"fastagi: 127.0.0.1:{fastagi}\nweb: 127.0.0.1:{web}\ndatabase: {database}\n"
        f"dialplan: ./dialplan\n{extra}",
        encoding="utf-8",
    )
    return path


def serve_exits(config: Path) -> subprocess.CompletedProcess[str]:
    """Run `callpop serve`, which must stop on its own with exit 1 and no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOP_")}
    env["CALLPOP_WEB_SECRET"] = "k" * 32
    done = subprocess.run(
        [sys.executable, "-m", "callpop", "--config", str(config), "serve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    return done


def serve_fails(config: Path) -> str:
    """Run `callpop serve`, which must exit 1 on its own; its one error line."""
    done = serve_exits(config)
    errors = [line for line in done.stderr.splitlines() if not _LOG_RECORD.match(line)]
    assert len(errors) == 1, done.stderr
    return errors[0]


def test_a_database_file_in_a_missing_folder(tmp_path: Path) -> None:
    line = serve_fails(write_config(tmp_path, database="sqlite:///./no-such-dir/callpop.db"))
    assert line == (
        f"callpop serve: database sqlite:///{tmp_path}/no-such-dir/callpop.db: "
        "database unavailable: unable to open database file"
    )


def test_a_corrupt_database_file(tmp_path: Path) -> None:
    (tmp_path / "callpop.db").write_bytes(b"this is no SQLite database " * 200)
    line = serve_fails(write_config(tmp_path))
    assert line == (
        f"callpop serve: database sqlite:///{tmp_path}/callpop.db: "
        "database unavailable: file is not a database"
    )


def test_postgresql_down(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there any more
    line = serve_fails(
        write_config(tmp_path, database=f"postgresql://postgres:hunter2@127.0.0.1:{port}/callpop")
    )
    assert line.startswith(
        f"callpop serve: database postgresql://postgres:***@127.0.0.1:{port}/callpop: "
        "database unreachable: "
    )
    assert "Connection refused" in line
    assert "hunter2" not in line


def test_a_missing_crm_token_file(tmp_path: Path) -> None:
    token = tmp_path / "secrets" / "crm-token"
    line = serve_fails(
        write_config(
            tmp_path,
            (
                "crm:\n  adapter: rest\n  rest:\n    base_url: http://127.0.0.1:9\n"
                f"    auth: {{type: bearer, token_file: {token}}}\n"
                "    operations: {find_by_phone: 'GET /customers?phone={phone}'}\n"
            ),
        )
    )
    assert line == (
        f"callpop serve: crm.rest.auth: {token}: cannot read the secret: No such file or directory"
    )


def test_an_empty_crm_token_file(tmp_path: Path) -> None:
    token = tmp_path / "crm-token"
    token.write_text("\n")
    line = serve_fails(
        write_config(
            tmp_path,
            (
                "crm:\n  adapter: rest\n  rest:\n    base_url: http://127.0.0.1:9\n"
                f"    auth: {{type: header, name: X-Api-Key, token_file: {token}}}\n"
                "    operations: {find_by_phone: 'GET /customers?phone={phone}'}\n"
            ),
        )
    )
    assert line == f"callpop serve: crm.rest.auth: {token}: the secret file is empty"


def test_a_busy_web_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = serve_fails(write_config(tmp_path, web=port))
    assert line == (
        f"callpop serve: cannot listen for the web app on 127.0.0.1:{port}: "
        "the port is already in use"
    )


def test_a_busy_fastagi_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = serve_fails(write_config(tmp_path, fastagi=port))
    assert line == (
        f"callpop serve: cannot listen for FastAGI on 127.0.0.1:{port}: the port is already in use"
    )


def test_an_unreadable_dialplan_file(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    flow = tmp_path / "dialplan" / "flows" / "main.yaml"
    flow.unlink()
    # A dangling link: unreadable even for root, which chmod 000 is not.
    flow.symlink_to(tmp_path / "gone.yaml")
    done = serve_exits(config)
    # The dialplan's findings, one a line, then the summary: each says where.
    assert done.stderr.splitlines() == [
        f"{flow}:1:1: error: no such file [io-error]",
        "callpop serve: the dialplan has errors (run callpop lint)",
    ]
