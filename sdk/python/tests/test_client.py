"""The client itself: settings, the caller, scopes, projects and result objects."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

import warden
from warden import (
    Me,
    NotFoundError,
    Organization,
    OrganizationScope,
    Project,
    ProjectScope,
    Role,
    Warden,
    WardenObject,
)

from .conftest import DEFAULT_BINARY, OrgHandle, WardenServer, unique, warden_binary


def test_key_and_url_fall_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_API_KEY", "wdn_from_env")
    monkeypatch.setenv("WARDEN_BASE_URL", "http://127.0.0.1:9999/")
    client = Warden()
    assert client.api_key == "wdn_from_env"
    assert client.base_url == "http://127.0.0.1:9999"
    explicit = Warden(api_key="wdn_given", base_url="http://localhost:1", timeout=3)
    assert explicit.api_key == "wdn_given"
    assert explicit.base_url == "http://localhost:1"
    assert explicit.timeout == 3
    assert explicit.max_retries == 2


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDEN_API_KEY", raising=False)
    monkeypatch.delenv("WARDEN_BASE_URL", raising=False)
    client = Warden()
    assert client.api_key is None
    assert client.base_url == "http://127.0.0.1:8080"
    assert client.timeout == 30.0
    assert repr(client) == "Warden(base_url='http://127.0.0.1:8080')"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="http://"):
        Warden(api_key="k", base_url="127.0.0.1:8080")
    with pytest.raises(ValueError, match="max_retries"):
        Warden(api_key="k", max_retries=-1)


def test_timeouts_reach_the_requests() -> None:
    seen: list = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={"status": "ok", "revision": 1, "database": "ok"})

    given = Warden(
        api_key="k", timeout=3, http_client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    given.health()
    own = Warden(
        api_key="k",
        http_client=httpx.Client(transport=httpx.MockTransport(handler), timeout=7),
    )
    own.health()
    assert [t["read"] for t in seen] == [3, 7]
    assert Warden(api_key="k")._http.timeout.read == 30.0


def test_scopes_are_made_without_a_network_call() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected request {request.url}")

    client = Warden(api_key="k", http_client=httpx.Client(transport=httpx.MockTransport(refuse)))
    assert isinstance(client.organization(), OrganizationScope)
    project = client.project("0190f2a4-8c1e-7a3b-9d2f-4b6c8e0a1f3d")
    assert isinstance(project, ProjectScope)
    assert project.id == "0190f2a4-8c1e-7a3b-9d2f-4b6c8e0a1f3d"
    assert client.roles is client.organization().roles
    assert client.projects is client.organization().projects
    for empty in ("", "   "):
        with pytest.raises(ValueError, match="project_id"):
            client.project(empty)


def test_whoami(org: OrgHandle) -> None:
    me = org.client.whoami()
    assert isinstance(me, Me)
    assert me.org.id == org.org_id
    assert me.scope == "org"
    assert me.role is not None and me.role.name == "Owner"
    assert me.principal.startswith("api_key:")
    assert me.api_key.id == me.principal.split(":", 1)[1]
    assert "role:create" in me.permissions
    assert me.revision >= 1


def test_whoami_in_a_project(client: Warden, project_id: str) -> None:
    me = client.whoami(project_id=project_id)
    assert me.scope == "project"
    assert me.project_id == project_id
    assert "dataset:read" in me.permissions


def test_health(client: Warden) -> None:
    health = client.health()
    assert health.status == "ok"
    assert isinstance(health.revision, int)


def test_the_organization(org: OrgHandle) -> None:
    got = org.client.organization().get()
    assert isinstance(got, Organization)
    assert got.id == org.org_id
    assert repr(org.client.organization()) == "OrganizationScope()"


def test_the_org_id_can_be_given(org: OrgHandle, warden_server: WardenServer) -> None:
    requests = []
    client = Warden(
        api_key=org.api_key,
        base_url=warden_server.base_url,
        org_id=org.org_id,
        http_client=httpx.Client(event_hooks={"request": [requests.append]}),
    )
    client.organization().roles.list().to_list()
    assert [r.url.path for r in requests] == [f"/v1/orgs/{org.org_id}/roles"]


def test_the_org_id_is_asked_once(org: OrgHandle, warden_server: WardenServer) -> None:
    requests = []
    with Warden(
        api_key=org.api_key,
        base_url=warden_server.base_url,
        http_client=httpx.Client(event_hooks={"request": [requests.append]}),
    ) as client:
        client.organization().roles.list().to_list()
        client.organization().policies.list().to_list()
    assert [r.url.path for r in requests].count("/v1/me") == 1


def test_projects(client: Warden) -> None:
    name = unique("Chatbot")
    project = client.projects.create(name, description="the chatbot")
    assert isinstance(project, Project)
    assert (project.name, project.description, project.restricted) == (name, "the chatbot", False)
    assert project.write_revision is not None and project.write_revision > 0

    assert client.projects.get(project.id) == project
    assert project.id in [p.id for p in client.projects.list().projects]
    assert client.organization().projects.list(limit=1).to_list()

    changed = client.projects.update(project.id, restricted=True, if_version=project.version)
    assert changed.restricted is True
    renamed = client.projects.update(project, name=name + " 2")
    assert renamed.name == name + " 2"

    deleted = client.projects.delete(project.id)
    assert deleted.deleted and deleted.id == project.id
    with pytest.raises(NotFoundError):
        client.projects.get(project.id)


def test_a_project_scope(client: Warden) -> None:
    made = client.projects.create(unique("Scoped"))
    project = client.project(made.id)
    assert repr(project) == f"ProjectScope(id={made.id!r})"
    assert client.project(made).id == made.id
    assert project.get().id == made.id
    assert project.update(description="described").description == "described"
    assert project.delete().deleted
    with pytest.raises(NotFoundError):
        project.get()


def test_objects_are_read_only_and_convert(client: Warden) -> None:
    role = client.roles.get("Owner")
    assert isinstance(role, Role) and isinstance(role, WardenObject)
    data = role.to_dict()
    assert data["name"] == "Owner" and data["is_predefined"] is True
    data["name"] = "changed"
    assert role.to_dict()["name"] == "Owner", "to_dict() is a copy"
    assert json.loads(role.to_json()) == role.to_dict()
    assert json.loads(role.to_json(indent=2)) == role.to_dict()
    with pytest.raises(AttributeError):
        role.name = "other"
    with pytest.raises(AttributeError):
        role.no_such_field
    assert "Role(id=" in repr(role) and "items]" in repr(role)
    assert role == client.roles.get(role.id)
    assert len({role, client.roles.get(role.id)}) == 1


def test_fields_a_newer_server_adds_are_kept() -> None:
    role = Role({"id": "r", "name": "n", "colour": "blue"})
    assert role.colour == "blue"
    assert role.to_dict()["colour"] == "blue"
    # Declared fields the server left out read as None, lists as empty.
    assert role.description is None
    assert role.policies == [] and role.permissions == []


def test_a_missing_binary_says_how_to_build_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WARDEN_BIN", str(tmp_path / "no-such-warden"))
    with pytest.raises(pytest.fail.Exception) as caught:
        warden_binary()
    message = str(caught.value)
    assert "cargo build -p warden" in message and "WARDEN_BIN" in message
    if DEFAULT_BINARY.resolve().is_file():
        monkeypatch.delenv("WARDEN_BIN")
        assert warden_binary() == DEFAULT_BINARY.resolve()


def test_version() -> None:
    assert warden.__version__ == "0.1.0"
