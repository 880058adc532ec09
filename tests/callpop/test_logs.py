"""Caller-controlled text in logs is data: it cannot forge a line or a field."""

from __future__ import annotations

import io
import logging

from callpop.logs import FieldFormatter, safe


def test_a_newline_in_a_caller_name_cannot_start_a_second_log_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(FieldFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test.logs.newline")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("call started", extra={"fields": {"caller_name": 'Bob\nERROR forged line'}})
    assert stream.getvalue().count("\n") == 1
    assert 'caller_name="Bob\\nERROR forged line"' in stream.getvalue()


def test_plain_values_are_left_readable() -> None:
    assert safe("1795389902.7") == "1795389902.7"


def test_quotes_spaces_and_non_ascii_are_escaped_into_one_token() -> None:
    assert safe('Zoë "Z"') == '"Zo\\xeb \\"Z\\""'
