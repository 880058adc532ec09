"""Reading a customer CSV: the header, then one validated row at a time. No database.

The contract (design.md, `callpop crm import`): a header row; `name` and `phone`
required; `account`, `tier`, `language`, `email`, `external_id` optional; any other
column is an error for the whole file (a misspelt `acount` would silently drop every
account). A bad row is rejected with its line number and the reason, and the rest go
on. Line numbers are the file's physical lines, 1-based, where the record starts (a
quoted field may span lines). `phone` may hold several numbers separated by `;`.

A stray quote (`Bob,"555 123,...` with no closing `"`) would make the csv module read
the rest of the file as one field, so one typo would cost every row after it. A
record that spans lines is only taken as one when it parses cleanly into the header's
number of fields; otherwise its first line is rejected ("unclosed quote at column C")
and reading starts again on the line after it, so only the broken line is lost.
"""

from __future__ import annotations

import csv
import re
from collections import deque
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


class _Lines:
    """The text lines fed to `csv.reader`, numbered, and kept while a record is read so
    that the lines after a broken record's first can be read again on their own.

    What a record may hold is bounded by the csv module's field size limit (128 KiB),
    so a record that swallows the rest of the file stops there, and so does the buffer.
    """

    def __init__(self, source: Iterator[str]) -> None:
        self._source = source
        self._again: deque[tuple[int, str]] = deque()
        self._taken: list[tuple[int, str]] = []
        self._next_line = 1

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._again:
            number, text = self._again.popleft()
        else:
            text = next(self._source)
            number = self._next_line
            self._next_line += 1
        self._taken.append((number, text))
        return text

    def start_record(self) -> None:
        self._taken.clear()

    @property
    def taken(self) -> list[tuple[int, str]]:
        """The (line number, text) pairs read since `start_record`."""
        return self._taken

    def read_again_after_first(self) -> None:
        """The current record is broken: its lines but the first come round again."""
        self._again.extendleft(reversed(self._taken[1:]))
        self._taken.clear()


def _unclosed_quote_column(text: str) -> int | None:
    """The 1-based column of the quote that opens a field and is never closed on this
    line, if there is one (a `""` inside a quoted field is an escaped quote)."""
    i, field_start, opened = 0, True, None
    while i < len(text):
        ch = text[i]
        if opened is not None:
            if ch == '"':
                if text[i + 1 : i + 2] == '"':
                    i += 1
                else:
                    opened = None
        elif field_start and ch == '"':
            opened = i
        field_start = opened is None and ch == ","
        i += 1
    return None if opened is None else opened + 1


def _broken(number: int, text: str, error: str) -> Rejection:
    column = _unclosed_quote_column(text)
    if column is not None:
        return Rejection(
            number,
            f"unclosed quote at column {column}: the field it opens "
            "never ends on this line (the lines after it are read on their own)",
        )
    return Rejection(number, f"malformed CSV: {error}")


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
        lines = _Lines(_lines(stream, progress))
        reader = csv.reader(lines, strict=True)
        header = _header(path, reader)
        index = {name: header.index(name) for name in header}
        present = frozenset(header)
        while True:
            lines.start_record()
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if not lines.taken:
                    return  # nothing was left to read
                number, text = lines.taken[0]
                yield _broken(number, text, str(exc))
                lines.read_again_after_first()
                reader = csv.reader(lines, strict=True)  # a reader is done after an error
                continue
            start, text = lines.taken[0]
            if not fields or fields == [""]:
                continue  # a blank line
            if len(fields) != len(header):
                if len(lines.taken) > 1:
                    # A quote opened on `start` swallowed the lines after it.
                    yield _broken(
                        start, text, f"{len(fields)} fields over {len(lines.taken)} lines"
                    )
                    lines.read_again_after_first()
                    reader = csv.reader(lines, strict=True)
                    continue
                yield Rejection(start, f"{len(fields)} fields, the header has {len(header)}")
                continue
            yield _row(start, {name: fields[i] for name, i in index.items()}, phone, present)


def _header(path: Path, reader: _CsvReader) -> list[str]:
    try:
        for fields in reader:
            if fields and fields != [""]:
                break
        else:
            raise ImportFileError(
                path, 1, f"the file is empty: expected a header row ({', '.join(COLUMNS)})"
            )
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
