"""Teams (org only): by id or key, their users, and teams as members.

Kept apart so that it can be run on its own: `python -m pytest tests/test_teams.py`.
"""

from __future__ import annotations

import pytest

from warden import (
    AsyncWarden,
    ConflictError,
    Deleted,
    NotFoundError,
    Team,
    TeamList,
    TeamUser,
    TeamUserAdded,
    TeamUserList,
    Warden,
)

from .conftest import OrgHandle, WardenServer, readme_blocks, unique


def test_create_get_list_update_delete(client: Warden) -> None:
    teams = client.organization().teams
    team = teams.create("Annotators", description="They annotate")
    assert isinstance(team, Team)
    assert (team.name, team.key, team.description, team.user_count) == (
        "Annotators",
        "annotators",
        "They annotate",
        0,
    )
    assert team.write_revision is not None
    keyed = teams.create("Data Team", key="data")
    assert keyed.key == "data"

    assert teams.get(team.id) == team
    assert teams.get("annotators") == team, "by key"
    assert teams.get(team).id == team.id, "by object"
    listed = teams.list()
    assert isinstance(listed, TeamList)
    assert [t.name for t in listed.teams] == ["Annotators", "Data Team"]
    assert len(teams.list(limit=1)) == 1

    updated = teams.update("annotators", name="Labellers", key="labellers", if_version=team.version)
    assert (updated.name, updated.key) == ("Labellers", "labellers")
    assert teams.update(updated.id, description="They label").description == "They label"

    deleted = teams.delete("labellers")
    assert isinstance(deleted, Deleted) and deleted.id == team.id
    with pytest.raises(NotFoundError):
        teams.get(team.id)
    assert teams.delete(keyed).deleted


def test_duplicate_team_names_conflict(client: Warden) -> None:
    client.organization().teams.create("Ops")
    with pytest.raises(ConflictError):
        client.organization().teams.create("ops")


def test_team_users(org: OrgHandle) -> None:
    teams = org.client.organization().teams
    team = teams.create(unique("Reviewers"))
    added = teams.add_user(team.key, org.owner_user_id)
    assert isinstance(added, TeamUserAdded)
    assert added.changed is True and added.team.user_count == 1
    assert added.user.id == org.owner_user_id and added.user.email == org.owner_email
    again = teams.add_user(team.id, f"user:{org.owner_user_id}")
    assert again.changed is False, "adding twice changes nothing"

    users = teams.list_users(team.key)
    assert isinstance(users, TeamUserList)
    [user] = users.users
    assert isinstance(user, TeamUser)
    assert (user.id, user.email) == (org.owner_user_id, org.owner_email)
    assert teams.get(team.id).user_count == 1

    removed = teams.remove_user(team.key, org.owner_user_id)
    assert removed.deleted
    assert teams.list_users(team.id).users == []
    with pytest.raises(NotFoundError):
        teams.add_user(team.id, "0190f2a4-8c1e-7a3b-9d2f-4b6c8e0a1f3d")


def test_a_team_holds_a_role(org: OrgHandle) -> None:
    client = org.client
    project_id = client.projects.create(unique("Chatbot")).id
    team = client.organization().teams.create(unique("Annotators"))
    project = client.project(project_id)
    member = project.members.update_role(f"team:{team.id}", role_id="Member")
    assert member.principal_type == "team" and member.name == team.name
    client.organization().teams.add_user(team.id, org.owner_user_id)

    why = client.explain(f"user:{org.owner_user_id}", "dataset:read", project_id=project_id)
    assert why.allowed
    assert team.id in [g.via_team for g in why.grants]
    holders = project.permissions.who_can("dataset:read", principal_type="user")
    owner = next(h for h in holders if h.principal == f"user:{org.owner_user_id}")
    assert team.id in owner.via_teams

    deleted = client.organization().teams.delete(team.id)
    assert deleted.deleted
    assert f"team:{team.id}" not in [m.principal for m in project.members.list()]


def test_readme_teams_example(env_client: OrgHandle) -> None:
    namespace: dict = {"OWNER_USER_ID": env_client.owner_user_id}
    blocks = readme_blocks("teams")
    assert blocks, "the README has a teams example"
    for block in blocks:
        exec(compile(block, "README.md (teams)", "exec"), namespace)


@pytest.mark.anyio
async def test_async_teams(org: OrgHandle, warden_server: WardenServer) -> None:
    async with AsyncWarden(api_key=org.api_key, base_url=warden_server.base_url) as client:
        teams = client.organization().teams
        team = await teams.create("Annotators", key="annotators", description="d")
        assert (await teams.get("annotators")).id == team.id
        assert [t.key async for t in teams.list()] == ["annotators"]
        assert len(await teams.list()) == 1
        assert (await teams.update(team.id, name="Labellers")).name == "Labellers"
        added = await teams.add_user(team.id, org.owner_user_id)
        assert added.changed and added.team.user_count == 1
        assert [u.id async for u in teams.list_users("annotators")] == [org.owner_user_id]
        assert (await teams.list_users(team.id)).users[0].email == org.owner_email
        assert (await teams.remove_user(team.id, org.owner_user_id)).deleted
        assert (await teams.delete(team.id)).deleted
