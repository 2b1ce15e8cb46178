"""Every API call, written once as an operation (see :mod:`warden._core`).

The sync and async resources are thin wrappers that run these operations. Functions named
``*_page`` build the fetcher of one page of a list.
"""

from __future__ import annotations

from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from ._core import (
    MAX_PAGE_SIZE,
    ClientCore,
    Op,
    Request,
    Scope,
    body,
    is_uuid,
    path_part,
    principal_ref,
)
from ._exceptions import NotFoundError
from ._models import (
    AcceptedInvitation,
    ApiKey,
    AuditEvent,
    BatchCheckResult,
    CheckResult,
    CreatedApiKey,
    Deleted,
    EffectivePermissions,
    Explanation,
    Health,
    Holder,
    Invitation,
    InvitationsCreated,
    IssuedInvitation,
    Me,
    Member,
    Organization,
    PermissionInfo,
    Policy,
    Project,
    Role,
    SignIn,
    Team,
    TeamUser,
    TeamUserAdded,
    WardenObject,
    with_revision,
)
from ._pagination import Page

M = TypeVar("M", bound=WardenObject)

# An id, or the object that has it (``org.roles.delete(role)``).
Ref = Union[str, WardenObject]
# One question of a batch: a mapping with `principal`, `permission` and optionally
# `project_id` or `org_id`, or a tuple (principal, permission[, project_id]).
CheckSpec = Union[Mapping[str, Any], Tuple[str, ...], Sequence[str]]

PageOp = Callable[[Optional[str], Optional[int]], Op[Page[Any]]]


def ref_id(value: Ref, what: str = "id") -> str:
    """The id of an object, or the string itself."""
    if isinstance(value, WardenObject):
        ident = getattr(value, "id", None)
        if not isinstance(ident, str):
            raise ValueError(f"{type(value).__name__} has no id to use as {what}")
        return ident
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return value


def _if_match(if_version: Optional[int]) -> Dict[str, str]:
    return {} if if_version is None else {"If-Match": f'"{int(if_version)}"'}


def _page_size(page_size: Optional[int], want: Optional[int]) -> int:
    size = MAX_PAGE_SIZE if page_size is None else page_size
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}; it was {size}")
    if want is not None:
        size = max(1, min(size, want))
    return size


def _model(cls: Type[M], data: Any, revision: Optional[int] = None) -> M:
    return with_revision(cls(data), revision)


# --- generic shapes ----------------------------------------------------------------------


def list_page(
    scope: Scope,
    suffix: str,
    cls: Type[M],
    params: Optional[Dict[str, Any]] = None,
    page_size: Optional[int] = None,
) -> Callable[[Optional[str], Optional[int]], Op[Page[M]]]:
    """The fetcher of one page of ``GET {scope}{suffix}``."""

    def fetch(cursor: Optional[str], want: Optional[int]) -> Op[Page[M]]:
        size = _page_size(page_size, want)
        prefix = yield from scope.prefix()
        query = dict(params or {})
        query.update(limit=size, cursor=cursor)
        answer = yield Request("GET", prefix + suffix, params=query)
        data = answer.data if isinstance(answer.data, dict) else {}
        extra = {k: v for k, v in data.items() if k not in ("items", "next_cursor", "has_more")}
        return Page(
            items=[cls(item) for item in data.get("items") or []],
            next_cursor=data.get("next_cursor"),
            has_more=bool(data.get("has_more")),
            extra=extra,
        )

    return fetch


def scoped(
    scope: Scope,
    method: str,
    suffix: str,
    cls: Type[M],
    *,
    params: Optional[Dict[str, Any]] = None,
    json: Any = None,
    headers: Optional[Dict[str, str]] = None,
) -> Op[M]:
    """One request under the scope's prefix, answered by one object."""
    prefix = yield from scope.prefix()
    answer = yield Request(
        method, prefix + suffix, params=params, json=json, headers=dict(headers or {})
    )
    return _model(cls, answer.data, answer.revision)


