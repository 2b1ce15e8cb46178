"""Decisions: check, batch check, explain."""

from __future__ import annotations

import pytest

from warden import (
    BatchCheckResult,
    CheckResult,
    Explanation,
    PermissionDeniedError,
    Warden,
)

from .conftest import unique


@pytest.fixture
def annotator(client: Warden, project_id: str) -> str:
    """An org API key that holds, in the project, a role of one policy (dataset read and
    update), and only `organization:read` at org scope."""
    project = client.project(project_id)
    policy = project.policies.create("Annotate", permission_ids=["dataset:read", "dataset:update"])
    role = project.roles.create("Annotator", policy_ids=[policy.id])
    viewer = client.roles.create("Viewer", permissions=["organization:read"])
    key = client.organization().api_keys.create(unique("annotator"), role_id=viewer.id)
    project.members.update_role(f"api_key:{key.id}", role_id=role.id)
    return f"api_key:{key.id}"


def test_check(client: Warden, project_id: str, annotator: str) -> None:
    allowed = client.check(annotator, "dataset:update", project_id=project_id)
    assert isinstance(allowed, CheckResult)
    assert allowed.allowed is True and bool(allowed) is True
    assert allowed.revision > 0
    assert client.check(annotator, "dataset:update", project_id)  # positional project
    denied = client.check(annotator, "project:delete", project_id=project_id)
    assert denied.allowed is False and not denied
    # Without a project the question is asked in the caller's organization.
    assert not client.check(annotator, "organization:update")
    assert client.check(annotator, "organization:read", org_id=client.whoami().org.id)


def test_check_sees_a_write_with_min_revision(client: Warden, project_id: str) -> None:
    key = client.organization().api_keys.create(unique("late"), role_id="Member")
    member = client.project(project_id).members.update_role(f"api_key:{key.id}", role_id="Manager")
    assert member.write_revision is not None
    answer = client.check(
        f"api_key:{key.id}",
        "project_member:update",
        project_id=project_id,
        min_revision=member.write_revision,
    )
    assert answer.allowed and answer.revision >= member.write_revision


def test_check_batch(client: Warden, project_id: str, annotator: str) -> None:
    batch = client.check_batch(
        [
            (annotator, "dataset:read", project_id),
            {"principal": annotator, "permission": "trace:delete", "project_id": project_id},
            (annotator, "dataset:read", "01a20769-e62f-7735-8646-301df7857167"),
            {"principal": annotator, "permission": "organization:update"},
        ],
        min_revision=1,
    )
    assert isinstance(batch, BatchCheckResult)
    assert [r.allowed for r in batch] == [True, False, False, False]
    assert len(batch) == 4 and batch[0] and not batch[1]
    assert batch.results[2].error is not None and batch.results[2].error.code == "not_found"
    assert batch.revision > 0

    defaults = client.check_batch(
        [(annotator, "dataset:update"), (annotator, "golden:read")], project_id=project_id
    )
    assert [bool(r) for r in defaults] == [True, False]
    with pytest.raises(ValueError):
        client.check_batch([(annotator,)])
    with pytest.raises(ValueError):
        client.check_batch([{"principal": annotator}])


def test_explain(client: Warden, project_id: str, annotator: str) -> None:
    why = client.explain(annotator, "dataset:update", project_id=project_id)
    assert isinstance(why, Explanation)
    assert why.allowed and bool(why)
    assert why.scope == "project" and why.project_id == project_id
    [grant] = why.grants
    assert grant.membership_scope == "project"
    assert grant.role.name == "Annotator"
    assert grant.policy is not None and grant.policy.name == "Annotate"
    assert grant.via_team is None

    why_not = client.explain(annotator, "trace:delete", project_id)
    assert not why_not.allowed and why_not.grants == []
    assert why_not.reason is not None and why_not.reason.code == "not_in_role"
    assert {r.name for r in why_not.reason.roles} >= {"Annotator"}
    org_level = client.explain(annotator, "organization:read")
    assert org_level.scope == "org" and org_level.allowed


def test_deciding_needs_access_check(member_client: Warden, client: Warden) -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        member_client.check(client.whoami().principal, "dataset:read")
    assert "access:check" in caught.value.message
