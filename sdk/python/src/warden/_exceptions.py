"""The exceptions the SDK raises.

Every error the server answers with (`{"error": {"code", "message", "details"}}`) becomes an
:class:`APIStatusError` subclass chosen by the HTTP status, carrying the status, the server's
stable ``code``, its ``message`` (which says what to change) and its ``details``. Failures to
reach the server at all become :class:`APIConnectionError`.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any, Dict, Mapping, Optional, Type

import httpx

__all__ = [
    "WardenError",
    "APIConnectionError",
    "APITimeoutError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "PreconditionFailedError",
    "UnprocessableEntityError",
    "RateLimitError",
    "ServerError",
]


class WardenError(Exception):
    """Base class of every error the SDK raises.

    ``status`` is the HTTP status (``None`` when no answer came), ``code`` the server's
    machine-readable code, ``message`` what was wrong and what to change, ``details`` the
    server's structured details (such as the missing permissions of a 403).
    """

    status: Optional[int]
    code: str
    message: str
    details: Dict[str, Any]

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: str = "error",
        details: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = dict(details or {})

    def __str__(self) -> str:
        if self.status is None:
            return self.message
        return f"{self.status} {self.code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r})"
        )


class APIConnectionError(WardenError):
    """The server could not be reached, or the connection failed before an answer came.

    Raised once the retries (``max_retries``) are used up; the transport's exception is
    the ``__cause__``.
    """

    def __init__(self, message: str, *, request: Optional[httpx.Request] = None) -> None:
        super().__init__(message, code="connection_error")
        self.request = request


class APITimeoutError(APIConnectionError):
    """The request timed out (see the client's ``timeout``)."""

    def __init__(self, message: str, *, request: Optional[httpx.Request] = None) -> None:
        super().__init__(message, request=request)
        self.code = "timeout"


class APIStatusError(WardenError):
    """The server answered with an error status. ``response`` is the raw answer."""

    status: int

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        details: Optional[Mapping[str, Any]] = None,
        response: Optional[httpx.Response] = None,
    ) -> None:
        super().__init__(message, status=status, code=code, details=details)
        self.status = status
        self.response = response
        self.request_id: Optional[str] = (
            response.headers.get("x-request-id") if response is not None else None
        )


class BadRequestError(APIStatusError):
    """400: a malformed request or a broken rule of shape (empty name, empty update, bad id)."""


class AuthenticationError(APIStatusError):
    """401: no key, an unknown key, or an invalidated or expired one."""


class PermissionDeniedError(APIStatusError):
    """403: the key lacks a permission (named in the message), or the write would escalate."""


class NotFoundError(APIStatusError):
    """404: the object does not exist in the caller's organization.

    Also raised by the SDK itself when a role or policy given by name matches nothing; then
    ``details["available"]`` lists the names there are.
    """


class ConflictError(APIStatusError):
    """409: a duplicate or predefined name, dependants that block a delete, the last Owner."""


class PreconditionFailedError(ConflictError):
    """412: ``if_version`` is not the object's current version (someone changed it)."""


class UnprocessableEntityError(APIStatusError):
    """422: references that cannot be used (unknown permission or policy, another scope)."""


class RateLimitError(APIStatusError):
    """429: too many requests. ``retry_after`` is the wait the server asked for, in seconds."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        details: Optional[Mapping[str, Any]] = None,
        response: Optional[httpx.Response] = None,
    ) -> None:
        super().__init__(message, status=status, code=code, details=details, response=response)
        self.retry_after: Optional[float] = (
            _parse_retry_after(response.headers.get("retry-after"))
            if response is not None
            else None
        )


class ServerError(APIStatusError):
    """5xx: the server failed, or (503 ``not_consistent``) could not reach a revision in time."""


_BY_STATUS: Dict[int, Type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _parse_retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` is either seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from_response(response: httpx.Response) -> APIStatusError:
    """Turns an error answer into the exception of its status."""
    status = response.status_code
    code = f"http_{status}"
    message = ""
    details: Dict[str, Any] = {}
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or code)
        message = str(error.get("message") or "")
        raw_details = error.get("details")
        if isinstance(raw_details, dict):
            details = raw_details
    if not message:
        text = response.text.strip()
        message = text[:500] if text else response.reason_phrase or f"HTTP {status}"
    if status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = ServerError
    else:
        cls = APIStatusError
    return cls(message, status=status, code=code, details=details, response=response)
