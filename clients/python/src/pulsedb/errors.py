"""Exceptions: one class per error code the server sends.

The server answers every failure with {"error": {"code", "message"}} and an
HTTP status; each exception carries both (`code`, `status`) and the message.
A batch refused for one of its items also names the item ("index"): the
exception's `index`, None for any other error.
"""
from typing import Dict, Optional, Type


class PulseDBError(Exception):
    """Base of every error this client raises."""

    code = "error"
    status: Optional[int] = None

    def __init__(self, message: str, status: Optional[int] = None,
                 code: Optional[str] = None, index: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        #  The item of a batch that was refused (from 0); None for other errors.
        self.index = index
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        where = f"{self.status} " if self.status is not None else ""
        return f"{where}{self.code}: {self.message}"


class ConnectionFailed(PulseDBError):
    """The server could not be reached, or the connection broke mid-reply."""

    code = "unreachable"


class APIError(PulseDBError):
    """The server answered with an error."""


class BadRequest(APIError):
    code, status = "bad_request", 400


class Unauthorized(APIError):
    """No valid API token (set token= or PULSEDB_TOKEN)."""
    code, status = "unauthorized", 401


class Forbidden(APIError):
    """The token's role does not allow this request."""
    code, status = "forbidden", 403


class NotFound(APIError):
    code, status = "not_found", 404


class MethodNotAllowed(APIError):
    code, status = "method_not_allowed", 405


class Conflict(APIError):
    code, status = "conflict", 409


class TooLarge(APIError):
    code, status = "too_large", 413


class UnsupportedMediaType(APIError):
    code, status = "unsupported_media_type", 415


class InternalError(APIError):
    code, status = "internal", 500


class Unavailable(APIError):
    """Storage is not reachable (or the gateway is stopping): retry later."""
    code, status = "unavailable", 503


_BY_CODE: Dict[str, Type[APIError]] = {
    cls.code: cls for cls in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed,
                              Conflict, TooLarge, UnsupportedMediaType, InternalError,
                              Unavailable)
}
_BY_STATUS: Dict[int, Type[APIError]] = {cls.status: cls for cls in _BY_CODE.values()
                                         if cls.status is not None}


def api_error(status: int, code: Optional[str], message: str,
              index: Optional[int] = None) -> APIError:
    """The exception for a reply: by the server's code, else by its status."""
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(status) or APIError
    return cls(message, status=status, code=code or cls.code, index=index)