def resolve(scope: Scope, suffix: str, what: str, ref: Ref) -> Op[str]:
    """The id of a role or policy given by id or by name (names match regardless of case).

    A name that matches nothing raises :class:`NotFoundError` listing the names there are.
    """
    value = ref_id(ref, f"the {what}")
    if is_uuid(value):
        return value
    prefix = yield from scope.prefix()
    names: List[str] = []
    cursor: Optional[str] = None
    wanted = value.casefold()
    while True:
        answer = yield Request(
            "GET", prefix + suffix, params={"limit": MAX_PAGE_SIZE, "cursor": cursor}
        )
        for item in answer.data.get("items") or []:
            name = str(item.get("name", ""))
            if name.casefold() == wanted:
                return str(item["id"])
            names.append(name)
        cursor = answer.data.get("next_cursor")
        if not cursor or not answer.data.get("has_more"):
            break
    available = ", ".join(f"`{n}`" for n in names) if names else "none"
    raise NotFoundError(
        f"no {what} named `{value}` in {scope.describe()}; available {what}s: {available}",
        status=404,
        code="not_found",
        details={"name": value, "available": names},
    )


# --- the caller, the organization, projects ---------------------------------------------


def whoami(core: ClientCore, project_id: Optional[str]) -> Op[Me]:
    params = {"project_id": project_id} if project_id else None
    answer = yield Request("GET", "/v1/me", params=params)
    me = Me(answer.data)
    if core.org_id is None:
        core.org_id = me.org.id
    return me


def health(core: ClientCore) -> Op[Health]:
    answer = yield Request("GET", "/healthz", auth=False)
    return Health(answer.data)


def org_get(scope: Scope) -> Op[Organization]:
    return (yield from scoped(scope, "GET", "", Organization))


def projects_page(org: Scope, page_size: Optional[int]) -> PageOp:
    return list_page(org, "/projects", Project, page_size=page_size)


def project_create(
    org: Scope, name: str, description: Optional[str], restricted: Optional[bool]
) -> Op[Project]:
    payload = body(name=name, description=description, restricted=restricted)
    return (yield from scoped(org, "POST", "/projects", Project, json=payload))


def _project_scope(core: ClientCore, project: Ref) -> Scope:
    return Scope(core, "project", ref_id(project, "project_id"))


def project_get(core: ClientCore, project: Ref) -> Op[Project]:
    return (yield from scoped(_project_scope(core, project), "GET", "", Project))


def project_update(
    core: ClientCore,
    project: Ref,
    name: Optional[str],
    description: Optional[str],
    restricted: Optional[bool],
    if_version: Optional[int],
) -> Op[Project]:
    payload = body(name=name, description=description, restricted=restricted)
    return (
        yield from scoped(
            _project_scope(core, project),
            "PATCH",
            "",
            Project,
            json=payload,
            headers=_if_match(if_version),
        )
    )


def project_delete(core: ClientCore, project: Ref) -> Op[Deleted]:
    return (yield from scoped(_project_scope(core, project), "DELETE", "", Deleted))


# --- permissions -------------------------------------------------------------------------


def permissions_page(scope: Scope, resource: Optional[str], page_size: Optional[int]) -> PageOp:
    return list_page(scope, "/permissions", PermissionInfo, {"resource": resource}, page_size)


def permissions_effective(scope: Scope, principal: str) -> Op[EffectivePermissions]:
    suffix = f"/principals/{path_part(principal_ref(principal))}/permissions"
    return (yield from scoped(scope, "GET", suffix, EffectivePermissions))


def permissions_who_can(
    scope: Scope, permission: str, principal_type: Optional[str], page_size: Optional[int]
) -> PageOp:
    suffix = f"/permissions/{path_part(permission)}/principals"
    return list_page(scope, suffix, Holder, {"principal_type": principal_type}, page_size)


# --- policies ----------------------------------------------------------------------------


def policies_page(scope: Scope, is_predefined: Optional[bool], page_size: Optional[int]) -> PageOp:
    return list_page(scope, "/policies", Policy, {"is_predefined": is_predefined}, page_size)


def policy_get(scope: Scope, policy: Ref) -> Op[Policy]:
    ident = yield from resolve(scope, "/policies", "policy", policy)
    return (yield from scoped(scope, "GET", f"/policies/{path_part(ident)}", Policy))


def policy_create(
    scope: Scope, name: str, permission_ids: Iterable[str], description: Optional[str]
) -> Op[Policy]:
    payload = body(name=name, permission_ids=list(permission_ids), description=description)
    return (yield from scoped(scope, "POST", "/policies", Policy, json=payload))


def policy_update(
    scope: Scope,
    policy: Ref,
    name: Optional[str],
    permission_ids: Optional[Iterable[str]],
    description: Optional[str],
    if_version: Optional[int],
) -> Op[Policy]:
    ident = yield from resolve(scope, "/policies", "policy", policy)
    payload = body(
        name=name,
        permission_ids=None if permission_ids is None else list(permission_ids),
        description=description,
    )
    return (
        yield from scoped(
            scope,
            "PATCH",
            f"/policies/{path_part(ident)}",
            Policy,
            json=payload,
            headers=_if_match(if_version),
        )
    )


