"""Reading a customer CSV: the header, then one validated row at a time. No database.

The contract (design.md, `callpop crm import`): a header row; `name` and `phone`
required; `account`, `tier`, `language`, `email`, `external_id` optional; any other
column is an error for the whole file (a misspelt `acount` would silently drop every
account). A bad row is rejected with its line number and the reason, and the rest go
on. Line numbers are the file's physical lines, 1-based, where the record starts (a
quoted field may span lines). `phone` may hold several numbers separated by `;`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from crm_adapter.phone import PhoneNormaliser
from crm_adapter.sql.tables import LIMITS

__all__ = ["COLUMNS", "REQUIRED", "CsvRow", "ImportFileError", "Rejection", "read_rows"]

REQUIRED = ("name", "phone")
COLUMNS = ("name", "phone", "account", "tier", "language", "email", "external_id")

_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNDECODED = re.compile("[\udc80-\udcff]")  # what surrogateescape made of bad bytes

if TYPE_CHECKING:
    from _csv import Reader as _CsvReader


class ImportFileError(Exception):
    """The file as a whole cannot be imported; `str()` is `FILE:LINE: message`."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    name: str
    phones: tuple[str, ...]  # E.164, in the file's order, no repeats
    account: str | None
    tier: str | None
    language: str | None
    email: str | None
    external_id: str | None
    # The optional columns the file has: a column it lacks leaves stored values alone.
    present: frozenset[str]


def _lines(stream: BinaryIO, progress: Callable[[int], None] | None) -> Iterator[str]:
    """Text lines for `csv`, counting bytes for the progress bar. Bytes that are not
    UTF-8 become lone surrogates, so the row holding them is rejected, not the file."""
    first = True
    for raw in stream:
        if progress is not None:
            progress(len(raw))
        if first and raw.startswith(b"\xef\xbb\xbf"):  # the BOM spreadsheets write
            raw = raw[3:]
        first = False
        yield raw.decode("utf-8", "surrogateescape")


def read_rows(
    path: Path, phone: PhoneNormaliser, progress: Callable[[int], None] | None = None
) -> Iterator[CsvRow | Rejection]:
    """Rows of `path`, each validated or rejected; raises `ImportFileError` for a file
    that cannot be imported at all (unreadable, no header, unknown column)."""
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise ImportFileError(path, 1, f"cannot read: {exc.strerror or exc}") from None
    with stream:
        reader = csv.reader(_lines(stream, progress), strict=True)
        header = _header(path, reader)
        index = {name: header.index(name) for name in header}
        present = frozenset(header)
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Rejection(start, f"malformed CSV: {exc}")
                continue
            if not fields or fields == [""]:
                continue  # a blank line
            if len(fields) != len(header):
                yield Rejection(start, f"{len(fields)} fields, the header has {len(header)}")
                continue
            yield _row(start, {name: fields[i] for name, i in index.items()}, phone, present)


def _header(path: Path, reader: _CsvReader) -> list[str]:
    try:
        for fields in reader:
            if fields and fields != [""]:
                break
        else:
            raise ImportFileError(path, 1, "the file is empty: expected a header row "
                                  f"({', '.join(COLUMNS)})")
    except csv.Error as exc:
        raise ImportFileError(path, 1, f"malformed header: {exc}") from None
    at = reader.line_num
    header = [f.strip().lower() for f in fields]
    known = ", ".join(COLUMNS)
    for name in header:
        if not name:
            raise ImportFileError(path, at, f"a column has no name (columns: {known})")
        if name not in COLUMNS:
            raise ImportFileError(path, at, f"unknown column {name[:40]!r} (columns: {known})")
        if header.count(name) > 1:
            raise ImportFileError(path, at, f"column {name!r} appears twice")
    for name in REQUIRED:
        if name not in header:
            raise ImportFileError(path, at, f"missing column {name!r} (required: name, phone)")
    return header


def _row(
    line: int, values: dict[str, str], phone: PhoneNormaliser, present: frozenset[str]
) -> CsvRow | Rejection:
    for column, value in values.items():
        if _UNDECODED.search(value):
            return Rejection(line, f"{column}: not valid UTF-8")
    cleaned = {k: v.strip() for k, v in values.items()}
    name = cleaned["name"]
    if not name:
        return Rejection(line, "name is empty")
    for column in ("name", "account", "tier", "language", "email", "external_id"):
        value = cleaned.get(column, "")
        if _CONTROL.search(value):
            return Rejection(line, f"{column} contains control characters")
        if len(value) > LIMITS[column]:
            return Rejection(line, f"{column} is longer than {LIMITS[column]} characters")
    numbers = [p.strip() for p in cleaned["phone"].split(";") if p.strip()]
    if not numbers:
        return Rejection(line, "phone is empty")
    e164s: list[str] = []
    for number in numbers:
        e164 = phone.normalise(number)
        if e164 is None:
            return Rejection(line, f"phone {number[:40]!r} is not a possible phone number")
        if e164 not in e164s:
            e164s.append(e164)
    language = cleaned.get("language") or None
    if language is not None and not _LANGUAGE.fullmatch(language):
        return Rejection(line, f"language {language!r} is not a language tag (e.g. en, en-GB)")
    email = cleaned.get("email") or None
    if email is not None and not _EMAIL.fullmatch(email):
        return Rejection(line, f"email {email!r} is not an email address")
    tier = cleaned.get("tier") or None
    return CsvRow(
        line=line,
        name=name,
        phones=tuple(e164s),
        account=cleaned.get("account") or None,
        # Tiers are labels flows compare against (`tier == "gold"`): one spelling.
        tier=tier.lower() if tier else None,
        language=language,
        email=email,
        external_id=cleaned.get("external_id") or None,
        present=present,
    )
