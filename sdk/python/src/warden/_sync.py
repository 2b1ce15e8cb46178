"""The synchronous client, :class:`Warden`, and its resources."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Callable, Iterable, Optional, Type, TypeVar, Union, cast

import httpx

from . import _ops as ops
from ._core import DEFAULT_MAX_RETRIES, ClientCore, Op, Request, Response, Scope
from ._models import (
    AcceptedInvitation,
    ApiKey,
    BatchCheckResult,
    CheckResult,
    CreatedApiKey,
    Deleted,
    EffectivePermissions,
    Explanation,
    Health,
    Invitation,
    InvitationsCreated,
    IssuedInvitation,
    Me,
    Member,
    Organization,
    Policy,
    Project,
    Role,
    SignIn,
    Team,
    TeamUserAdded,
    WardenObject,
)
from ._ops import CheckSpec, Ref
from ._pagination import (
    ApiKeyList,
    AuditEventList,
    HolderList,
    InvitationList,
    MemberList,
    Page,
    PermissionList,
    PolicyList,
    ProjectList,
    RoleList,
    TeamList,
    TeamUserList,
)

__all__ = [
    "Warden",
    "OrganizationScope",
    "ProjectScope",
    "Permissions",
    "Policies",
    "Roles",
    "Members",
    "Invitations",
    "ApiKeys",
    "AuditEvents",
    "Teams",
    "Projects",
]

T = TypeVar("T")
W = TypeVar("W", bound=WardenObject)
Principal = Union[str, WardenObject]


class _Resource:
    def __init__(self, client: "Warden", scope: Scope) -> None:
        self._client = client
        self._scope = scope

    def _run(self, op: Op[T]) -> T:
        return self._client._run(op)

    def _fetcher(self, page_op: ops.PageOp) -> Callable[[Optional[str], Optional[int]], Page[W]]:
        def fetch(cursor: Optional[str], want: Optional[int]) -> Page[W]:
            return cast(Page[W], self._run(page_op(cursor, want)))

        return fetch


class Permissions(_Resource):
    """The permissions of a scope (read-only, from the catalogue)."""

    def list(
        self,
        *,
        resource: Optional[str] = None,
        page_size: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> PermissionList:
        """Every permission of the scope, optionally of one ``resource`` (``dataset``).

        The org scope includes every project permission. Their ``id`` and ``key`` are both
        accepted wherever the API takes permissions.
        """
        page = ops.permissions_page(self._scope, resource, page_size)
        return PermissionList(self._fetcher(page), limit=limit)

    def effective(self, principal: str) -> EffectivePermissions:
        """Every permission ``principal`` (``user:<id>``, ``team:<id>``, ``api_key:<id>``)
        holds in the scope (in a project: its org roles and teams included)."""
        return self._run(ops.permissions_effective(self._scope, principal))

    def who_can(
        self,
        permission: str,
        *,
        principal_type: Optional[str] = None,
        page_size: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> HolderList:
        """Every principal that holds ``permission`` in the scope (``principal_type``:
        ``user``, ``team`` or ``api_key``)."""
        page = ops.permissions_who_can(self._scope, permission, principal_type, page_size)
        return HolderList(self._fetcher(page), limit=limit)


class Policies(_Resource):
    """The policies of a scope: named bundles of permissions."""

    def list(
        self,
        is_predefined: Optional[bool] = None,
        *,
        page_size: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> PolicyList:
        """Every policy of the scope; ``is_predefined`` keeps only predefined (``True``) or
        custom (``False``) ones."""
        page = ops.policies_page(self._scope, is_predefined, page_size)
        return PolicyList(self._fetcher(page), limit=limit)

    def get(self, policy_id: Ref) -> Policy:
        """A policy, by id or by name."""
        return self._run(ops.policy_get(self._scope, policy_id))

    def create(
        self, name: str, *, permission_ids: Iterable[str], description: Optional[str] = None
    ) -> Policy:
        """A new policy of ``permission_ids`` (permission ids or ``resource:action`` keys,
        at least one)."""
        return self._run(ops.policy_create(self._scope, name, permission_ids, description))

    def update(
        self,
        policy_id: Ref,
        *,
        name: Optional[str] = None,
        permission_ids: Optional[Iterable[str]] = None,
        description: Optional[str] = None,
        if_version: Optional[int] = None,
    ) -> Policy:
        """Changes a custom policy (by id or name); ``permission_ids`` replaces the old list
        wholly. With ``if_version``, fails with :class:`PreconditionFailedError` if the
        policy changed since that version."""
        return self._run(
            ops.policy_update(self._scope, policy_id, name, permission_ids, description, if_version)
        )

    def delete(self, policy_id: Ref, *, cascade: bool = False) -> Deleted:
        """Deletes a custom policy. A policy that roles use is refused (409) unless
        ``cascade=True``, which removes it from those roles."""
        return self._run(ops.policy_delete(self._scope, policy_id, cascade))


class Roles(_Resource):
    """The roles of a scope. A role is given by its id or its name everywhere."""

    def list(
        self,
        is_predefined: Optional[bool] = None,
        *,
        page_size: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> RoleList:
        """Every role of the scope; ``is_predefined`` keeps only predefined (``True``) or
        custom (``False``) ones."""
        page = ops.roles_page(self._scope, is_predefined, page_size)
        return RoleList(self._fetcher(page), limit=limit)

    def get(self, role: Optional[Ref] = None, *, role_id: Optional[Ref] = None) -> Role:
        """A role, by id or name (``roles.get("Owner")`` or ``roles.get(role_id=...)``).

        A name that matches nothing raises :class:`NotFoundError` listing the names there
        are."""
        return self._run(ops.role_get(self._scope, ops.pick_role(role, role_id)))

    def create(
        self,
        name: str,
        *,
        policy_ids: Optional[Iterable[Ref]] = None,
        permissions: Optional[Iterable[str]] = None,
        description: Optional[str] = None,
    ) -> Role:
        """A new custom role of ``policy_ids`` and inline ``permissions`` (ids or
        ``resource:action`` keys): at least one of them."""
        return self._run(ops.role_create(self._scope, name, policy_ids, permissions, description))

    def update(
        self,
        role: Optional[Ref] = None,
        *,
        role_id: Optional[Ref] = None,
        name: Optional[str] = None,
        description: Optional[str] = None,
        policy_ids: Optional[Iterable[Ref]] = None,
        permissions: Optional[Iterable[str]] = None,
        if_version: Optional[int] = None,
    ) -> Role:
        """Changes a custom role (by id or name): at least one field; a list given replaces
        the old one wholly."""
        return self._run(
            ops.role_update(
                self._scope,
                ops.pick_role(role, role_id),
                name,
                description,
                policy_ids,
                permissions,
                if_version,
            )
        )

    def delete(
        self, role: Optional[Ref] = None, *, role_id: Optional[Ref] = None, cascade: bool = False
    ) -> Deleted:
        """Deletes a custom role (by id or name). A role held by members is refused (409)
        unless ``cascade=True``, which removes those memberships."""
        return self._run(ops.role_delete(self._scope, ops.pick_role(role, role_id), cascade))


class Members(_Resource):
    """Who holds which role in a scope. Principals are ``user:<id>``, ``team:<id>`` or
    ``api_key:<id>``; a bare id is taken as a user's."""

    def list(
        self,
        *,
        role_id: Optional[Ref] = None,
        principal_type: Optional[str] = None,
        page_size: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> MemberList:
        """Every member, optionally only those of one role (id or name) or one
        ``principal_type`` (``user``, ``team``, ``api_key``)."""
        page = ops.members_page(self._scope, role_id, principal_type, page_size)
        return MemberList(self._fetcher(page), limit=limit)

    def get(self, principal: Principal) -> Member:
        """One member."""
        return self._run(ops.member_get(self._scope, principal))

    def update_role(self, principal: Principal, *, role_id: Ref) -> Member:
        """Gives ``principal`` the role ``role_id`` (id or name) in the scope, adding it as a
        member if it is not one yet."""
        return self._run(ops.member_set(self._scope, principal, role_id))

    def add(self, principal: Principal, *, role_id: Ref) -> Member:
        """The same as :meth:`update_role`."""
        return self.update_role(principal, role_id=role_id)

    def remove(self, principal: Principal) -> Member:
        """Removes a member from the scope (from an org: from its projects and teams too)."""
        return self._run(ops.member_remove(self._scope, principal))

    def transfer_ownership(self, user_id: str) -> Member:
        """Makes the user Owner and demotes the calling Owner (to Admin in an org, Manager in
        a project)."""
        return self._run(ops.transfer_ownership(self._scope, user_id))


class Invitations(_Resource):
    """Invitations of people (by email) to a scope, with a role."""

    def list(
        self,
        *,
        status: Optional[str] = None,
        page_size: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> InvitationList:
        """Every invitation, optionally of one ``status`` (``pending``, ``accepted``,
        ``revoked``, ``expired``)."""
        page = ops.invitations_page(self._scope, status, page_size)
        return InvitationList(self._fetcher(page), limit=limit)

    def get(self, invitation_id: Ref) -> Invitation:
        """One invitation (without its token)."""
        return self._run(ops.invitation_get(self._scope, invitation_id))

    def create(self, emails: Union[str, Iterable[str]], *, role_id: Ref) -> InvitationsCreated:
        """Invites ``emails`` with the role ``role_id`` (id or name; never Owner). Emails of
        members or already invited are skipped and reported in ``skipped``; each new
        invitation carries its ``token``, shown only here: send it to the person."""
        return self._run(ops.invitation_create(self._scope, emails, role_id))

    def resend(self, invitation_id: Ref) -> IssuedInvitation:
        """A new token and expiry for a pending or expired invitation."""
        return self._run(ops.invitation_resend(self._scope, invitation_id))

    def revoke(self, invitation_id: Ref) -> Invitation:
        """Revokes a pending invitation."""
        return self._run(ops.invitation_revoke(self._scope, invitation_id))

    def accept(self, token: str, *, name: str, password: str) -> AcceptedInvitation:
        """Accepts an invitation with its token (no API key needed): the same as
        :meth:`Warden.accept_invitation`."""
        return self._client.accept_invitation(token, name=name, password=password)


class ApiKeys(_Resource):
    """The API keys of a scope. A key holds one role in its scope."""

    def list(self, *, page_size: Optional[int] = None, limit: Optional[int] = None) -> ApiKeyList:
        """Every API key of the scope (without secrets)."""
        return ApiKeyList(self._fetcher(ops.api_keys_page(self._scope, page_size)), limit=limit)

    def get(self, key_id: Ref) -> ApiKey:
        """One API key (without its secret)."""
        return self._run(ops.api_key_get(self._scope, key_id))

    def create(self, name: str, *, role_id: Ref, expires_at: Optional[str] = None) -> CreatedApiKey:
        """A new key holding ``role_id`` (id or name); its ``secret`` is shown only here.
        ``expires_at`` is an RFC 3339 time in the future."""
        return self._run(ops.api_key_create(self._scope, name, role_id, expires_at))

    def update(
        self,
        key_id: Ref,
        *,
        name: Optional[str] = None,
        valid: Optional[bool] = None,
        if_version: Optional[int] = None,
    ) -> ApiKey:
        """Renames a key, or invalidates it (``valid=False``; refused with 401 from then on)
        or restores it (``valid=True``)."""
        return self._run(ops.api_key_update(self._scope, key_id, name, valid, if_version))

    def delete(self, key_id: Ref) -> Deleted:
        """Deletes a key."""
        return self._run(ops.api_key_delete(self._scope, key_id))


class AuditEvents(_Resource):
    """The audit log of a scope: every change, newest first."""

    def list(
        self,
        *,
        actor: Optional[str] = None,
        action: Optional[str] = None,
        target: Optional[str] = None,
        since_revision: Optional[int] = None,
        until_revision: Optional[int] = None,
        page_size: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> AuditEventList:
        """Changes, filtered by ``actor`` (``api_key:<id>``), ``action`` (``role.create``),
        ``target`` (``role:<id>``) and revision range."""
        page = ops.audit_page(
            self._scope, actor, action, target, since_revision, until_revision, page_size
        )
        return AuditEventList(self._fetcher(page), limit=limit)


class Teams(_Resource):
    """The teams of the organization. A team is given by its id or its key."""

    def list(self, *, page_size: Optional[int] = None, limit: Optional[int] = None) -> TeamList:
        """Every team."""
        return TeamList(self._fetcher(ops.teams_page(self._scope, page_size)), limit=limit)

    def get(self, team: Ref) -> Team:
        """A team, by id or key."""
        return self._run(ops.team_get(self._scope, team))

    def create(
        self, name: str, *, key: Optional[str] = None, description: Optional[str] = None
    ) -> Team:
        """A new team; its ``key`` is derived from the name unless given."""
        return self._run(ops.team_create(self._scope, name, key, description))

    def update(
        self,
        team: Ref,
        *,
        name: Optional[str] = None,
        key: Optional[str] = None,
        description: Optional[str] = None,
        if_version: Optional[int] = None,
    ) -> Team:
        """Renames a team, changes its key or its description."""
        return self._run(ops.team_update(self._scope, team, name, key, description, if_version))

    def delete(self, team: Ref) -> Deleted:
        """Deletes a team with its memberships."""
        return self._run(ops.team_delete(self._scope, team))

    def list_users(
        self, team: Ref, *, page_size: Optional[int] = None, limit: Optional[int] = None
    ) -> TeamUserList:
        """The users of a team."""
        page = ops.team_users_page(self._scope, team, page_size)
        return TeamUserList(self._fetcher(page), limit=limit)

    def add_user(self, team: Ref, user_id: Ref) -> TeamUserAdded:
        """Adds a user of the organization to a team (nothing changes if it is there)."""
        return self._run(ops.team_add_user(self._scope, team, user_id))

    def remove_user(self, team: Ref, user_id: Ref) -> Deleted:
        """Removes a user from a team."""
        return self._run(ops.team_remove_user(self._scope, team, user_id))


class Projects(_Resource):
    """The organization's projects."""

    def list(self, *, page_size: Optional[int] = None, limit: Optional[int] = None) -> ProjectList:
        """Every project of the organization."""
        return ProjectList(self._fetcher(ops.projects_page(self._scope, page_size)), limit=limit)

    def create(
        self, name: str, *, description: Optional[str] = None, restricted: Optional[bool] = None
    ) -> Project:
        """A new project, with its predefined roles. In a ``restricted`` one, org roles other
        than Owner grant nothing."""
        return self._run(ops.project_create(self._scope, name, description, restricted))

    def get(self, project_id: Ref) -> Project:
        """One project."""
        return self._run(ops.project_get(self._scope.core, project_id))

    def update(
        self,
        project_id: Ref,
        *,
        name: Optional[str] = None,
        description: Optional[str] = None,
        restricted: Optional[bool] = None,
        if_version: Optional[int] = None,
    ) -> Project:
        """Renames a project, changes its description, or restricts it."""
        return self._run(
            ops.project_update(
                self._scope.core, project_id, name, description, restricted, if_version
            )
        )

    def delete(self, project_id: Ref) -> Deleted:
        """Deletes a project and everything in it."""
        return self._run(ops.project_delete(self._scope.core, project_id))


class _ScopeBase:
    def __init__(self, client: "Warden", scope: Scope) -> None:
        self._client = client
        self._scope = scope
        self.permissions = Permissions(client, scope)
        self.policies = Policies(client, scope)
        self.roles = Roles(client, scope)
        self.members = Members(client, scope)
        self.invitations = Invitations(client, scope)
        self.api_keys = ApiKeys(client, scope)
        self.audit_events = AuditEvents(client, scope)


class OrganizationScope(_ScopeBase):
    """The caller's organization: ``.permissions``, ``.policies``, ``.roles``, ``.members``,
    ``.invitations``, ``.api_keys``, ``.teams``, ``.projects``, ``.audit_events``.

    Made without a network call; the organization's id is asked of ``GET /v1/me`` at the
    first request and remembered.
    """

    def __init__(self, client: "Warden", scope: Scope) -> None:
        super().__init__(client, scope)
        self.teams = Teams(client, scope)
        self.projects = Projects(client, scope)

    def get(self) -> Organization:
        """The organization."""
        return self._client._run(ops.org_get(self._scope))

    def __repr__(self) -> str:
        return "OrganizationScope()"


class ProjectScope(_ScopeBase):
    """One project: ``.permissions``, ``.policies``, ``.roles``, ``.members``,
    ``.invitations``, ``.api_keys``, ``.audit_events``. Made without a network call."""

    def __init__(self, client: "Warden", scope: Scope) -> None:
        super().__init__(client, scope)
        assert scope.project_id is not None
        self.id: str = scope.project_id

    def get(self) -> Project:
        """The project."""
        return self._client._run(ops.project_get(self._scope.core, self.id))

    def update(
        self,
        *,
        name: Optional[str] = None,
        description: Optional[str] = None,
        restricted: Optional[bool] = None,
        if_version: Optional[int] = None,
    ) -> Project:
        """Renames the project, changes its description, or restricts it."""
        return self._client._run(
            ops.project_update(self._scope.core, self.id, name, description, restricted, if_version)
        )

    def delete(self) -> Deleted:
        """Deletes the project and everything in it."""
        return self._client._run(ops.project_delete(self._scope.core, self.id))

    def __repr__(self) -> str:
        return f"ProjectScope(id={self.id!r})"


def _project_id(project_id: Union[str, Project]) -> str:
    value = project_id.id if isinstance(project_id, Project) else project_id
    if not isinstance(value, str) or not value.strip():
        raise ValueError("project_id must be a non-empty string: the id of a project")
    return value


class Warden:
    """The Warden client.

    ``api_key`` and ``base_url`` fall back to the environment variables ``WARDEN_API_KEY``
    and ``WARDEN_BASE_URL`` (then to ``http://127.0.0.1:8080``). ``timeout`` is in seconds
    (default 30). Connection failures are retried ``max_retries`` times with exponential
    backoff; error answers never are. ``http_client`` replaces the ``httpx.Client`` (it is
    then not closed by :meth:`close`).

    >>> client = Warden()
    >>> org = client.organization()
    >>> org.roles.list(is_predefined=True).roles
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        timeout: Union[float, httpx.Timeout, None] = None,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        org_id: Optional[str] = None,
        http_client: Optional[httpx.Client] = None,
    ) -> None:
        self._core = ClientCore(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            org_id=org_id,
        )
        self._owns_http = http_client is None
        self._http = (
            http_client if http_client is not None else httpx.Client(timeout=self._core.timeout)
        )
        self._org = OrganizationScope(self, Scope(self._core, "org"))

    # --- settings ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The server's URL."""
        return self._core.base_url

    @property
    def api_key(self) -> Optional[str]:
        """The API key in use."""
        return self._core.api_key

    @property
    def max_retries(self) -> int:
        """How many times a connection failure is retried."""
        return self._core.max_retries

    @property
    def timeout(self) -> Union[float, httpx.Timeout]:
        """The timeout of each request."""
        return self._core.timeout

    # --- scopes ---------------------------------------------------------------------

    def organization(self) -> OrganizationScope:
        """The caller's organization (no network call)."""
        return self._org

    def project(self, project_id: Union[str, Project]) -> ProjectScope:
        """One project of the organization (no network call). An empty id raises
        ``ValueError``."""
        return ProjectScope(self, Scope(self._core, "project", _project_id(project_id)))

    @property
    def roles(self) -> Roles:
        """The organization's roles (``client.roles.list(is_predefined=True)``)."""
        return self._org.roles

    @property
    def projects(self) -> Projects:
        """The organization's projects."""
        return self._org.projects

    # --- calls ----------------------------------------------------------------------

    def whoami(self, project_id: Optional[str] = None) -> Me:
        """The calling key: who it acts as, its organization, role and permissions (in
        ``project_id`` when given)."""
        return self._run(ops.whoami(self._core, project_id))

    def health(self) -> Health:
        """The server's liveness (no key needed)."""
        return self._run(ops.health(self._core))

    def check(
        self,
        principal: str,
        permission: str,
        project_id: Optional[str] = None,
        *,
        org_id: Optional[str] = None,
        min_revision: Optional[int] = None,
    ) -> CheckResult:
        """May ``principal`` (``user:<id>``, ``team:<id>``, ``api_key:<id>``; a bare id is a
        user's) do ``permission`` in ``project_id`` (or in the organization when no project is
        given)? The result is true in a boolean context when allowed.

        ``min_revision`` (a write's ``write_revision``) makes the answer wait until that write
        is visible. The key needs ``access:check``.
        """
        return self._run(
            ops.check(self._core, principal, permission, project_id, org_id, min_revision)
        )

    def check_batch(
        self,
        checks: Iterable[CheckSpec],
        *,
        project_id: Optional[str] = None,
        org_id: Optional[str] = None,
        min_revision: Optional[int] = None,
    ) -> BatchCheckResult:
        """Up to 1,000 checks at one revision. Each is a dict (``principal``,
        ``permission``, ``project_id`` or ``org_id``) or a tuple ``(principal, permission)``
        or ``(principal, permission, project_id)``; one without a scope is asked in
        ``project_id``, else in ``org_id``, else in the caller's organization."""
        return self._run(ops.check_batch(self._core, checks, project_id, org_id, min_revision))

    def explain(
        self,
        principal: str,
        permission: str,
        project_id: Optional[str] = None,
        *,
        org_id: Optional[str] = None,
        min_revision: Optional[int] = None,
    ) -> Explanation:
        """A check with every grant that allows it (membership → role → policy, and the team
        it came through), or the ``reason`` nothing does."""
        return self._run(
            ops.explain(self._core, principal, permission, project_id, org_id, min_revision)
        )

    def accept_invitation(self, token: str, *, name: str, password: str) -> AcceptedInvitation:
        """Accepts an invitation with its token (no API key needed): creates the user if new
        and gives it the invited role. ``password`` has 8 characters or more."""
        return self._run(ops.invitation_accept(token, name, password))

    def sign_in(
        self,
        email: str,
        password: str,
        *,
        org_id: Optional[str] = None,
        name: Optional[str] = None,
        expires_at: Optional[str] = None,
    ) -> SignIn:
        """Signs a person in: a personal API key acting as the user (``secret`` shown only
        here). ``org_id`` is needed only when the user belongs to several organizations."""
        return self._run(ops.sign_in(email, password, org_id, name, expires_at))

    # --- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        """Closes the connections (unless the ``http_client`` was given)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> "Warden":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Warden(base_url={self.base_url!r})"

    # --- the driver -----------------------------------------------------------------

    def _run(self, op: Op[T]) -> T:
        try:
            request = next(op)
            while True:
                request = op.send(self._send(request))
        except StopIteration as done:
            return cast(T, done.value)
        finally:
            op.close()

    def _send(self, request: Request) -> Response:
        core = self._core
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    request.method,
                    core.url(request),
                    params=core.params(request),
                    json=request.json,
                    headers=core.headers(request),
                    timeout=core.request_timeout,
                )
            except httpx.TransportError as exc:
                if core.should_retry(exc, request.method, attempt):
                    time.sleep(core.retry_delay(attempt))
                    attempt += 1
                    continue
                raise core.connection_error(exc, request) from exc
            return core.handle(response)
