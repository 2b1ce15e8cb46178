"""What the synchronous and the asynchronous clients share.

Every API call is written once, as an *operation*: a generator that yields the HTTP requests
it needs (:class:`Request`) and receives their answers (:class:`Response`), then returns the
result. The sync client drives operations with ``httpx.Client``, the async client with
``httpx.AsyncClient``; neither knows what the calls are. An operation that needs several
requests (resolving a role name to its id, finding the caller's organization) simply yields
several.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Generator, Mapping, Optional, TypeVar, Union
from urllib.parse import quote

import httpx

from ._exceptions import APIConnectionError, APITimeoutError, error_from_response
from ._version import __version__

T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
# The server refuses larger pages; iterating a list asks for pages of this size.
MAX_PAGE_SIZE = 100

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass
class Request:
    """One HTTP request of an operation. ``path`` starts with ``/``."""

    method: str
    path: str
    params: Optional[Dict[str, Any]] = None
    json: Any = None
    headers: Dict[str, str] = field(default_factory=dict)
    # Public routes (accepting an invitation, signing in, health) need no key.
    auth: bool = True


@dataclass
class Response:
    """A successful answer: its status, its JSON body and its headers."""

    status: int
    data: Any
    headers: httpx.Headers

    @property
    def revision(self) -> Optional[int]:
        """The ``Warden-Revision`` a write was committed at."""
        value = self.headers.get("warden-revision")
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None


Op = Generator[Request, Response, T]
"""An operation: yields requests, receives their answers, returns its result."""


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


def path_part(value: str) -> str:
    """Quotes one path segment (principals keep their ``:``)."""
    if not isinstance(value, str) or not value:
        raise ValueError("an id must be a non-empty string")
    return quote(value, safe=":@")


def principal_ref(value: str) -> str:
    """``user:<id>``, ``team:<id>`` or ``api_key:<id>``; a bare id is taken as a user's."""
    if not isinstance(value, str) or not value:
        raise ValueError("a principal must be a non-empty string such as `user:<id>`")
    return value if ":" in value else f"user:{value}"


def clean_params(params: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """Drops ``None`` values and spells booleans as the server reads them."""
    out: Dict[str, Any] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return out


def body(**fields: Any) -> Dict[str, Any]:
    """A JSON body without the fields left at ``None``."""
    return {k: v for k, v in fields.items() if v is not None}


class ClientCore:
    """Settings and state shared by a client and its resources: URL, key, retries, and the
    caller's organization id once known."""

    def __init__(
        self,
        *,
        api_key: Optional[str],
        base_url: Optional[str],
        timeout: Union[float, httpx.Timeout, None],
        max_retries: int,
        org_id: Optional[str] = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("WARDEN_API_KEY")
        self.api_key: Optional[str] = key or None
        url = base_url if base_url is not None else os.environ.get("WARDEN_BASE_URL")
        self.base_url: str = (url or DEFAULT_BASE_URL).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must start with http:// or https://, such as {DEFAULT_BASE_URL}; "
                f"it was `{self.base_url}`"
            )
        self.timeout: Union[float, httpx.Timeout] = DEFAULT_TIMEOUT if timeout is None else timeout
        # A timeout given explicitly applies to every request; otherwise the HTTP client's
        # own (ours is made with DEFAULT_TIMEOUT; one passed in keeps its setting).
        self.request_timeout: Any = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.max_retries = max_retries
        # Seconds before the first retry; each further retry waits twice as long.
        self.retry_base_delay = 0.5
        self.retry_max_delay = 8.0
        self.org_id: Optional[str] = org_id

    # --- requests -------------------------------------------------------------------

    def headers(self, request: Request) -> Dict[str, str]:
        headers = {
            "Accept": "application/json",
            "User-Agent": f"warden-python/{__version__}",
        }
        if request.auth and self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        headers.update(request.headers)
        return headers

    def url(self, request: Request) -> str:
        return self.base_url + request.path

    def params(self, request: Request) -> Dict[str, Any]:
        return clean_params(request.params)

    def handle(self, response: httpx.Response) -> Response:
        """The answer of a request, or the typed exception of its error status."""
        if response.status_code >= 400:
            raise error_from_response(response)
        data: Any = None
        if response.content:
            try:
                data = response.json()
            except ValueError:
                data = response.text
        return Response(status=response.status_code, data=data, headers=response.headers)

    # --- retries --------------------------------------------------------------------

    def should_retry(self, exc: httpx.TransportError, method: str, attempt: int) -> bool:
        """Connection failures are retried; other errors never are.

        A request that never left (connection refused, connect or pool timeout) is always
        safe to send again. One that may have reached the server (the connection broke or
        timed out while waiting for the answer) is sent again only when repeating it cannot
        change anything twice (GET, PUT, DELETE).
        """
        if attempt >= self.max_retries:
            return False
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            return True
        if method.upper() in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE"):
            return isinstance(
                exc, (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)
            )
        return False

    def retry_delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: about 0.5 s, 1 s, 2 s, ... at most 8 s."""
        delay = min(self.retry_base_delay * (2**attempt), self.retry_max_delay)
        return float(delay * random.uniform(0.75, 1.25))

    def connection_error(self, exc: httpx.TransportError, request: Request) -> APIConnectionError:
        where = f"{request.method} {self.base_url}{request.path}"
        tries = f" after {self.max_retries + 1} attempts" if self.max_retries else ""
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(
                f"{where} timed out{tries} ({type(exc).__name__}); raise `timeout` if the "
                "server is slow",
                request=getattr(exc, "_request", None),
            )
        return APIConnectionError(
            f"could not reach the Warden server: {where} failed{tries} "
            f"({type(exc).__name__}: {exc}); check that it runs and that base_url "
            "(or WARDEN_BASE_URL) points at it",
            request=getattr(exc, "_request", None),
        )

    # --- the caller's organization -------------------------------------------------

    def org_id_op(self) -> Op[str]:
        """The organization of the API key, asked of ``GET /v1/me`` once and remembered."""
        if self.org_id is None:
            answer = yield Request("GET", "/v1/me")
            self.org_id = str(answer.data["org"]["id"])
        return self.org_id


class Scope:
    """Where a resource lives: the caller's organization, or one project."""

    def __init__(self, core: ClientCore, kind: str, project_id: Optional[str] = None) -> None:
        self.core = core
        self.kind = kind
        self.project_id = project_id

    @property
    def is_org(self) -> bool:
        return self.kind == "org"

    def prefix(self) -> Op[str]:
        """``/v1/orgs/{org}`` or ``/v1/projects/{project}``."""
        if self.kind == "project":
            assert self.project_id is not None
            return f"/v1/projects/{path_part(self.project_id)}"
        org_id = yield from self.core.org_id_op()
        return f"/v1/orgs/{path_part(org_id)}"

    def describe(self) -> str:
        return "this organization" if self.is_org else f"project `{self.project_id}`"
