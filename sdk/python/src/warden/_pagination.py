"""List results: every page of a list, fetched lazily.

The API answers lists a page at a time (``{"items", "next_cursor", "has_more"}``). A
:class:`ListResult` hides that: iterating over it fetches the next page only when the items
already fetched are used up; ``len()``, indexing, the plural attribute (``resp.roles``),
``to_dict()``, ``to_json()`` and ``to_df()`` fetch the remaining pages first. Pages already
fetched are kept, so iterating twice asks the server once.

The async client returns an :class:`AsyncListResult`: ``async for`` fetches lazily, and
``await`` fetches every page and gives the same :class:`ListResult` as the sync client.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    Generator,
    Generic,
    Iterator,
    List,
    Optional,
    Type,
    TypeVar,
    Union,
    overload,
)

from ._models import (
    ApiKey,
    AuditEvent,
    Holder,
    Invitation,
    Member,
    PermissionInfo,
    Policy,
    Project,
    Role,
    Team,
    TeamUser,
    WardenObject,
)

__all__ = [
    "Page",
    "ListResult",
    "AsyncListResult",
    "PermissionList",
    "PolicyList",
    "RoleList",
    "MemberList",
    "ApiKeyList",
    "AuditEventList",
    "InvitationList",
    "TeamList",
    "TeamUserList",
    "ProjectList",
    "HolderList",
]

T = TypeVar("T", bound=WardenObject)
L = TypeVar("L", bound="ListResult[Any]")


@dataclass
class Page(Generic[T]):
    """One page as the server sent it."""

    items: List[T]
    next_cursor: Optional[str]
    has_more: bool
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def last(self) -> bool:
        return not self.has_more or not self.next_cursor


def _pandas() -> Any:
    try:
        return importlib.import_module("pandas")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "to_df() needs pandas, which is not installed: pip install 'warden[pandas]' "
            "(or pip install pandas)"
        ) from exc


class ListResult(Generic[T]):
    """All the items of a list, fetched page by page as they are used.

    ``for item in result`` is lazy; ``len(result)``, ``result[i]``, ``result.items`` (and the
    plural name of the resource, such as ``result.roles``) fetch every page.
    """

    _plural: str = "items"

    def __init__(
        self,
        fetch: Optional[Callable[[Optional[str], Optional[int]], Page[T]]],
        *,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
        items: Optional[List[T]] = None,
        extra: Optional[Dict[str, Any]] = None,
    ) -> None:
        if limit is not None and limit < 0:
            raise ValueError("limit must be 0 or more")
        self._fetch = fetch
        self._limit = limit
        self._cursor = cursor
        self._items: List[T] = list(items or [])
        self._extra: Dict[str, Any] = dict(extra or {})
        self._done = fetch is None or limit == 0
        if limit is not None:
            del self._items[limit:]

    @classmethod
    def of(cls: Type[L], items: List[Any], extra: Optional[Dict[str, Any]] = None) -> L:
        """A complete list (what awaiting an async list gives)."""
        return cls(None, items=items, extra=extra)

    # --- fetching -------------------------------------------------------------------

    def _fetch_next(self) -> None:
        if self._done or self._fetch is None:
            self._done = True
            return
        want: Optional[int] = None
        if self._limit is not None:
            want = self._limit - len(self._items)
        page = self._fetch(self._cursor, want)
        if not self._extra:
            self._extra = dict(page.extra)
        self._items.extend(page.items)
        self._cursor = page.next_cursor
        if page.last:
            self._done = True
        if self._limit is not None and len(self._items) >= self._limit:
            del self._items[self._limit :]
            self._done = True

    def _fetch_all(self) -> List[T]:
        while not self._done:
            self._fetch_next()
        return self._items

    @property
    def fully_fetched(self) -> bool:
        """Whether every page has been fetched."""
        return self._done

    # --- the sequence ---------------------------------------------------------------

    def __iter__(self) -> Iterator[T]:
        index = 0
        while True:
            while index < len(self._items):
                yield self._items[index]
                index += 1
            if self._done:
                return
            self._fetch_next()

    def __len__(self) -> int:
        return len(self._fetch_all())

    def __bool__(self) -> bool:
        while not self._items and not self._done:
            self._fetch_next()
        return bool(self._items)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> List[T]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[T, List[T]]:
        if isinstance(index, int) and index >= 0:
            while index >= len(self._items) and not self._done:
                self._fetch_next()
            return self._items[index]
        return self._fetch_all()[index]

    @property
    def items(self) -> List[T]:
        """Every item, all pages fetched."""
        return list(self._fetch_all())

    def to_list(self) -> List[T]:
        """Every item, all pages fetched."""
        return list(self._fetch_all())

    # --- conversions ----------------------------------------------------------------

    def to_dict(self) -> Dict[str, Any]:
        """``{"<plural>": [item dicts...]}``, all pages fetched."""
        return {self._plural: [item.to_dict() for item in self._fetch_all()]}

    def to_json(self, *, indent: Optional[int] = None) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_df(self) -> Any:
        """A ``pandas.DataFrame``, one row an item (needs ``pip install 'warden[pandas]'``)."""
        pandas = _pandas()
        return pandas.DataFrame([item.to_dict() for item in self._fetch_all()])

    def __repr__(self) -> str:
        state = "" if self._done else ", more to fetch"
        return f"{type(self).__name__}({len(self._items)} items{state})"


class AsyncListResult(Generic[T, L]):
    """An async list: ``async for item in result`` fetches page by page; ``await result``
    fetches every page and gives a :class:`ListResult` (with ``len()``, the plural attribute,
    ``to_df()``...)."""

    def __init__(
        self,
        fetch: Callable[[Optional[str], Optional[int]], Awaitable[Page[T]]],
        result_cls: Type[L],
        *,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> None:
        if limit is not None and limit < 0:
            raise ValueError("limit must be 0 or more")
        self._fetch = fetch
        self._result_cls = result_cls
        self._limit = limit
        self._cursor = cursor
        self._extra: Dict[str, Any] = {}

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        cursor = self._cursor
        count = 0
        while True:
            if self._limit is not None and count >= self._limit:
                return
            want = None if self._limit is None else self._limit - count
            page = await self._fetch(cursor, want)
            if not self._extra:
                self._extra = dict(page.extra)
            for item in page.items:
                if self._limit is not None and count >= self._limit:
                    return
                count += 1
                yield item
            if page.last:
                return
            cursor = page.next_cursor

    async def to_list(self) -> List[T]:
        """Every item, all pages fetched."""
        return [item async for item in self]

    async def collect(self) -> L:
        """Every page fetched, as a :class:`ListResult`; the same as ``await result``."""
        items = await self.to_list()
        return self._result_cls.of(items, self._extra)

    def __await__(self) -> Generator[Any, None, L]:
        return self.collect().__await__()


class PermissionList(ListResult[PermissionInfo]):
    """Permissions of the catalogue; ``.permissions`` holds them all."""

    _plural = "permissions"

    @property
    def permissions(self) -> List[PermissionInfo]:
        return self.items


class PolicyList(ListResult[Policy]):
    """Policies; ``.policies`` holds them all."""

    _plural = "policies"

    @property
    def policies(self) -> List[Policy]:
        return self.items


class RoleList(ListResult[Role]):
    """Roles; ``.roles`` holds them all."""

    _plural = "roles"

    @property
    def roles(self) -> List[Role]:
        return self.items


class MemberList(ListResult[Member]):
    """Members; ``.members`` holds them all."""

    _plural = "members"

    @property
    def members(self) -> List[Member]:
        return self.items


class ApiKeyList(ListResult[ApiKey]):
    """API keys; ``.api_keys`` holds them all."""

    _plural = "api_keys"

    @property
    def api_keys(self) -> List[ApiKey]:
        return self.items


class AuditEventList(ListResult[AuditEvent]):
    """Audit events, newest first; ``.audit_events`` (or ``.events``) holds them all."""

    _plural = "audit_events"

    @property
    def audit_events(self) -> List[AuditEvent]:
        return self.items

    @property
    def events(self) -> List[AuditEvent]:
        return self.items


class InvitationList(ListResult[Invitation]):
    """Invitations; ``.invitations`` holds them all."""

    _plural = "invitations"

    @property
    def invitations(self) -> List[Invitation]:
        return self.items


class TeamList(ListResult[Team]):
    """Teams; ``.teams`` holds them all."""

    _plural = "teams"

    @property
    def teams(self) -> List[Team]:
        return self.items


class TeamUserList(ListResult[TeamUser]):
    """The users of a team; ``.users`` holds them all."""

    _plural = "users"

    @property
    def users(self) -> List[TeamUser]:
        return self.items


class ProjectList(ListResult[Project]):
    """Projects; ``.projects`` holds them all."""

    _plural = "projects"

    @property
    def projects(self) -> List[Project]:
        return self.items


class HolderList(ListResult[Holder]):
    """Who holds a permission; ``.principals`` holds them all, ``.revision`` is the revision
    the answer was computed at (that of its first page)."""

    _plural = "principals"

    @property
    def principals(self) -> List[Holder]:
        return self.items

    @property
    def revision(self) -> Optional[int]:
        if not self._extra and not self._done:
            self._fetch_next()
        value = self._extra.get("revision")
        return int(value) if value is not None else None
