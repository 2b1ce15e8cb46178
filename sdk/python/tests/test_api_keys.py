"""API keys at org and project scope, and the audit log."""

from __future__ import annotations

import datetime as dt

import pytest

from warden import (
    ApiKey,
    ApiKeyList,
    AuditEvent,
    AuditEventList,
    AuthenticationError,
    CreatedApiKey,
    NotFoundError,
    Warden,
)

from .conftest import WardenServer, unique


def test_org_api_keys(client: Warden, warden_server: WardenServer) -> None:
    keys = client.organization().api_keys
    created = keys.create("ingest", role_id="Member")
    assert isinstance(created, CreatedApiKey)
    assert created.secret.endswith(created.last_chars)
    assert created.secret not in repr(created), "repr() keeps the secret out of logs"
    assert f"secret='***{created.secret[-4:]}'" in repr(created)
    assert (created.name, created.role_name, created.valid, created.scope) == (
        "ingest",
        "Member",
        True,
        "org",
    )

    got = keys.get(created.id)
    assert isinstance(got, ApiKey) and not isinstance(got, CreatedApiKey)
    assert "secret" not in got.to_dict()
    listed = keys.list()
    assert isinstance(listed, ApiKeyList)
    assert created.id in [k.id for k in listed.api_keys]

    with Warden(api_key=created.secret, base_url=warden_server.base_url) as ingest:
        assert ingest.whoami().principal == f"api_key:{created.id}"
        assert keys.update(created.id, name="ingest v2").name == "ingest v2"
        invalid = keys.update(created, valid=False)
        assert invalid.valid is False
        with pytest.raises(AuthenticationError) as caught:
            ingest.whoami()
        assert "invalidated" in caught.value.message
        assert keys.update(created.id, valid=True, if_version=invalid.version).valid is True
        assert ingest.whoami().principal == f"api_key:{created.id}"

    deleted = keys.delete(created.id)
    assert deleted.deleted
    with pytest.raises(NotFoundError):
        keys.get(created.id)


def test_project_api_keys_with_expiry(client: Warden, project_id: str) -> None:
    keys = client.project(project_id).api_keys
    expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    created = keys.create(unique("tracer"), role_id="Member", expires_at=expires)
    assert created.scope == "project" and created.project_id == project_id
    assert created.expires_at is not None
    assert [k.id for k in keys.list()] == [created.id]
    assert keys.delete(created).deleted


def test_audit_events(client: Warden, project_id: str) -> None:
    org = client.organization()
    role = org.roles.create("Audited", permissions=["dataset:read"])
    events = org.audit_events.list()
    assert isinstance(events, AuditEventList)
    newest = events[0]
    assert isinstance(newest, AuditEvent)
    assert newest.action == "role.create" and newest.target == f"role:{role.id}"
    assert newest.before is None and newest.after["name"] == "Audited"
    assert newest.actor == client.whoami().principal
    assert events.audit_events == events.events

    creates = org.audit_events.list(action="role.create")
    assert {e.target for e in creates} == {f"role:{role.id}"}
    by_target = org.audit_events.list(target=f"role:{role.id}")
    assert len(by_target) == 1
    by_actor = org.audit_events.list(actor=newest.actor, limit=2)
    assert len(by_actor) == 2
    window = org.audit_events.list(since_revision=newest.revision, until_revision=newest.revision)
    assert [e.revision for e in window] == [newest.revision]

    client.project(project_id).policies.create("In project", permission_ids=["trace:read"])
    in_project = client.project(project_id).audit_events.list()
    assert [e.action for e in in_project][0] == "policy.create"
    assert all(e.project_id == project_id for e in in_project)
