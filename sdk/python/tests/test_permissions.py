"""Permissions: the ``Permission`` names, listing the catalogue, effective and who-can."""

from __future__ import annotations

import pytest

from warden import EffectivePermissions, Holder, Permission, PermissionInfo, PermissionList, Warden

from .conftest import unique


def test_permission_names_map_to_keys() -> None:
    assert Permission.PROJECT_READ == "project:read"
    assert Permission.DATASET_CREATE == "dataset:create"
    assert Permission.TEST_RUN_EVALUATE == "test_run:evaluate"
    assert Permission.ROLE_BINDING_CREATE == "role_binding:create"
    assert Permission.SERVICE_KEY_REVOKE == "service_key:revoke"
    assert Permission.ADMIN__MANAGE_ROLES == "admin:manage_roles"
    assert Permission.key("dataset", "read") == "dataset:read"
    assert isinstance(Permission.TRACE_READ, str)


def test_bad_permission_names_are_refused() -> None:
    for name in ("READ", "project_read", "Project_Read", "PROJECT_"):
        with pytest.raises(AttributeError, match="RESOURCE_ACTION"):
            getattr(Permission, name)
    with pytest.raises(TypeError):
        Permission()


def test_list_the_org_permissions(client: Warden) -> None:
    permissions = client.organization().permissions.list()
    assert isinstance(permissions, PermissionList)
    keys = [p.key for p in permissions]
    # The org scope includes every project permission.
    assert "organization:update" in keys and "dataset:read" in keys
    first = permissions[0]
    assert isinstance(first, PermissionInfo)
    assert first.key == f"{first.resource}:{first.action}"
    assert first.scope in ("org", "project") and first.id and first.description
    assert len(permissions) == len(keys) == len(permissions.permissions)


def test_list_the_permissions_of_a_resource(client: Warden, project_id: str) -> None:
    dataset = client.project(project_id).permissions.list(resource="dataset")
    assert {p.key for p in dataset} == {
        "dataset:create",
        "dataset:read",
        "dataset:update",
        "dataset:delete",
        "dataset:evaluate",
    }
    project_keys = {p.key for p in client.project(project_id).permissions.list()}
    assert "organization:update" not in project_keys
    # Ids are derived from scope and key: the same in every project.
    other = client.projects.create(unique("other")).id
    other_ids = {p.key: p.id for p in client.project(other).permissions.list(resource="dataset")}
    assert {p.key: p.id for p in dataset} == other_ids


def test_effective_permissions(client: Warden, project_id: str) -> None:
    me = client.whoami()
    effective = client.organization().permissions.effective(me.principal)
    assert isinstance(effective, EffectivePermissions)
    assert effective.principal == me.principal
    assert effective.scope == "org"
    assert set(effective.permissions) == set(me.permissions)
    in_project = client.project(project_id).permissions.effective(me.principal)
    assert in_project.scope == "project" and in_project.project_id == project_id
    assert "dataset:update" in in_project.permissions


def test_who_can(client: Warden, project_id: str) -> None:
    me = client.whoami()
    holders = client.organization().permissions.who_can("role:create")
    assert me.principal in [h.principal for h in holders.principals]
    assert isinstance(holders[0], Holder)
    assert isinstance(holders.revision, int)
    keys_only = client.project(project_id).permissions.who_can(
        "dataset:update", principal_type="api_key"
    )
    assert [h.principal_type for h in keys_only] and all(
        h.principal_type == "api_key" for h in keys_only
    )
