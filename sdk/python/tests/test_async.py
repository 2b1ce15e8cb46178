"""AsyncWarden: the same surface as Warden, with coroutines and async iteration.

(The async teams and invitations calls are tested in test_teams.py and test_invitations.py,
beside the sync ones.)
"""

from __future__ import annotations

import inspect
from typing import List

import httpx
import pytest

import warden
from warden import (
    APIConnectionError,
    AsyncListResult,
    AsyncWarden,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    Permission,
    Policy,
    PolicyList,
    RateLimitError,
    RoleList,
    UnprocessableEntityError,
)

from .conftest import OrgHandle, WardenServer, unique

pytestmark = pytest.mark.anyio

PAIRS = [
    (warden.Warden, warden.AsyncWarden),
    (warden.OrganizationScope, warden.AsyncOrganizationScope),
    (warden.ProjectScope, warden.AsyncProjectScope),
    (warden.Permissions, warden.AsyncPermissions),
    (warden.Policies, warden.AsyncPolicies),
    (warden.Roles, warden.AsyncRoles),
    (warden.Members, warden.AsyncMembers),
    (warden.Invitations, warden.AsyncInvitations),
    (warden.ApiKeys, warden.AsyncApiKeys),
    (warden.AuditEvents, warden.AsyncAuditEvents),
    (warden.Teams, warden.AsyncTeams),
    (warden.Projects, warden.AsyncProjects),
]


