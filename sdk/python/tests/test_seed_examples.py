"""The seed documents' examples, as written there, with only names and ids changed.

Seed 000 is Confident AI's "Roles, Policies & Permissions" page; seed 001 is Arize's roles
page. The client comes from the environment (WARDEN_API_KEY, WARDEN_BASE_URL), as theirs
does. Their print() calls are kept; their output is checked where it says something.
"""

from __future__ import annotations

import ast

import pytest

from .conftest import OrgHandle, unique


def test_confident_ai_permissions(env_client: OrgHandle, capsys: pytest.CaptureFixture) -> None:
    project_id = env_client.client.projects.create(unique("Chatbot")).id

    # fmt: off
    # --- as in the seed (`from confidentai import ConfidentAI`, `ConfidentAI()`) ---
    from warden import Warden

    client = Warden()

    org = client.organization()
    project = client.project(project_id)

    permissions = org.permissions.list()
    project_permissions = project.permissions.list()
    # --- end ---
    # fmt: on

    assert "dataset:read" in [p.key for p in permissions]
    assert "dataset:read" in [p.key for p in project_permissions]


def test_confident_ai_policies(env_client: OrgHandle) -> None:
    from warden import Warden

    client = Warden()
    project_id = client.projects.create(unique("Chatbot")).id
    ids = {p.key: p.id for p in client.organization().permissions.list(resource="dataset")}
    read, update, delete = ids["dataset:read"], ids["dataset:update"], ids["dataset:delete"]

    # fmt: off
    # --- as in the seed, the ids changed ---
    org = client.organization()
    project = client.project(project_id)

    # List
    policies = org.policies.list()
    project_policies = project.policies.list()

    # Create
    policy = org.policies.create(
        "Dataset Editor",
        permission_ids=[read, update],
        description="Can edit datasets",
    )

    # Update
    policy = org.policies.update(
        policy.id,
        name="Dataset Editor",
        permission_ids=[read, update, delete],
    )

    # Delete
    org.policies.delete(policy.id)
    # --- end ---
    # fmt: on

    assert len(policies) == 0 and len(project_policies) == 0
    assert sorted(policy.permission_ids) == sorted([read, update, delete])
    assert policy.description == "Can edit datasets"
    assert org.policies.list().policies == []


def test_confident_ai_roles(env_client: OrgHandle) -> None:
    from warden import Warden

    client = Warden()
    project_id = client.projects.create(unique("Chatbot")).id
    editor = client.organization().policies.create(
        "Dataset Editor", permission_ids=["dataset:update"]
    )
    prompts = client.organization().policies.create(
        "Prompt Editor", permission_ids=["prompt:update"]
    )

    # fmt: off
    # --- as in the seed, the ids changed ---
    org = client.organization()
    project = client.project(project_id)

    # List
    roles = org.roles.list()
    project_roles = project.roles.list()

    # Create
    role = org.roles.create(
        "Data Scientist",
        policy_ids=[editor.id],
        description="Read/write datasets and prompts",
    )

    # Update
    role = org.roles.update(
        role.id,
        name="Data Scientist",
        policy_ids=[editor.id, prompts.id],
    )

    # Delete
    org.roles.delete(role.id)
    # --- end ---
    # fmt: on

    assert {r.name for r in roles} == {"Owner", "Admin", "Member"}
    assert {r.name for r in project_roles} == {"Owner", "Manager", "Member"}
    assert sorted(role.policy_ids) == sorted([editor.id, prompts.id])
    assert role.description == "Read/write datasets and prompts"
    assert "Data Scientist" not in [r.name for r in org.roles.list()]


def test_confident_ai_project_scoped_policies_and_roles(env_client: OrgHandle) -> None:
    """ "Project-scoped policies [and roles] use the same list, create, update, and delete
    operations as organization-scoped" ones."""
    from warden import Warden

    client = Warden()
    project = client.project(client.projects.create(unique("Chatbot")).id)
    policy = project.policies.create(
        "Annotator", permission_ids=["dataset:read", "dataset:update"], description="Annotates"
    )
    policy = project.policies.update(policy.id, name="Annotator", permission_ids=["dataset:read"])
    role = project.roles.create("Annotator", policy_ids=[policy.id], description="Annotates")
    role = project.roles.update(role.id, name="Annotator", policy_ids=[policy.id])
    assert role.scope == "project" and role.effective_permissions == ["dataset:read"]
    project.roles.delete(role.id)
    project.policies.delete(policy.id)
    assert project.roles.list(is_predefined=False).roles == []


def test_arize_roles(env_client: OrgHandle, capsys: pytest.CaptureFixture) -> None:
    from warden import Warden

    client = Warden()

    # fmt: off
    # --- as in the seed ---
    # List all roles
    resp = client.roles.list()

    for role in resp.roles:
        print(role.id, role.name, role.is_predefined)

    # List only predefined (system) roles
    resp = client.roles.list(is_predefined=True)

    # List only custom roles
    resp = client.roles.list(is_predefined=False)
    # --- end ---
    # fmt: on

    printed = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 1)[1] for line in printed] == [
        "Owner True",
        "Admin True",
        "Member True",
    ]
    assert resp.roles == []

    # fmt: off
    # --- as in the seed (`from arize._generated.api_client.models import Permission`) ---
    from warden import Permission

    role = client.roles.create(
        name="AI Engineer",
        permissions=[
            Permission.PROJECT_READ,
            Permission.DATASET_READ,
            Permission.DATASET_CREATE,
        ],
        description="Can read projects and read/create datasets.",  # optional
    )

    print(role.id, role.name)
    # --- end ---
    # fmt: on

    assert capsys.readouterr().out == f"{role.id} AI Engineer\n"
    role_id = role.id

    # fmt: off
    # --- as in the seed, "your-role-id" changed ---
    role = client.roles.get(role_id=role_id)

    print(role.id, role.name)
    print(role.permissions)
    print(role.is_predefined)
    # --- end ---
    # fmt: on

    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{role_id} AI Engineer"
    assert sorted(ast.literal_eval(out[1])) == ["dataset:create", "dataset:read", "project:read"]
    assert out[2] == "False"

    # fmt: off
    # --- as in the seed, "your-role-id" changed ---
    role = client.roles.update(
        role_id=role_id,
        name="Updated Role Name",           # optional
        description="Updated description",  # optional
        permissions=[                        # optional — fully replaces existing permissions
            Permission.PROJECT_READ,
            Permission.DATASET_READ,
        ],
    )

    print(role.id, role.name)
    # --- end ---
    # fmt: on

    assert capsys.readouterr().out == f"{role_id} Updated Role Name\n"
    assert sorted(role.permissions) == ["dataset:read", "project:read"]

    # fmt: off
    # --- as in the seed ---
    client.roles.delete(role_id=role_id)
    # --- end ---
    # fmt: on

    assert client.roles.list(is_predefined=False).roles == []


def test_arize_response_objects(env_client: OrgHandle) -> None:
    """Arize's response objects convert to dict, JSON and a DataFrame."""
    from warden import Warden

    client = Warden()
    resp = client.roles.list(is_predefined=True)
    assert [r["name"] for r in resp.to_dict()["roles"]] == ["Owner", "Admin", "Member"]
    assert '"roles"' in resp.to_json()
    role = resp.roles[0]
    assert role.to_dict()["id"] == role.id
    assert len(resp.to_df()) == 3
