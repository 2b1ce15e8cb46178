"""The objects the API returns, as plain Python classes with attributes.

Each class declares the fields the server documents (see ``GET /openapi.json``); a field the
server adds later is still reachable as an attribute and in :meth:`WardenObject.to_dict`, so
an older SDK keeps working against a newer server. The classes are written by hand: nothing
is generated at run time.
"""

from __future__ import annotations

import copy
import json
from typing import (
    Any,
    Callable,
    ClassVar,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypeVar,
)

__all__ = [
    "WardenObject",
    "Organization",
    "Project",
    "KeyRef",
    "RoleRef",
    "PolicyRef",
    "NamedRef",
    "Me",
    "PermissionInfo",
    "Policy",
    "Role",
    "Member",
    "ApiKey",
    "CreatedApiKey",
    "AuditEvent",
    "Invitation",
    "IssuedInvitation",
    "SkippedInvitation",
    "InvitationsCreated",
    "AcceptedUser",
    "AcceptedInvitation",
    "Team",
    "TeamUser",
    "TeamUserAdded",
    "Deleted",
    "CheckResult",
    "ItemError",
    "BatchCheckItem",
    "BatchCheckResult",
    "Grant",
    "DenyReason",
    "Explanation",
    "EffectivePermissions",
    "Holder",
    "SignIn",
    "Health",
]

_O = TypeVar("_O", bound="WardenObject")

# Fields whose values are credentials: repr() shows only their last characters.
_SECRET_FIELDS = frozenset({"secret", "token"})


def _one(cls: Type[_O]) -> Callable[[Any], Any]:
    return lambda value: cls(value) if isinstance(value, Mapping) else value


def _many(cls: Type[_O]) -> Callable[[Any], Any]:
    return lambda value: [cls(v) if isinstance(v, Mapping) else v for v in value]


class WardenObject:
    """An object of the API: its fields are attributes.

    ``to_dict()`` gives the object as the server sent it (a fresh copy), ``to_json()`` the
    same as JSON text. Objects compare equal when they are of the same class and hold the
    same data.
    """

    # Fields whose raw JSON becomes another object (or a list of them).
    _convert: ClassVar[Dict[str, Callable[[Any], Any]]] = {}
    # Values for fields the server leaves out (older servers, optional lists).
    _defaults: ClassVar[Dict[str, Any]] = {}
    # The declared fields, in order; computed once per class.
    _fields: ClassVar[Tuple[str, ...]] = ()

    _data: Dict[str, Any]
    _write_revision: Optional[int]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: List[str] = []
        for klass in reversed(cls.__mro__):
            if klass is WardenObject or not issubclass(klass, WardenObject):
                continue
            for name, annotation in vars(klass).get("__annotations__", {}).items():
                if name.startswith("_") or "ClassVar" in str(annotation) or name in names:
                    continue
                names.append(name)
        cls._fields = tuple(names)

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", dict(data))
        object.__setattr__(self, "_write_revision", None)
        for name in self._fields:
            raw = data.get(name)
            if raw is None and name in self._defaults:
                value = copy.copy(self._defaults[name])
            elif raw is not None and name in self._convert:
                value = self._convert[name](raw)
            else:
                value = raw
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes that are not declared: fields a newer server added.
        if not name.startswith("_"):
            data = self.__dict__.get("_data", {})
            if name in data:
                return data[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} objects are read-only")

    @property
    def write_revision(self) -> Optional[int]:
        """For an object a write returned: the revision the write was committed at.

        Pass it as ``min_revision`` to ``check`` to be sure the decision sees the write.
        ``None`` for objects that a read returned.
        """
        return self._write_revision

    def to_dict(self) -> Dict[str, Any]:
        """The object as a dict, as the server sent it."""
        return copy.deepcopy(self._data)

    def to_json(self, *, indent: Optional[int] = None) -> str:
        """The object as JSON text."""
        return json.dumps(self._data, indent=indent, ensure_ascii=False)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, WardenObject)
        return self._data == other._data

    def __hash__(self) -> int:
        return hash((type(self).__name__, json.dumps(self._data, sort_keys=True, default=str)))

    def __repr__(self) -> str:
        parts = []
        for name in self._fields:
            value = getattr(self, name)
            if name in _SECRET_FIELDS and isinstance(value, str):
                # Secrets stay out of logs and tracebacks; the attribute holds the value.
                shown = f"'***{value[-4:]}'"
            elif isinstance(value, list) and len(value) > 4:
                shown = f"[{', '.join(repr(v) for v in value[:3])}, ... {len(value)} items]"
            else:
                shown = repr(value)
            parts.append(f"{name}={shown}")
        return f"{type(self).__name__}({', '.join(parts)})"


def with_revision(obj: _O, revision: Optional[int]) -> _O:
    object.__setattr__(obj, "_write_revision", revision)
    return obj


# --- organizations, projects, the caller -------------------------------------------------


class Organization(WardenObject):
    """An organization (a tenant)."""

    id: str
    name: str
    created_at: str
    updated_at: str
    version: int