@pytest.mark.parametrize("sync_cls, async_cls", PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_the_same_surface(sync_cls: type, async_cls: type) -> None:
    def public(cls: type) -> dict:
        return {
            name: member
            for name, member in inspect.getmembers(cls)
            if not name.startswith("_") and (callable(member) or isinstance(member, property))
        }

    sync_members, async_members = public(sync_cls), public(async_cls)
    extra_async = {"aclose"} if async_cls is AsyncWarden else set()
    assert set(async_members) - extra_async == set(sync_members)
    for name, member in sync_members.items():
        twin = async_members[name]
        if isinstance(member, property):
            assert isinstance(twin, property), name
            continue
        sync_params = list(inspect.signature(member).parameters.values())
        async_params = list(inspect.signature(twin).parameters.values())
        assert [(p.name, p.kind, p.default) for p in sync_params] == [
            (p.name, p.kind, p.default) for p in async_params
        ], f"{sync_cls.__name__}.{name}"
        if name == "list" or name in ("who_can", "list_users"):
            assert not inspect.iscoroutinefunction(twin), "lists are iterated, not awaited"
        elif name in ("organization", "project"):
            assert not inspect.iscoroutinefunction(twin), "scopes need no network call"
        else:
            assert inspect.iscoroutinefunction(twin), f"{async_cls.__name__}.{name}"


@pytest.fixture
async def aclient(org: OrgHandle, warden_server: WardenServer):  # type: ignore[no-untyped-def]
    async with AsyncWarden(api_key=org.api_key, base_url=warden_server.base_url) as client:
        yield client


async def test_environment_and_settings(
    org: OrgHandle, warden_server: WardenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDEN_API_KEY", org.api_key)
    monkeypatch.setenv("WARDEN_BASE_URL", warden_server.base_url)
    client = AsyncWarden()
    assert (client.api_key, client.base_url) == (org.api_key, warden_server.base_url)
    assert (client.timeout, client.max_retries) == (30.0, 2)
    assert repr(client) == f"AsyncWarden(base_url={warden_server.base_url!r})"
    me = await client.whoami()
    assert me.org.id == org.org_id
    await client.close()
    with pytest.raises(ValueError):
        client.project("")


async def test_the_caller_and_the_organization(aclient: AsyncWarden, org: OrgHandle) -> None:
    assert (await aclient.health()).status == "ok"
    assert (await aclient.organization().get()).id == org.org_id
    project = await aclient.projects.create(unique("Chatbot"))
    assert (await aclient.whoami(project_id=project.id)).scope == "project"


async def test_lists_iterate_and_await(aclient: AsyncWarden) -> None:
    roles = aclient.roles.list(is_predefined=True)
    assert isinstance(roles, AsyncListResult)
    names = [role.name async for role in roles]
    assert names == ["Owner", "Admin", "Member"]
    collected = await aclient.roles.list()
    assert isinstance(collected, RoleList)
    assert len(collected) == 3 and [r.name for r in collected.roles] == names
    assert len(await aclient.roles.list().collect()) == 3
    assert [r.name for r in await aclient.roles.list().to_list()] == names
    assert [r.name async for r in aclient.roles.list(limit=2)] == ["Owner", "Admin"]
    assert len(await aclient.roles.list(limit=1)) == 1
    assert [r async for r in aclient.roles.list(limit=0)] == []
    with pytest.raises(ValueError):
        aclient.roles.list(limit=-1)


async def test_pagination_across_pages(aclient: AsyncWarden) -> None:
    org = aclient.organization()
    for n in range(12):
        await org.policies.create(f"Policy {n:02}", permission_ids=["dataset:read"])
    names = [p.name async for p in org.policies.list(page_size=5)]
    assert names == [f"Policy {n:02}" for n in range(12)]
    everything = await org.policies.list(page_size=5)
    assert isinstance(everything, PolicyList) and len(everything.policies) == 12
    assert isinstance(everything[0], Policy)
    assert everything.to_dict()["policies"][11]["name"] == "Policy 11"
    assert len(everything.to_df()) == 12


async def test_permissions(aclient: AsyncWarden) -> None:
    project = aclient.project((await aclient.projects.create(unique("P"))).id)
    keys = [p.key async for p in project.permissions.list(resource="dataset")]
    assert "dataset:read" in keys
    org_keys = await aclient.organization().permissions.list()
    assert "organization:update" in [p.key for p in org_keys.permissions]
    me = await aclient.whoami()
    effective = await project.permissions.effective(me.principal)
    assert "dataset:update" in effective.permissions
    holders = await aclient.organization().permissions.who_can("role:create")
    assert me.principal in [h.principal for h in holders.principals]


async def test_policies_and_roles(aclient: AsyncWarden) -> None:
    for scope in (
        aclient.organization(),
        aclient.project((await aclient.projects.create(unique("P"))).id),
    ):
        policy = await scope.policies.create(
            "Dataset Editor", permission_ids=["dataset:read"], description="Can edit datasets"
        )
        assert (await scope.policies.get("dataset editor")).id == policy.id
        policy = await scope.policies.update(
            policy.id, name="Dataset Editor", permission_ids=["dataset:read", "dataset:update"]
        )
        assert sorted(policy.permissions) == ["dataset:read", "dataset:update"]
        role = await scope.roles.create(
            "Data Scientist", policy_ids=[policy.id], description="Read/write datasets"
        )
        assert (await scope.roles.get(role_id="Data Scientist")).id == role.id
        assert (await scope.roles.get(role.id)).policy_ids == [policy.id]
        role = await scope.roles.update(
            role.id, name="Scientist", permissions=[Permission.TRACE_READ]
        )
        assert role.name == "Scientist" and role.permissions == ["trace:read"]
        with pytest.raises(ConflictError):
            await scope.policies.delete(policy.id)
        assert (await scope.policies.delete(policy.id, cascade=True)).roles_changed == [role.id]
        assert (await scope.roles.delete(role_id="Scientist")).deleted
        with pytest.raises(NotFoundError) as caught:
            await scope.roles.get("Scientist")
        assert "Owner" in caught.value.details["available"]


async def test_the_arize_dialect(aclient: AsyncWarden) -> None:
    resp = await aclient.roles.list(is_predefined=True)
    assert [role.is_predefined for role in resp.roles] == [True, True, True]
    role = await aclient.roles.create(
        name="AI Engineer",
        permissions=[Permission.PROJECT_READ, Permission.DATASET_READ, Permission.DATASET_CREATE],
        description="Can read projects and read/create datasets.",
    )
    role = await aclient.roles.update(
        role_id=role.id, name="Updated Role Name", permissions=[Permission.PROJECT_READ]
    )
    assert role.permissions == ["project:read"]
    await aclient.roles.delete(role_id=role.id)
    assert (await aclient.roles.list(is_predefined=False)).roles == []


async def test_members_api_keys_and_audit(aclient: AsyncWarden, org: OrgHandle) -> None:
    scope = aclient.organization()
    key = await scope.api_keys.create(unique("ingest"), role_id="Member")
    principal = f"api_key:{key.id}"
    assert (await scope.api_keys.get(key.id)).name == key.name
    assert key.id in [k.id async for k in scope.api_keys.list()]
    assert (await scope.api_keys.update(key.id, name="renamed")).name == "renamed"

    assert (await scope.members.get(principal)).role_name == "Member"
    assert (await scope.members.update_role(principal, role_id="Admin")).role_name == "Admin"
    assert (await scope.members.add(principal, role_id="Member")).role_name == "Member"
    owners = await scope.members.list(role_id="Owner")
    assert f"user:{org.owner_user_id}" in [m.principal for m in owners.members]
    assert (await scope.members.remove(principal)).principal == principal

    events = [e async for e in scope.audit_events.list(action="member.remove", limit=5)]
    assert events and events[0].target == principal
    assert (await scope.api_keys.delete(key.id)).deleted

    project = aclient.project((await aclient.projects.create(unique("P"))).id)
    project_key = await project.api_keys.create(unique("tracer"), role_id="Member")
    assert (await project.members.get(f"api_key:{project_key.id}")).role_name == "Member"
    assert len(await project.audit_events.list()) >= 1


async def test_projects(aclient: AsyncWarden) -> None:
    made = await aclient.projects.create(unique("P"), description="d", restricted=True)
    assert made.restricted
    assert (await aclient.projects.get(made.id)).id == made.id
    assert made.id in [p.id async for p in aclient.projects.list()]
    assert (await aclient.projects.update(made.id, restricted=False)).restricted is False
    scope = aclient.project(made.id)
    assert repr(scope) == f"AsyncProjectScope(id={made.id!r})"
    assert (await scope.get()).name == made.name
    assert (await scope.update(name=made.name + "!")).name == made.name + "!"
    assert (await scope.delete()).deleted
    other = await aclient.projects.create(unique("Q"))
    assert (await aclient.projects.delete(other.id)).deleted


async def test_decisions(aclient: AsyncWarden) -> None:
    me = await aclient.whoami()
    project = await aclient.projects.create(unique("P"))
    assert (await aclient.check(me.principal, "dataset:read", project_id=project.id)).allowed
    assert await aclient.check(me.principal, "organization:update")
    batch = await aclient.check_batch(
        [
            (me.principal, "dataset:read"),
            (me.principal, "dataset:read", "0190f2a4-8c1e-7a3b-9d2f-4b6c8e0a1f3d"),
        ],
        project_id=project.id,
    )
    assert [r.allowed for r in batch] == [True, False]
    why = await aclient.explain(me.principal, "dataset:read", project.id)
    assert why.allowed and why.grants[0].role.name == "Owner"


async def test_errors(aclient: AsyncWarden, warden_server: WardenServer) -> None:
    with pytest.raises(UnprocessableEntityError):
        await aclient.organization().policies.create("Fly", permission_ids=["dataset:fly"])
    key = await aclient.organization().api_keys.create(unique("member"), role_id="Member")
    async with AsyncWarden(api_key=key.secret, base_url=warden_server.base_url) as member:
        with pytest.raises(PermissionDeniedError):
            await member.roles.create("Nope", permissions=["dataset:read"])


async def test_retries_and_mapping_with_a_fake_server() -> None:
    calls: List[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) <= 2:
            raise httpx.ConnectError("refused")
        return httpx.Response(
            429,
            json={"error": {"code": "rate_limited", "message": "slow", "details": {}}},
            headers={"Retry-After": "2"},
        )

    client = AsyncWarden(
        api_key="k",
        base_url="http://warden.test",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    client._core.retry_base_delay = 0.001
    with pytest.raises(RateLimitError) as caught:
        await client.whoami()
    assert caught.value.retry_after == 2.0
    assert len(calls) == 3, "two connection failures retried, the 429 not"

    calls.clear()
    refusing = AsyncWarden(
        api_key="k",
        base_url="http://warden.test",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    with pytest.raises(APIConnectionError):
        await refusing.whoami()
    assert len(calls) == 1
    await refusing.aclose()
