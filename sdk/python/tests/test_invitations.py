"""Invitations at org and project scope, accepting them, signing in, and what needs a
second user (ownership transfer, removing a user).

Kept apart so that it can be run on its own: `python -m pytest tests/test_invitations.py`.
"""

from __future__ import annotations

from typing import List

import httpx
import pytest

from warden import (
    AsyncWarden,
    AcceptedInvitation,
    AuthenticationError,
    ConflictError,
    Invitation,
    InvitationList,
    InvitationsCreated,
    IssuedInvitation,
    NotFoundError,
    SignIn,
    UnprocessableEntityError,
    Warden,
)

from .conftest import OrgHandle, WardenServer, readme_blocks, unique

PASSWORD = "a long passphrase"


def test_invite_list_get_resend_revoke(org: OrgHandle) -> None:
    invitations = org.client.organization().invitations
    grace, alan = unique("grace") + "@example.test", unique("alan") + "@example.test"
    created = invitations.create([grace, alan, grace.upper(), org.owner_email], role_id="Member")
    assert isinstance(created, InvitationsCreated)
    assert len(created) == 2
    assert [i.email for i in created] == [grace, alan]
    first = created.invitations[0]
    assert isinstance(first, IssuedInvitation)
    assert first.token.startswith("wdn_")
    assert first.token not in repr(first)
    assert (first.status, first.role_name, first.scope) == ("pending", "Member", "org")
    assert [(s.email, s.reason) for s in created.skipped] == [(org.owner_email, "already a member")]

    got = invitations.get(first.id)
    assert isinstance(got, Invitation) and not isinstance(got, IssuedInvitation)
    assert "token" not in got.to_dict()
    listed = invitations.list()
    assert isinstance(listed, InvitationList)
    assert {i.email for i in listed.invitations} == {grace, alan}
    assert len(invitations.list(status="pending")) == 2
    assert invitations.list(status="accepted").invitations == []

    again = invitations.create(grace, role_id="Member")
    assert again.invitations == [] and again.skipped[0].reason == "already invited"

    resent = invitations.resend(first.id)
    assert resent.id == first.id and resent.token != first.token
    revoked = invitations.revoke(first)
    assert revoked.status == "revoked"
    assert [i.email for i in invitations.list(status="revoked")] == [grace]


def test_the_owner_role_is_not_given_by_invitation(client: Warden) -> None:
    with pytest.raises(UnprocessableEntityError) as caught:
        client.organization().invitations.create(["o@example.test"], role_id="Owner")
    assert caught.value.code == "owner_by_invitation"


def test_accept_and_sign_in(org: OrgHandle, warden_server: WardenServer) -> None:
    email = unique("grace") + "@example.test"
    [invitation] = org.client.organization().invitations.create([email], role_id="Admin")

    with Warden(base_url=warden_server.base_url, api_key="") as anonymous:
        accepted = anonymous.accept_invitation(
            invitation.token, name="Grace Hopper", password=PASSWORD
        )
        assert isinstance(accepted, AcceptedInvitation)
        assert (accepted.user.email, accepted.user.name) == (email, "Grace Hopper")
        assert (accepted.scope, accepted.org_id, accepted.project_id) == ("org", org.org_id, None)
        assert accepted.role.name == "Admin"
        with pytest.raises(ConflictError):
            anonymous.accept_invitation(invitation.token, name="Grace", password=PASSWORD)

        signed_in = anonymous.sign_in(email, PASSWORD)
        assert isinstance(signed_in, SignIn)
        assert signed_in.user_id == accepted.user.id and signed_in.org_id == org.org_id
        assert signed_in.secret.endswith(signed_in.api_key.last_chars)
        with pytest.raises(AuthenticationError):
            anonymous.sign_in(email, "not the passphrase")

    with Warden(api_key=signed_in.secret, base_url=warden_server.base_url) as grace:
        me = grace.whoami()
        assert me.principal == f"user:{accepted.user.id}"
        assert "role:create" in me.permissions

    status = org.client.organization().invitations.get(invitation.id).status
    assert status == "accepted"
    member = org.client.organization().members.get(f"user:{accepted.user.id}")
    assert member.role_name == "Admin" and member.email == email


def test_accept_through_a_scope(org: OrgHandle) -> None:
    invitations = org.client.organization().invitations
    [invitation] = invitations.create([unique("ada") + "@example.test"], role_id="Member")
    accepted = invitations.accept(invitation.token, name="Ada", password=PASSWORD)
    assert accepted.role.name == "Member"
    with pytest.raises(NotFoundError):
        invitations.accept("wdn_not_a_token", name="Ada", password=PASSWORD)


