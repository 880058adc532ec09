"""Caller-controlled text in logs is data: it cannot forge a line or a field."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from agi_scripts.request import CallLog
from callpop.logs import FieldFormatter, printable, safe, setup_logging


def test_a_newline_in_a_caller_name_cannot_start_a_second_log_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(FieldFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test.logs.newline")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("call started", extra={"fields": {"caller_name": "Bob\nERROR forged line"}})
    assert stream.getvalue().count("\n") == 1
    assert 'caller_name="Bob\\nERROR forged line"' in stream.getvalue()


def test_plain_values_are_left_readable() -> None:
    assert safe("1795389902.7") == "1795389902.7"


def test_quotes_spaces_and_non_ascii_are_escaped_into_one_token() -> None:
    assert safe('Zoë "Z"') == '"Zo\\xeb \\"Z\\""'


@contextmanager
def root_logging(stream: io.StringIO) -> Iterator[None]:
    """`setup_logging` as `serve` calls it, writing to `stream`; the root logger as it
    was afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    setup_logging("INFO", stream)
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_a_call_id_from_asterisk_cannot_forge_a_line_or_repaint_the_terminal() -> None:
    # the prefix FastAGI puts on every line of a call is the peer's agi_uniqueid
    stream = io.StringIO()
    with root_logging(stream):
        hostile = "1795389902.7\r\n2026-12-06 ERROR callpop forged \x1b[2J\x1b]0;owned\x07\u202e"
        CallLog(logging.getLogger("agi_scripts.server"), hostile, "x").warning(
            "caller hung up during %s", "menu\nINFO forged too"
        )
    written = stream.getvalue()
    assert written.count("\n") == 1
    assert "\x1b" not in written and "\r" not in written and "\u202e" not in written
    assert (
        "[1795389902.7\\r\\n2026-12-06 ERROR callpop forged \\x1b[2J\\x1b]0;owned\\x07\\u202e] "
        "caller hung up during menu\\nINFO forged too"
    ) in written


def test_a_traceback_keeps_its_lines_after_an_escaped_message() -> None:
    stream = io.StringIO()
    with root_logging(stream):
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("test.logs").exception("call %s failed", "a\nb")
    first, *rest = stream.getvalue().splitlines()
    assert first.endswith("call a\\nb failed")
    assert rest[0] == "Traceback (most recent call last):"


def test_printable_keeps_readable_text_and_escapes_the_rest() -> None:
    assert printable("José Müller 555-1234") == "José Müller 555-1234"
    assert printable("a\tb\\n") == "a\\tb\\\\n"  # a backslash in the input is doubled
