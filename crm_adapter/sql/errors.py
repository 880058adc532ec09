"""SQLAlchemy and driver errors mapped onto the port's error tree, at the edge.

As httpx's `map_httpcore_exceptions()`: most specific first, `from exc`, so the
original stays in the traceback and nothing above this layer imports SQLAlchemy.
A `ProgrammingError` (bad SQL) is our bug and is not dressed up as a CRM state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from crm_adapter.port import CrmRejected, CrmUnavailable

__all__ = ["mapped_errors"]


@contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    try:
        yield
    except (sa_exc.IntegrityError, sa_exc.DataError) as exc:
        raise CrmRejected(f"{what}: {_first_line(exc)}") from exc
    except sa_exc.ProgrammingError:
        raise
    except (
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
        sa_exc.TimeoutError,
        sa_exc.DBAPIError,
    ) as exc:
        raise CrmUnavailable(f"{what}: database unavailable: {_first_line(exc)}") from exc
    except (OSError, ConnectionError) as exc:
        raise CrmUnavailable(f"{what}: database unreachable: {exc}") from exc


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
