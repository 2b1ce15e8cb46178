"""Roles at org and project scope, by id or by name, in both dialects."""

from __future__ import annotations

from typing import Union

import pytest

from warden import (
    ConflictError,
    NotFoundError,
    OrganizationScope,
    Permission,
    ProjectScope,
    Role,
    RoleList,
    Warden,
)

from .conftest import unique


@pytest.fixture(params=["org", "project"])
def scope(request: pytest.FixtureRequest, client: Warden) -> Union[OrganizationScope, ProjectScope]:
    if request.param == "org":
        return client.organization()
    return client.project(client.projects.create(unique("roles")).id)


def test_predefined_roles(scope: Union[OrganizationScope, ProjectScope]) -> None:
    predefined = scope.roles.list(is_predefined=True)
    assert isinstance(predefined, RoleList)
    names = {r.name for r in predefined.roles}
    expected = (
        {"Owner", "Admin", "Member"}
        if isinstance(scope, OrganizationScope)
        else {
            "Owner",
            "Manager",
            "Member",
        }
    )
    assert names == expected
    assert all(r.is_predefined for r in predefined)
    assert scope.roles.list(is_predefined=False).roles == []
    assert len(scope.roles.list()) == 3


def test_create_get_list_update_delete(scope: Union[OrganizationScope, ProjectScope]) -> None:
    reader = scope.policies.create("Reader", permission_ids=["dataset:read"])
    writer = scope.policies.create("Writer", permission_ids=["dataset:update"])
    role = scope.roles.create(
        "Data Scientist", policy_ids=[reader.id], description="Read/write datasets and prompts"
    )
    assert isinstance(role, Role)
    assert role.name == "Data Scientist" and role.is_predefined is False
    assert role.policy_ids == [reader.id]
    assert [(p.id, p.name) for p in role.policies] == [(reader.id, "Reader")]
    assert role.effective_permissions == ["dataset:read"]

    assert scope.roles.get(role.id) == role
    assert scope.roles.get("data scientist").id == role.id
    assert scope.roles.get(role_id=role.id).id == role.id
    assert scope.roles.get(role_id="Data Scientist").id == role.id
    assert role.id in [r.id for r in scope.roles.list(is_predefined=False)]

    updated = scope.roles.update(role.id, name="Data Scientist", policy_ids=[reader.id, writer])
    assert sorted(updated.policy_ids) == sorted([reader.id, writer.id])
    assert sorted(updated.effective_permissions) == ["dataset:read", "dataset:update"]
    inline = scope.roles.update(
        role_id="Data Scientist", permissions=[Permission.TRACE_READ], description="more"
    )
    assert inline.permissions == ["trace:read"]
    assert inline.description == "more"

    deleted = scope.roles.delete("Data Scientist")
    assert deleted.deleted and deleted.id == role.id
    with pytest.raises(NotFoundError):
        scope.roles.get(role.id)


def test_inline_permissions_in_the_arize_form(client: Warden) -> None:
    role = client.roles.create(
        name="AI Engineer",
        permissions=[Permission.PROJECT_READ, Permission.DATASET_READ, Permission.DATASET_CREATE],
        description="Can read projects and read/create datasets.",
    )
    assert sorted(role.permissions) == ["dataset:create", "dataset:read", "project:read"]
    assert client.roles.get(role_id=role.id).permissions == role.permissions
    renamed = client.roles.update(
        role_id=role.id,
        name="Updated Role Name",
        description="Updated description",
        permissions=[Permission.PROJECT_READ, Permission.DATASET_READ],
    )
    assert renamed.name == "Updated Role Name"
    assert sorted(renamed.permissions) == ["dataset:read", "project:read"]
    assert client.roles.delete(role_id=role.id).deleted


def test_a_name_that_matches_nothing_lists_the_available_names(client: Warden) -> None:
    client.roles.create("Annotator", permissions=["dataset:read"])
    for call in (
        lambda: client.roles.get("Reviewer"),
        lambda: client.roles.get(role_id="Reviewer"),
        lambda: client.roles.update("Reviewer", description="x"),
        lambda: client.roles.delete(role_id="Reviewer"),
    ):
        with pytest.raises(NotFoundError) as caught:
            call()
        error = caught.value
        assert error.status == 404 and error.code == "not_found"
        assert "Reviewer" in error.message
        assert error.details["available"] == ["Owner", "Admin", "Member", "Annotator"]
        for name in ("`Owner`", "`Admin`", "`Member`", "`Annotator`"):
            assert name in error.message


def test_the_role_is_given_once() -> None:
    client = Warden(api_key="k", base_url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="give the role"):
        client.roles.get()
    with pytest.raises(ValueError, match="not both"):
        client.roles.get("a", role_id="b")


def test_predefined_roles_cannot_change(client: Warden) -> None:
    with pytest.raises(ConflictError):
        client.roles.create("member", permissions=["dataset:read"])
    owner = client.roles.get("Owner")
    with pytest.raises(ConflictError):
        client.roles.update(owner.id, description="mine")
    with pytest.raises(ConflictError):
        client.roles.delete(owner.id)


def test_a_held_role_is_deleted_only_with_cascade(client: Warden) -> None:
    org = client.organization()
    role = org.roles.create("Held", permissions=["dataset:read"])
    key = org.api_keys.create(unique("holder"), role_id=role.id)
    with pytest.raises(ConflictError):
        org.roles.delete(role)
    deleted = org.roles.delete(role, cascade=True)
    assert deleted.memberships_removed == [f"api_key:{key.id}"]