class Project(WardenObject):
    """A project of the organization. In a ``restricted`` one, org roles other than Owner
    grant nothing."""

    id: str
    org_id: str
    name: str
    description: str
    restricted: bool
    created_at: str
    updated_at: str
    version: int


class KeyRef(WardenObject):
    """An API key by id and name."""

    id: str
    name: str


class RoleRef(WardenObject):
    """A role by id and name."""

    id: str
    name: str


class PolicyRef(WardenObject):
    """A policy as a role shows it."""

    id: str
    name: str


class NamedRef(WardenObject):
    """A role or policy as an explanation names it (the name may be unknown)."""

    id: str
    name: Optional[str]


class Me(WardenObject):
    """The calling API key: who it acts as, its organization, its role and permissions."""

    principal: str
    api_key: KeyRef
    org: Organization
    scope: str
    project_id: Optional[str]
    role: Optional[RoleRef]
    permissions: List[str]
    revision: int

    _convert = {"api_key": _one(KeyRef), "org": _one(Organization), "role": _one(RoleRef)}
    _defaults = {"permissions": []}


# --- the building blocks ----------------------------------------------------------------


class PermissionInfo(WardenObject):
    """A permission of the catalogue (read-only). ``key`` is ``resource:action``; ``id`` is
    stable, the same in every deployment."""

    id: str
    key: str
    resource: str
    action: str
    description: str
    scope: str


class Policy(WardenObject):
    """A named bundle of permissions, in one scope."""

    id: str
    org_id: str
    project_id: Optional[str]
    scope: str
    name: str
    description: str
    is_predefined: bool
    permission_ids: List[str]
    permissions: List[str]
    created_at: str
    updated_at: str
    version: int

    _defaults = {"permission_ids": [], "permissions": []}


class Role(WardenObject):
    """A named bundle of policies and inline permissions, in one scope.

    ``permissions`` are the inline ones (as keys); ``effective_permissions`` everything the
    role grants, its policies' included.
    """

    id: str
    org_id: str
    project_id: Optional[str]
    scope: str
    name: str
    description: str
    is_predefined: bool
    policy_ids: List[str]
    policies: List[PolicyRef]
    permissions: List[str]
    permission_ids: List[str]
    effective_permissions: List[str]
    created_at: str
    updated_at: str
    version: int

    _convert = {"policies": _many(PolicyRef)}
    _defaults = {
        "policy_ids": [],
        "policies": [],
        "permissions": [],
        "permission_ids": [],
        "effective_permissions": [],
    }


class Member(WardenObject):
    """A principal (``user:<id>``, ``team:<id>``, ``api_key:<id>``) and its role in a scope."""

    principal: str
    principal_type: str
    principal_id: str
    role_id: str
    role_name: str
    email: Optional[str]
    name: Optional[str]
    created_at: str
    updated_at: str


class ApiKey(WardenObject):
    """An API key, without its secret (``last_chars`` are the secret's last 6 characters)."""

    id: str
    org_id: str
    project_id: Optional[str]
    scope: str
    name: str
    last_chars: str
    role_id: Optional[str]
    role_name: Optional[str]
    valid: bool
    expires_at: Optional[str]
    last_used_at: Optional[str]
    created_by: str
    created_at: str
    updated_at: str
    version: int


class CreatedApiKey(ApiKey):
    """A new API key with its ``secret``: the only time the secret is shown."""

    secret: str


class AuditEvent(WardenObject):
    """One change: who (``actor``) did what (``action``) to what (``target``), with the
    object ``before`` and ``after``."""

    revision: int
    at: str
    actor: str
    action: str
    target: str
    org_id: Optional[str]
    project_id: Optional[str]
    before: Any
    after: Any


# --- people ------------------------------------------------------------------------------


class Invitation(WardenObject):
    """An invitation of an email to a scope with a role. ``status`` is ``pending``,
    ``accepted``, ``revoked`` or ``expired``."""

    id: str
    org_id: str
    project_id: Optional[str]
    scope: str
    email: str
    role_id: str
    role_name: str
    status: str
    created_by: str
    created_at: str
    updated_at: str
    expires_at: str
    accepted_at: Optional[str]
    version: int


class IssuedInvitation(Invitation):
    """An invitation with its ``token``, shown only by create and resend: send it to the
    invited person, who accepts with it."""

    token: str


class SkippedInvitation(WardenObject):
    """An email that was not invited, and why (``already a member``, ``already invited``)."""

    email: str
    reason: str


class InvitationsCreated(WardenObject):
    """What creating invitations made: the ``invitations`` (with tokens) and the ``skipped``
    emails. Iterating over it gives the invitations."""

    invitations: List[IssuedInvitation]
    skipped: List[SkippedInvitation]

    _convert = {"invitations": _many(IssuedInvitation), "skipped": _many(SkippedInvitation)}
    _defaults = {"invitations": [], "skipped": []}

    def __iter__(self) -> Iterator[IssuedInvitation]:
        return iter(self.invitations)

    def __len__(self) -> int:
        return len(self.invitations)


