"""Members at org and project scope. (Members that are users arriving by invitation, and
ownership transfer, are in test_invitations.py; teams as members in test_teams.py.)"""

from __future__ import annotations

import pytest

from warden import ConflictError, Member, MemberList, NotFoundError, Warden

from .conftest import OrgHandle, unique


def test_list_and_get(org: OrgHandle) -> None:
    members = org.client.organization().members
    listed = members.list()
    assert isinstance(listed, MemberList)
    me = org.client.whoami()
    principals = {m.principal: m for m in listed.members}
    owner_user = f"user:{org.owner_user_id}"
    assert set(principals) == {me.principal, owner_user}
    assert principals[owner_user].email == org.owner_email
    assert principals[owner_user].role_name == "Owner"

    got = members.get(owner_user)
    assert isinstance(got, Member)
    assert got.principal_type == "user" and got.principal_id == org.owner_user_id
    assert members.get(org.owner_user_id) == got, "a bare id is a user's"

    only_keys = members.list(principal_type="api_key")
    assert [m.principal for m in only_keys] == [me.principal]
    owners = members.list(role_id="Owner")
    assert {m.principal for m in owners} == {me.principal, owner_user}
    assert members.list(role_id="Member").members == []
    assert len(members.list(limit=1)) == 1


def test_update_role_and_remove(client: Warden) -> None:
    org = client.organization()
    key = org.api_keys.create(unique("ingest"), role_id="Member")
    principal = f"api_key:{key.id}"
    assert org.members.get(principal).role_name == "Member"

    annotator = org.roles.create("Annotator", permissions=["dataset:read", "dataset:update"])
    changed = org.members.update_role(principal, role_id=annotator.id)
    assert (changed.role_id, changed.role_name) == (annotator.id, "Annotator")
    by_name = org.members.update_role(principal, role_id="Admin")
    assert by_name.role_name == "Admin"
    by_object = org.members.update_role(org.members.get(principal), role_id=annotator)
    assert by_object.role_id == annotator.id

    removed = org.members.remove(principal)
    assert removed.principal == principal
    with pytest.raises(NotFoundError):
        org.members.get(principal)


def test_project_members(client: Warden, project_id: str) -> None:
    project = client.project(project_id)
    key = client.organization().api_keys.create(unique("worker"), role_id="Member")
    principal = f"api_key:{key.id}"
    added = project.members.add(principal, role_id="Manager")
    assert added.role_name == "Manager"
    assert principal in [m.principal for m in project.members.list()]
    assert project.members.get(principal).role_name == "Manager"
    assert project.members.update_role(principal, role_id="Member").role_name == "Member"
    assert project.members.remove(principal).principal == principal
    assert principal not in [m.principal for m in project.members.list()]


def test_the_last_owner_stays(org: OrgHandle) -> None:
    members = org.client.organization().members
    # The bootstrap key is an Owner too, but the last Owner who is a person stays.
    with pytest.raises(ConflictError) as caught:
        members.remove(f"user:{org.owner_user_id}")
    assert caught.value.code == "last_owner"
    with pytest.raises(ConflictError) as caught:
        members.update_role(f"user:{org.owner_user_id}", role_id="Member")
    assert caught.value.code == "last_owner"
    assert "person" in caught.value.message


def test_principals_must_be_strings(client: Warden) -> None:
    with pytest.raises(ValueError, match="principal"):
        client.organization().members.get("")
    with pytest.raises(ValueError, match="principal"):
        client.organization().members.get(client.roles.get("Owner"))
