"""`callpop crm import`: the CSV contract, line-numbered rejections, idempotent upserts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.importer import CsvRow, ImportFileError, Rejection, import_customers, read_rows
from crm_adapter.phone import PhoneNormaliser
from crm_adapter.sql.store import SqlStore
from crm_adapter.sql.tables import customer_phones, customers

PHONE = PhoneNormaliser()
HEADER = "name,phone,account,tier,language,email,external_id\n"


def write(tmp_path: Path, text: str, name: str = "customers.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def rejections(path: Path) -> list[tuple[int, str]]:
    return [(r.line, r.reason) for r in read_rows(path, PHONE) if isinstance(r, Rejection)]


# --- reading ----------------------------------------------------------------------------


def test_bad_rows_are_rejected_with_their_line_and_reason(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "Ada,5551234567,,,,,\n"
        + ",5551112222,,,,,\n"
        + "Bob,call me maybe,,,,,\n"
        + '"Two\nlines",5552223333,,,,,\n'
        + "Carl,5553334444,,,english,,\n"
        + "Dora,5554445555,,,,dora@,\n"
        + "Eve,5555556666\n",
    )
    assert rejections(path) == [
        (3, "name is empty"),
        (4, "phone 'call me maybe' is not a possible phone number"),
        (5, "name contains control characters"),
        (7, "language 'english' is not a language tag (e.g. en, en-GB)"),
        (8, "email 'dora@' is not an email address"),
        (9, "2 fields, the header has 7"),
    ]


def thousand_rows_with_a_stray_quote_on_line(broken_line: int) -> str:
    rows = [f"Customer {n},555{n:07d},A{n},,,,\n" for n in range(1, 1001)]
    # One typo: a quote opened before the phone number and never closed.
    rows.insert(broken_line - 2, 'Stray Quote,"5559999999,A-broken,,,,\n')
    return HEADER + "".join(rows)


def test_a_stray_quote_costs_only_its_own_line(tmp_path: Path) -> None:
    path = write(tmp_path, thousand_rows_with_a_stray_quote_on_line(502))
    read = list(read_rows(path, PHONE))
    assert [(r.line, r.reason) for r in read if isinstance(r, Rejection)] == [
        (
            502,
            "unclosed quote at column 13: the field it opens never ends on this line "
            "(the lines after it are read on their own)",
        ),
    ]
    rows = [r for r in read if isinstance(r, CsvRow)]
    assert len(rows) == 1000
    assert (rows[500].line, rows[500].name) == (503, "Customer 501")
    assert (rows[-1].line, rows[-1].account) == (1002, "A1000")


def test_a_stray_quote_closed_by_a_later_quote_costs_only_its_own_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + 'Ada,"5551234567,,,,,\n'
        + "Bob,5551112222,,,,,\n"
        + '"Lovelace, Ada",5552223333,,,,,\n',
    )
    read = list(read_rows(path, PHONE))
    assert [r.line for r in read if isinstance(r, Rejection)] == [2]
    assert [(r.line, r.name) for r in read if isinstance(r, CsvRow)] == [
        (3, "Bob"),
        (4, "Lovelace, Ada"),
    ]


def test_an_escaped_quote_inside_a_quoted_field_is_not_a_stray_one(tmp_path: Path) -> None:
    path = write(tmp_path, 'name,phone\n"Ada ""The Countess"" L",5551234567\n')
    (row,) = read_rows(path, PHONE)
    assert isinstance(row, CsvRow) and row.name == 'Ada "The Countess" L'


def test_a_row_that_is_not_utf8_is_rejected_and_the_others_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, b"name,phone\nJos\xe9,5551234567\nAda,5551112222\n")  # type: ignore[arg-type]
    rows = list(read_rows(path, PHONE))
    assert rows[0] == Rejection(2, "name: not valid UTF-8")
    assert isinstance(rows[1], CsvRow) and rows[1].name == "Ada"


def test_a_spreadsheets_bom_and_blank_lines_are_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffName, Phone \r\n\r\nAda,+1 555 123 4567\r\n")
    rows = list(read_rows(path, PHONE))
    assert [(r.line, r.name, r.phones) for r in rows if isinstance(r, CsvRow)] == [
        (3, "Ada", ("+15551234567",))
    ]


def test_several_numbers_go_in_one_cell_separated_by_semicolons(tmp_path: Path) -> None:
    path = write(tmp_path, "name,phone\nAda,5551234567; +44 20 7946 0958;555-123-4567\n")
    (row,) = list(read_rows(path, PHONE))
    assert isinstance(row, CsvRow) and row.phones == ("+15551234567", "+442079460958")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name,phone,acount\n",
            "customers.csv:1: unknown column 'acount' (columns: name, phone, "
            "account, tier, language, email, external_id)",
        ),
        ("name,account\n", "customers.csv:1: missing column 'phone' (required: name, phone)"),
        ("name,phone,name\n", "customers.csv:1: column 'name' appears twice"),
        (
            "",
            "customers.csv:1: the file is empty: expected a header row (name, phone, account, "
            "tier, language, email, external_id)",
        ),
        (
            "\n\nname,,phone\n",
            "customers.csv:3: a column has no name (columns: name, phone, "
            "account, tier, language, email, external_id)",
        ),
    ],
)
def test_a_bad_header_stops_the_whole_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ImportFileError) as caught:
        list(read_rows(path, PHONE))
    assert str(caught.value) == f"{tmp_path}/{message}"


def test_a_missing_file_is_an_error_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"nope\.csv:1: cannot read"):
        list(read_rows(tmp_path / "nope.csv", PHONE))


# --- writing ----------------------------------------------------------------------------


async def _table(engine: AsyncEngine) -> list[tuple[object, ...]]:
    async with engine.connect() as conn:
        people = (
            await conn.execute(
                select(
                    customers.c.id,
                    customers.c.name,
                    customers.c.account,
                    customers.c.tier,
                    customers.c.language,
                    customers.c.email,
                    customers.c.external_id,
                ).order_by(customers.c.id)
            )
        ).all()
        phones = (
            await conn.execute(
                select(customer_phones).order_by(
                    customer_phones.c.customer_id, customer_phones.c.position
                )
            )
        ).all()
    return [tuple(r) for r in people] + [tuple(r) for r in phones]


SPELLINGS = ["+15551234567", "15551234567", "5551234567", "0015551234567", "(555) 123-4567"]


async def test_imported_customers_are_found_by_every_spelling(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = write(
        tmp_path, HEADER + "Ada Lovelace,(555) 123-4567,4711,Gold,en-GB,ada@example.org,x1\n"
    )
    await import_customers(engine, path, PHONE)
    store = SqlStore(engine)
    for spelling in SPELLINGS:
        (found,) = await store.find_by_phone(spelling)
        assert (found.name, found.account, found.tier, found.external_id) == (
            "Ada Lovelace",
            "4711",
            "gold",
            "x1",
        )


async def test_importing_the_same_file_twice_changes_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        HEADER
        + "Ada,5551234567,4711,gold,en,ada@example.org,x1\n"
        + "Bob,5551112222,4712,,,,\n"
        + "Carl,5552223333,,,,,\n"
        + "Bad,nope,,,,,\n",
    )
    first = await import_customers(engine, path, PHONE, batch_size=2)
    before = await _table(engine)

    second = await import_customers(engine, path, PHONE, batch_size=2)

    assert (first.created, first.updated, first.unchanged, len(first.rejected)) == (3, 0, 0, 1)
    assert (second.created, second.updated, second.unchanged, len(second.rejected)) == (0, 0, 3, 1)
    assert await _table(engine) == before


async def test_a_changed_row_updates_its_customer(engine: AsyncEngine, tmp_path: Path) -> None:
    await import_customers(
        engine, write(tmp_path, HEADER + "Ada,5551234567,4711,gold,,,x1\n"), PHONE
    )

    report = await import_customers(
        engine, write(tmp_path, HEADER + "Ada L.,5559990000,4711,vip,,,x1\n", "v2.csv"), PHONE
    )

    assert (report.created, report.updated) == (0, 1)
    store = SqlStore(engine)
    assert await store.find_by_phone("5551234567") == []
    (ada,) = await store.find_by_phone("5559990000")
    assert (ada.name, ada.tier) == ("Ada L.", "vip")


async def test_a_column_the_file_lacks_leaves_stored_values_alone(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await import_customers(
        engine, write(tmp_path, HEADER + "Ada,5551234567,4711,gold,en,a@b.org,\n"), PHONE
    )

    report = await import_customers(
        engine, write(tmp_path, "name,phone,account\nAda,5551234567,4711\n", "slim.csv"), PHONE
    )

    assert report.unchanged == 1
    (ada,) = await SqlStore(engine).find_by_account("4711")
    assert (ada.tier, ada.language, ada.email) == ("gold", "en", "a@b.org")


async def test_an_account_held_by_another_customer_is_rejected(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await import_customers(engine, write(tmp_path, HEADER + "Ada,5551234567,4711,,,,x1\n"), PHONE)
    (ada,) = await SqlStore(engine).find_by_account("4711")

    report = await import_customers(
        engine, write(tmp_path, HEADER + "Bob,5551112222,4711,,,,x2\n", "b.csv"), PHONE
    )

    assert [(r.line, r.reason) for r in report.rejected] == [
        (2, f"account '4711' belongs to another customer (id {ada.id})")
    ]


async def test_a_later_row_for_the_same_customer_wins(engine: AsyncEngine, tmp_path: Path) -> None:
    report = await import_customers(
        engine,
        write(tmp_path, HEADER + "Ada,5551234567,,silver,,,x1\nAda,5551234567,,gold,,,x1\n"),
        PHONE,
    )
    assert (report.created, report.superseded) == (1, 1)
    (ada,) = await SqlStore(engine).find_by_phone("5551234567")
    assert ada.tier == "gold"


async def test_without_ids_a_customer_is_their_name_and_first_number(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = write(tmp_path, "name,phone\nAda,5551234567\nAda,5551234567\nBob,5551234567\n")
    report = await import_customers(engine, path, PHONE)
    assert (report.created, report.superseded) == (2, 1)
    assert sorted(c.name for c in await SqlStore(engine).find_by_phone("5551234567")) == [
        "Ada",
        "Bob",
    ]