class AcceptedUser(WardenObject):
    """The user an accepted invitation made or joined."""

    id: str
    email: str
    name: str


class AcceptedInvitation(WardenObject):
    """What accepting an invitation made: ``user`` is a member of the scope with ``role``.

    When the server also hands out a personal API key, it is in ``api_key`` and its secret
    in :attr:`secret`; both are ``None`` otherwise (sign in with
    :meth:`warden.Warden.sign_in` then).
    """

    user: AcceptedUser
    scope: str
    org_id: str
    project_id: Optional[str]
    role: RoleRef
    api_key: Optional[ApiKey]

    _convert = {"user": _one(AcceptedUser), "role": _one(RoleRef), "api_key": _one(CreatedApiKey)}

    @property
    def secret(self) -> Optional[str]:
        """The personal API key's secret, when the server returned one."""
        top = self._data.get("secret")
        if isinstance(top, str):
            return top
        key = self._data.get("api_key")
        if isinstance(key, Mapping) and isinstance(key.get("secret"), str):
            return str(key["secret"])
        return None


class SignIn(WardenObject):
    """A personal API key, acting as the user: ``secret`` is shown only here."""

    user_id: str
    org_id: str
    api_key: ApiKey
    secret: str

    _convert = {"api_key": _one(ApiKey)}


class Team(WardenObject):
    """A named group of users in the organization; ``key`` can stand for the id in calls."""

    id: str
    org_id: str
    key: str
    name: str
    description: str
    user_count: int
    created_at: str
    updated_at: str
    version: int


class TeamUser(WardenObject):
    """A user as a team lists it."""

    id: str
    email: str
    name: str
    status: str
    created_at: str


class TeamUserAdded(WardenObject):
    """What adding a user to a team did; ``changed`` is false when it already was there."""

    team: Team
    user: TeamUser
    changed: bool

    _convert = {"team": _one(Team), "user": _one(TeamUser)}


class Deleted(WardenObject):
    """What a delete removed, and the revision it was committed at."""

    id: str
    deleted: bool
    revision: int
    roles_changed: List[str]
    memberships_removed: List[str]

    _defaults = {"roles_changed": [], "memberships_removed": []}


# --- decisions ---------------------------------------------------------------------------


class CheckResult(WardenObject):
    """The answer to "may this principal do this here?". True in a boolean context when
    allowed."""

    allowed: bool
    revision: int

    def __bool__(self) -> bool:
        return bool(self.allowed)


class ItemError(WardenObject):
    """Why one question of a batch could not be answered."""

    code: str
    message: str


class BatchCheckItem(WardenObject):
    """The answer to one question of a batch (``allowed`` is false when ``error`` is set)."""

    allowed: bool
    error: Optional[ItemError]

    _convert = {"error": _one(ItemError)}

    def __bool__(self) -> bool:
        return bool(self.allowed)


class BatchCheckResult(WardenObject):
    """The answers of a batch, in the order of the questions, all at one ``revision``.
    Iterating over it gives the answers."""

    results: List[BatchCheckItem]
    revision: int

    _convert = {"results": _many(BatchCheckItem)}
    _defaults = {"results": []}

    def __iter__(self) -> Iterator[BatchCheckItem]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> BatchCheckItem:
        return self.results[index]


class Grant(WardenObject):
    """One path that grants a permission: membership → role → policy → permission, and the
    team it came through (``via_team``)."""

    membership_scope: str
    role: NamedRef
    policy: Optional[NamedRef]
    permission: str
    via_team: Optional[str]

    _convert = {"role": _one(NamedRef), "policy": _one(NamedRef)}


class DenyReason(WardenObject):
    """Why nothing grants a permission: ``no_membership``, ``not_in_role``,
    ``restricted_project`` or ``invalid_principal``."""

    code: str
    message: str
    roles: List[NamedRef]

    _convert = {"roles": _many(NamedRef)}
    _defaults = {"roles": []}


class Explanation(WardenObject):
    """A decision with every grant that allows it, or the ``reason`` nothing does."""

    allowed: bool
    revision: int
    principal: str
    permission: str
    scope: str
    org_id: str
    project_id: Optional[str]
    grants: List[Grant]
    reason: Optional[DenyReason]

    _convert = {"grants": _many(Grant), "reason": _one(DenyReason)}
    _defaults = {"grants": []}

    def __bool__(self) -> bool:
        return bool(self.allowed)


class EffectivePermissions(WardenObject):
    """Every permission a principal holds in a scope."""

    principal: str
    scope: str
    org_id: str
    project_id: Optional[str]
    permissions: List[str]
    revision: int

    _defaults = {"permissions": []}


class Holder(WardenObject):
    """A principal that holds a permission: ``direct`` through its own membership, and (for
    users) through the teams in ``via_teams``."""

    principal: str
    principal_type: str
    direct: bool
    via_teams: List[str]

    _defaults = {"via_teams": []}


class Health(WardenObject):
    """The server's health: ``status``, the engine's ``revision``."""

    status: str
    revision: int
    database: str