def policy_delete(scope: Scope, policy: Ref, cascade: bool) -> Op[Deleted]:
    ident = yield from resolve(scope, "/policies", "policy", policy)
    params = {"cascade": True} if cascade else None
    return (
        yield from scoped(scope, "DELETE", f"/policies/{path_part(ident)}", Deleted, params=params)
    )


# --- roles -------------------------------------------------------------------------------


def roles_page(scope: Scope, is_predefined: Optional[bool], page_size: Optional[int]) -> PageOp:
    return list_page(scope, "/roles", Role, {"is_predefined": is_predefined}, page_size)


def role_get(scope: Scope, role: Ref) -> Op[Role]:
    ident = yield from resolve(scope, "/roles", "role", role)
    return (yield from scoped(scope, "GET", f"/roles/{path_part(ident)}", Role))


def _ids(values: Optional[Iterable[Ref]]) -> Optional[List[str]]:
    return None if values is None else [ref_id(v) for v in values]


def role_create(
    scope: Scope,
    name: str,
    policy_ids: Optional[Iterable[Ref]],
    permissions: Optional[Iterable[str]],
    description: Optional[str],
) -> Op[Role]:
    payload = body(
        name=name,
        policy_ids=_ids(policy_ids),
        permissions=None if permissions is None else list(permissions),
        description=description,
    )
    return (yield from scoped(scope, "POST", "/roles", Role, json=payload))


def role_update(
    scope: Scope,
    role: Ref,
    name: Optional[str],
    description: Optional[str],
    policy_ids: Optional[Iterable[Ref]],
    permissions: Optional[Iterable[str]],
    if_version: Optional[int],
) -> Op[Role]:
    ident = yield from resolve(scope, "/roles", "role", role)
    payload = body(
        name=name,
        description=description,
        policy_ids=_ids(policy_ids),
        permissions=None if permissions is None else list(permissions),
    )
    return (
        yield from scoped(
            scope,
            "PATCH",
            f"/roles/{path_part(ident)}",
            Role,
            json=payload,
            headers=_if_match(if_version),
        )
    )


def role_delete(scope: Scope, role: Ref, cascade: bool) -> Op[Deleted]:
    ident = yield from resolve(scope, "/roles", "role", role)
    params = {"cascade": True} if cascade else None
    return (
        yield from scoped(scope, "DELETE", f"/roles/{path_part(ident)}", Deleted, params=params)
    )


def pick_role(role: Optional[Ref], role_id: Optional[Ref]) -> Ref:
    """Arize's ``role_id=`` keyword and the positional form are the same argument."""
    if role is not None and role_id is not None and ref_id(role) != ref_id(role_id):
        raise ValueError("give the role once: positionally or as role_id=, not both")
    chosen = role if role is not None else role_id
    if chosen is None:
        raise ValueError("give the role: its id or its name (positionally or as role_id=)")
    return chosen


# --- members -----------------------------------------------------------------------------


def _principal_of(value: Union[str, WardenObject]) -> str:
    if isinstance(value, Member):
        return value.principal
    if isinstance(value, WardenObject):
        raise ValueError("give a principal as `user:<id>`, `team:<id>` or `api_key:<id>`")
    return principal_ref(value)


def members_page(
    scope: Scope,
    role_id: Optional[Ref],
    principal_type: Optional[str],
    page_size: Optional[int],
) -> PageOp:
    params = {
        "role_id": None if role_id is None else ref_id(role_id),
        "principal_type": principal_type,
    }
    return list_page(scope, "/members", Member, params, page_size)


def member_get(scope: Scope, principal: Union[str, WardenObject]) -> Op[Member]:
    suffix = f"/members/{path_part(_principal_of(principal))}"
    return (yield from scoped(scope, "GET", suffix, Member))


def member_set(scope: Scope, principal: Union[str, WardenObject], role_id: Ref) -> Op[Member]:
    suffix = f"/members/{path_part(_principal_of(principal))}"
    payload = {"role_id": ref_id(role_id, "role_id")}
    return (yield from scoped(scope, "PUT", suffix, Member, json=payload))


def member_remove(scope: Scope, principal: Union[str, WardenObject]) -> Op[Member]:
    suffix = f"/members/{path_part(_principal_of(principal))}"
    return (yield from scoped(scope, "DELETE", suffix, Member))


