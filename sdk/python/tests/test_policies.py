"""Policies at org and project scope."""

from __future__ import annotations

from typing import Union

import pytest

from warden import (
    ConflictError,
    Deleted,
    NotFoundError,
    OrganizationScope,
    Policy,
    PolicyList,
    PreconditionFailedError,
    ProjectScope,
    Warden,
)

from .conftest import unique


@pytest.fixture(params=["org", "project"])
def scope(request: pytest.FixtureRequest, client: Warden) -> Union[OrganizationScope, ProjectScope]:
    if request.param == "org":
        return client.organization()
    return client.project(client.projects.create(unique("policies")).id)


def test_create_get_list_update_delete(scope: Union[OrganizationScope, ProjectScope]) -> None:
    dataset = {p.key: p.id for p in scope.permissions.list(resource="dataset")}
    policy = scope.policies.create(
        "Dataset Editor",
        permission_ids=[dataset["dataset:read"], dataset["dataset:update"]],
        description="Can edit datasets",
    )
    assert isinstance(policy, Policy)
    assert policy.name == "Dataset Editor"
    assert policy.description == "Can edit datasets"
    assert sorted(policy.permissions) == ["dataset:read", "dataset:update"]
    assert sorted(policy.permission_ids) == sorted(
        [dataset["dataset:read"], dataset["dataset:update"]]
    )
    assert policy.is_predefined is False
    assert policy.write_revision is not None

    assert scope.policies.get(policy.id) == policy
    assert scope.policies.get("dataset editor").id == policy.id, "by name, any case"
    assert scope.policies.get(policy).id == policy.id, "by object"

    listed = scope.policies.list()
    assert isinstance(listed, PolicyList)
    assert policy.id in [p.id for p in listed.policies]
    assert policy.id in [p.id for p in scope.policies.list(is_predefined=False)]
    assert policy.id not in [p.id for p in scope.policies.list(is_predefined=True)]

    updated = scope.policies.update(
        policy.id, name="Dataset Curator", permission_ids=["dataset:read"]
    )
    assert updated.name == "Dataset Curator"
    assert updated.permissions == ["dataset:read"], "the list is replaced wholly"
    assert updated.description == "Can edit datasets", "what is not given is kept"
    assert updated.version == policy.version + 1
    described = scope.policies.update("Dataset Curator", description="reads datasets")
    assert described.description == "reads datasets"

    deleted = scope.policies.delete(policy.id)
    assert isinstance(deleted, Deleted)
    assert deleted.deleted and deleted.id == policy.id and deleted.revision > 0
    with pytest.raises(NotFoundError):
        scope.policies.get(policy.id)


def test_a_name_that_matches_nothing_lists_the_names(client: Warden) -> None:
    org = client.organization()
    org.policies.create("Readers", permission_ids=["dataset:read"])
    with pytest.raises(NotFoundError) as caught:
        org.policies.get("Writers")
    assert caught.value.status == 404
    assert "`Readers`" in caught.value.message
    assert "Readers" in caught.value.details["available"]
    with pytest.raises(NotFoundError):
        org.policies.delete("Writers")


def test_stale_versions_are_refused(client: Warden) -> None:
    org = client.organization()
    policy = org.policies.create("Versioned", permission_ids=["trace:read"])
    org.policies.update(policy.id, description="first", if_version=policy.version)
    with pytest.raises(PreconditionFailedError) as caught:
        org.policies.update(policy.id, description="second", if_version=policy.version)
    assert caught.value.status == 412
    assert isinstance(caught.value, ConflictError)


def test_a_used_policy_is_deleted_only_with_cascade(client: Warden) -> None:
    org = client.organization()
    policy = org.policies.create("Used", permission_ids=["trace:read"])
    role = org.roles.create("User of Used", policy_ids=[policy.id])
    with pytest.raises(ConflictError) as caught:
        org.policies.delete(policy.id)
    assert caught.value.status == 409
    assert "User of Used" in caught.value.message
    deleted = org.policies.delete(policy.id, cascade=True)
    assert deleted.roles_changed == [role.id]
    assert org.roles.get(role.id).policy_ids == []