def test_project_invitations(org: OrgHandle) -> None:
    project_id = org.client.projects.create(unique("Chatbot")).id
    invitations = org.client.project(project_id).invitations
    email = unique("linus") + "@example.test"
    [invitation] = invitations.create([email], role_id="Manager")
    assert (invitation.scope, invitation.project_id) == ("project", project_id)
    assert [i.id for i in invitations.list()] == [invitation.id]
    assert invitations.get(invitation.id).role_name == "Manager"
    resent = invitations.resend(invitation.id)
    accepted = org.client.accept_invitation(resent.token, name="Linus", password=PASSWORD)
    assert (accepted.scope, accepted.project_id) == ("project", project_id)
    assert accepted.role.name == "Manager"
    assert org.client.project(project_id).members.get(accepted.user.id).role_name == "Manager"
    [other] = invitations.create([unique("ken") + "@example.test"], role_id="Member")
    assert invitations.revoke(other.id).status == "revoked"


def test_accepting_may_hand_out_a_personal_key() -> None:
    """A server that answers accept with a personal key: the secret is reachable."""
    answer = {
        "user": {"id": "u", "email": "g@example.test", "name": "Grace"},
        "scope": "org",
        "org_id": "o",
        "project_id": None,
        "role": {"id": "r", "name": "Member"},
        "api_key": {
            "id": "k",
            "name": "personal key",
            "last_chars": "abcdef",
            "secret": "wdn_xabcdef",
        },
    }
    seen: List[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=answer)

    client = Warden(
        api_key="owner-key",
        base_url="http://warden.test",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    accepted = client.accept_invitation("wdn_token", name="Grace", password=PASSWORD)
    assert accepted.api_key is not None and accepted.api_key.id == "k"
    assert accepted.secret == "wdn_xabcdef"
    assert "authorization" not in seen[0].headers, "accepting is public: no key is sent"
    top = dict(answer, api_key={"id": "k", "name": "personal key"}, secret="wdn_top")
    assert AcceptedInvitation(top).secret == "wdn_top"
    assert AcceptedInvitation({k: v for k, v in answer.items() if k != "api_key"}).secret is None


def invited_user(client: Warden, name: str) -> str:
    """A user of the organization, arrived by invitation; returns its id."""
    [invitation] = client.organization().invitations.create(
        [unique(name) + "@example.test"], role_id="Member"
    )
    return client.accept_invitation(invitation.token, name=name, password=PASSWORD).user.id


def test_removing_a_user_removes_it_from_the_projects(client: Warden) -> None:
    leaver = invited_user(client, "leaver")
    project = client.project(client.projects.create(unique("Chatbot")).id)
    project.members.update_role(leaver, role_id="Manager")
    removed = client.organization().members.remove(leaver)
    assert removed.principal == f"user:{leaver}"
    assert f"user:{leaver}" not in [m.principal for m in project.members.list()]


def test_transfer_ownership(client: Warden) -> None:
    heir = invited_user(client, "heir")
    project = client.project(client.projects.create(unique("Chatbot")).id)
    project.members.update_role(heir, role_id="Member")

    moved = project.members.transfer_ownership(heir)
    assert moved.principal == f"user:{heir}" and moved.role_name == "Owner"

    moved = client.organization().members.transfer_ownership(f"user:{heir}")
    assert moved.role_name == "Owner"
    me = client.whoami()
    assert me.role is not None and me.role.name == "Admin", "the caller is demoted to Admin"


def test_readme_invitations_example(env_client: OrgHandle) -> None:
    namespace: dict = {"unique": unique}
    blocks = readme_blocks("invitations")
    assert blocks, "the README has an invitations example"
    for block in blocks:
        exec(compile(block, "README.md (invitations)", "exec"), namespace)


@pytest.mark.anyio
async def test_async_invitations(org: OrgHandle, warden_server: WardenServer) -> None:
    async with AsyncWarden(api_key=org.api_key, base_url=warden_server.base_url) as client:
        invitations = client.organization().invitations
        email = unique("grace") + "@example.test"
        created = await invitations.create([email], role_id="Member")
        [invitation] = created.invitations
        assert (await invitations.get(invitation.id)).email == email
        assert [i.id async for i in invitations.list(status="pending")] == [invitation.id]
        assert len(await invitations.list()) == 1
        resent = await invitations.resend(invitation.id)
        accepted = await client.accept_invitation(resent.token, name="Grace", password=PASSWORD)
        assert accepted.user.email == email
        signed_in = await client.sign_in(email, PASSWORD, org_id=org.org_id, name="laptop")
        assert signed_in.api_key.name == "laptop"

        [other] = await invitations.create([unique("alan") + "@example.test"], role_id="Member")
        assert (await invitations.revoke(other.id)).status == "revoked"

        project = client.project((await client.projects.create(unique("Chatbot"))).id)
        [in_project] = await project.invitations.create(
            [unique("ada") + "@example.test"], role_id="Manager"
        )
        joined = await project.invitations.accept(in_project.token, name="Ada", password=PASSWORD)
        assert joined.scope == "project" and joined.role.name == "Manager"

        heir = accepted.user.id
        await project.members.update_role(heir, role_id="Member")
        assert (await project.members.transfer_ownership(heir)).role_name == "Owner"
        assert (await client.organization().members.transfer_ownership(heir)).role_name == "Owner"