def transfer_ownership(scope: Scope, user_id: str) -> Op[Member]:
    user = ref_id(user_id, "user_id")
    if user.startswith("user:"):
        user = user[len("user:") :]
    return (yield from scoped(scope, "POST", "/transfer-ownership", Member, json={"user_id": user}))


# --- API keys ----------------------------------------------------------------------------


def api_keys_page(scope: Scope, page_size: Optional[int]) -> PageOp:
    return list_page(scope, "/api-keys", ApiKey, page_size=page_size)


def api_key_get(scope: Scope, key: Ref) -> Op[ApiKey]:
    return (yield from scoped(scope, "GET", f"/api-keys/{path_part(ref_id(key))}", ApiKey))


def api_key_create(
    scope: Scope, name: str, role_id: Ref, expires_at: Optional[str]
) -> Op[CreatedApiKey]:
    payload = body(name=name, role_id=ref_id(role_id, "role_id"), expires_at=expires_at)
    return (yield from scoped(scope, "POST", "/api-keys", CreatedApiKey, json=payload))


def api_key_update(
    scope: Scope, key: Ref, name: Optional[str], valid: Optional[bool], if_version: Optional[int]
) -> Op[ApiKey]:
    return (
        yield from scoped(
            scope,
            "PATCH",
            f"/api-keys/{path_part(ref_id(key))}",
            ApiKey,
            json=body(name=name, valid=valid),
            headers=_if_match(if_version),
        )
    )


def api_key_delete(scope: Scope, key: Ref) -> Op[Deleted]:
    return (yield from scoped(scope, "DELETE", f"/api-keys/{path_part(ref_id(key))}", Deleted))


# --- audit -------------------------------------------------------------------------------


def audit_page(
    scope: Scope,
    actor: Optional[str],
    action: Optional[str],
    target: Optional[str],
    since_revision: Optional[int],
    until_revision: Optional[int],
    page_size: Optional[int],
) -> PageOp:
    params = {
        "actor": actor,
        "action": action,
        "target": target,
        "since_revision": since_revision,
        "until_revision": until_revision,
    }
    return list_page(scope, "/audit-events", AuditEvent, params, page_size)


# --- invitations -------------------------------------------------------------------------


def invitations_page(scope: Scope, status: Optional[str], page_size: Optional[int]) -> PageOp:
    return list_page(scope, "/invitations", Invitation, {"status": status}, page_size)


def invitation_get(scope: Scope, invitation: Ref) -> Op[Invitation]:
    suffix = f"/invitations/{path_part(ref_id(invitation))}"
    return (yield from scoped(scope, "GET", suffix, Invitation))


def invitation_create(
    scope: Scope, emails: Union[str, Iterable[str]], role_id: Ref
) -> Op[InvitationsCreated]:
    addresses = [emails] if isinstance(emails, str) else list(emails)
    payload = {"emails": addresses, "role_id": ref_id(role_id, "role_id")}
    return (yield from scoped(scope, "POST", "/invitations", InvitationsCreated, json=payload))


def invitation_resend(scope: Scope, invitation: Ref) -> Op[IssuedInvitation]:
    suffix = f"/invitations/{path_part(ref_id(invitation))}/resend"
    return (yield from scoped(scope, "POST", suffix, IssuedInvitation))


def invitation_revoke(scope: Scope, invitation: Ref) -> Op[Invitation]:
    suffix = f"/invitations/{path_part(ref_id(invitation))}/revoke"
    return (yield from scoped(scope, "POST", suffix, Invitation))


def invitation_accept(token: str, name: str, password: str) -> Op[AcceptedInvitation]:
    payload = {"token": token, "name": name, "password": password}
    answer = yield Request("POST", "/v1/invitations/accept", json=payload, auth=False)
    return _model(AcceptedInvitation, answer.data, answer.revision)


def sign_in(
    email: str,
    password: str,
    org_id: Optional[str],
    name: Optional[str],
    expires_at: Optional[str],
) -> Op[SignIn]:
    payload = body(email=email, password=password, org_id=org_id, name=name, expires_at=expires_at)
    answer = yield Request("POST", "/v1/auth/tokens", json=payload, auth=False)
    return _model(SignIn, answer.data, answer.revision)


# --- teams -------------------------------------------------------------------------------


def _team(team: Ref) -> str:
    return f"/teams/{path_part(ref_id(team, 'the team'))}"


