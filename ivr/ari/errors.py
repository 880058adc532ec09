"""The ARI client's errors, as one tree (httpx's `_exceptions.py` shape):

    AriError
    ├── AriUnavailable        Asterisk did not answer: refused, reset, timed out
    │   └── AriTimeout
    └── AriHttpError          Asterisk answered with an error status
        ├── AriBadRequest          400  a parameter is missing or wrong (our bug)
        ├── AriUnauthorized        401  wrong ari.username / password
        ├── AriNotFound            404  the channel, playback, variable ... does not exist
        ├── AriConflict            409  the channel is not in a Stasis application
        ├── AriPreconditionFailed  412  the channel is in the wrong state
        ├── AriUnprocessable       422  e.g. an unknown event source or format
        └── AriServerError         5xx  e.g. `{"error":"Allocation failed"}`

Asterisk's error bodies come in two shapes (04-errors.jsonl): `{"message": ...}` for
almost everything and `{"error": ...}` for allocation failures; `error_message` reads both.
Messages are the server's text, kept as data: never formatted into a log line's structure.
"""

from __future__ import annotations

import json

__all__ = [
    "AriBadRequest",
    "AriConflict",
    "AriError",
    "AriHttpError",
    "AriNotFound",
    "AriPreconditionFailed",
    "AriServerError",
    "AriTimeout",
    "AriUnauthorized",
    "AriUnavailable",
    "AriUnprocessable",
    "error_for_status",
    "error_message",
]


class AriError(Exception):
    """Anything that went wrong talking to ARI."""


class AriUnavailable(AriError):
    """Asterisk could not be reached or did not answer in time."""


class AriTimeout(AriUnavailable):
    pass


class AriHttpError(AriError):
    """Asterisk answered `status`; `message` is its explanation (from either body shape)."""

    status: int = 0

    def __init__(self, method: str, path: str, status: int, reason: str, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {reason}: {message!r}")
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason
        self.message = message


class AriBadRequest(AriHttpError):
    pass


class AriUnauthorized(AriHttpError):
    pass


class AriNotFound(AriHttpError):
    pass


class AriConflict(AriHttpError):
    pass


class AriPreconditionFailed(AriHttpError):
    pass


class AriUnprocessable(AriHttpError):
    pass


class AriServerError(AriHttpError):
    pass


_BY_STATUS: dict[int, type[AriHttpError]] = {
    400: AriBadRequest,
    401: AriUnauthorized,
    404: AriNotFound,
    409: AriConflict,
    412: AriPreconditionFailed,
    422: AriUnprocessable,
}


def error_message(body: str) -> str:
    """The explanation in an ARI error body: `message`, else `error`, else the text itself."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return body.strip()
    if isinstance(decoded, dict):
        for key in ("message", "error"):
            value = decoded.get(key)
            if isinstance(value, str):
                return value
    return body.strip()


def error_for_status(method: str, path: str, status: int, reason: str, body: str) -> AriHttpError:
    """The typed error for an error response (status >= 400)."""
    if status >= 500:
        cls: type[AriHttpError] = AriServerError
    else:
        cls = _BY_STATUS.get(status, AriHttpError)
    return cls(method, path, status, reason, error_message(body))
