"""CSV import of customers (`callpop crm import`): `rows` reads and validates,
`upsert` writes idempotently in batches."""

from crm_adapter.importer.rows import COLUMNS, CsvRow, ImportFileError, Rejection, read_rows
from crm_adapter.importer.upsert import ImportReport, import_customers

__all__ = [
    "COLUMNS",
    "CsvRow",
    "ImportFileError",
    "ImportReport",
    "Rejection",
    "import_customers",
    "read_rows",
]