def teams_page(scope: Scope, page_size: Optional[int]) -> PageOp:
    return list_page(scope, "/teams", Team, page_size=page_size)


def team_get(scope: Scope, team: Ref) -> Op[Team]:
    return (yield from scoped(scope, "GET", _team(team), Team))


def team_create(
    scope: Scope, name: str, key: Optional[str], description: Optional[str]
) -> Op[Team]:
    payload = body(name=name, key=key, description=description)
    return (yield from scoped(scope, "POST", "/teams", Team, json=payload))


def team_update(
    scope: Scope,
    team: Ref,
    name: Optional[str],
    key: Optional[str],
    description: Optional[str],
    if_version: Optional[int],
) -> Op[Team]:
    payload = body(name=name, key=key, description=description)
    return (
        yield from scoped(
            scope, "PATCH", _team(team), Team, json=payload, headers=_if_match(if_version)
        )
    )


def team_delete(scope: Scope, team: Ref) -> Op[Deleted]:
    return (yield from scoped(scope, "DELETE", _team(team), Deleted))


def team_users_page(scope: Scope, team: Ref, page_size: Optional[int]) -> PageOp:
    return list_page(scope, _team(team) + "/users", TeamUser, page_size=page_size)


def _user(user_id: Ref) -> str:
    user = ref_id(user_id, "user_id")
    if user.startswith("user:"):
        user = user[len("user:") :]
    return path_part(user)


def team_add_user(scope: Scope, team: Ref, user_id: Ref) -> Op[TeamUserAdded]:
    return (yield from scoped(scope, "PUT", f"{_team(team)}/users/{_user(user_id)}", TeamUserAdded))


def team_remove_user(scope: Scope, team: Ref, user_id: Ref) -> Op[Deleted]:
    return (yield from scoped(scope, "DELETE", f"{_team(team)}/users/{_user(user_id)}", Deleted))


# --- decisions ---------------------------------------------------------------------------


def _decision_body(
    core: ClientCore,
    principal: str,
    permission: str,
    project_id: Optional[str],
    org_id: Optional[str],
    min_revision: Optional[int],
) -> Op[Dict[str, Any]]:
    payload: Dict[str, Any] = {"principal": principal_ref(principal), "permission": permission}
    if project_id:
        payload["project_id"] = project_id
    else:
        payload["org_id"] = org_id or (yield from core.org_id_op())
    if min_revision is not None:
        payload["min_revision"] = min_revision
    return payload


def check(
    core: ClientCore,
    principal: str,
    permission: str,
    project_id: Optional[str],
    org_id: Optional[str],
    min_revision: Optional[int],
) -> Op[CheckResult]:
    payload = yield from _decision_body(
        core, principal, permission, project_id, org_id, min_revision
    )
    answer = yield Request("POST", "/v1/check", json=payload)
    return CheckResult(answer.data)


def explain(
    core: ClientCore,
    principal: str,
    permission: str,
    project_id: Optional[str],
    org_id: Optional[str],
    min_revision: Optional[int],
) -> Op[Explanation]:
    payload = yield from _decision_body(
        core, principal, permission, project_id, org_id, min_revision
    )
    answer = yield Request("POST", "/v1/explain", json=payload)
    return Explanation(answer.data)


def check_batch(
    core: ClientCore,
    checks: Iterable[CheckSpec],
    project_id: Optional[str],
    org_id: Optional[str],
    min_revision: Optional[int],
) -> Op[BatchCheckResult]:
    items: List[Dict[str, Any]] = []
    for spec in checks:
        if isinstance(spec, Mapping):
            item = {k: v for k, v in spec.items() if v is not None}
        else:
            parts = list(spec)
            if len(parts) not in (2, 3):
                raise ValueError(
                    "a check is (principal, permission) or (principal, permission, project_id)"
                )
            item = {"principal": parts[0], "permission": parts[1]}
            if len(parts) == 3 and parts[2]:
                item["project_id"] = parts[2]
        if "principal" not in item or "permission" not in item:
            raise ValueError("each check needs a principal and a permission")
        item["principal"] = principal_ref(str(item["principal"]))
        if "project_id" not in item and "org_id" not in item:
            if project_id:
                item["project_id"] = project_id
            else:
                item["org_id"] = org_id or (yield from core.org_id_op())
        items.append(item)
    payload: Dict[str, Any] = {"checks": items}
    if min_revision is not None:
        payload["min_revision"] = min_revision
    answer = yield Request("POST", "/v1/check/batch", json=payload)
    return BatchCheckResult(answer.data)
