"""Lists across pages: lazily fetched, with len(), the plural name and conversions."""

from __future__ import annotations

import json
import sys
from typing import Iterator, List

import httpx
import pytest

from warden import Policy, PolicyList, Warden

from .conftest import OrgHandle, WardenServer

COUNT = 105  # more than the largest page the server gives (100)


@pytest.fixture(scope="module")
def many_policies(warden_server: WardenServer) -> Iterator[OrgHandle]:
    """An organization with COUNT custom policies, made once for this module."""
    name = "org-many-policies"
    key = warden_server.bootstrap(name, f"{name}@example.test")
    with Warden(api_key=key, base_url=warden_server.base_url) as client:
        org = client.organization()
        for n in range(COUNT):
            org.policies.create(f"Policy {n:03}", permission_ids=["dataset:read"])
        yield OrgHandle(key, client, client.whoami().org.id, "", "")


@pytest.fixture
def counted(many_policies: OrgHandle, warden_server: WardenServer) -> Iterator[tuple]:
    """A client of that organization, and the list of the requests it sends."""
    requests: List[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [requests.append]})
    with Warden(
        api_key=many_policies.api_key,
        base_url=warden_server.base_url,
        org_id=many_policies.org_id,
        http_client=http,
    ) as client:
        yield client, requests
    http.close()


def pages(requests: List[httpx.Request]) -> List[dict]:
    return [dict(r.url.params) for r in requests if r.url.path.endswith("/policies")]


def test_iterating_fetches_every_page(counted: tuple) -> None:
    client, requests = counted
    policies = client.organization().policies.list()
    assert isinstance(policies, PolicyList)
    assert requests == [], "nothing is fetched before it is used"
    names = [p.name for p in policies]
    assert len(names) == COUNT and len(set(names)) == COUNT
    assert all(isinstance(p, Policy) for p in policies)
    fetched = pages(requests)
    assert len(fetched) == 2
    assert fetched[0] == {"limit": "100"}
    assert fetched[1]["limit"] == "100" and fetched[1]["cursor"]
    # Pages already fetched are kept.
    assert len(list(policies)) == COUNT
    assert len(pages(requests)) == 2


def test_iteration_is_lazy(counted: tuple) -> None:
    client, requests = counted
    iterator = iter(client.organization().policies.list(page_size=10))
    first = [next(iterator) for _ in range(10)]
    assert len(first) == 10
    assert len(pages(requests)) == 1
    next(iterator)
    assert len(pages(requests)) == 2


def test_small_pages(counted: tuple) -> None:
    client, requests = counted
    policies = client.organization().policies.list(page_size=7)
    assert len(policies) == COUNT
    assert len(pages(requests)) == 15  # ceil(105 / 7)


def test_len_plural_name_and_indexing(counted: tuple) -> None:
    client, requests = counted
    policies = client.organization().policies.list(is_predefined=False)
    assert policies[0].name == "Policy 000"
    assert len(pages(requests)) == 1, "an early index needs only the first page"
    assert policies[101].name == "Policy 101"
    assert len(pages(requests)) == 2
    assert len(policies) == COUNT
    assert len(policies.policies) == COUNT
    assert policies.items == policies.policies == policies.to_list()
    assert policies[-1].name == f"Policy {COUNT - 1:03}"
    assert [p.name for p in policies[2:4]] == ["Policy 002", "Policy 003"]
    assert bool(policies) and policies.fully_fetched
    assert repr(policies) == f"PolicyList({COUNT} items)"


def test_limit(counted: tuple) -> None:
    client, requests = counted
    first_three = client.organization().policies.list(limit=3)
    assert [p.name for p in first_three] == ["Policy 000", "Policy 001", "Policy 002"]
    assert len(first_three) == 3
    assert pages(requests) == [{"limit": "3"}]
    across = client.organization().policies.list(limit=102)
    assert len(across) == 102
    assert pages(requests)[-1]["limit"] == "2"
    assert list(client.organization().policies.list(limit=0)) == []
    with pytest.raises(ValueError):
        client.organization().policies.list(limit=-1)


def test_empty_list(client: Warden) -> None:
    empty = client.organization().policies.list()
    assert not empty
    assert len(empty) == 0 and empty.policies == []
    assert empty.to_dict() == {"policies": []}


def test_to_dict_and_to_json(counted: tuple) -> None:
    client, _ = counted
    policies = client.organization().policies.list()
    data = policies.to_dict()
    assert list(data) == ["policies"]
    assert len(data["policies"]) == COUNT
    assert data["policies"][0]["name"] == "Policy 000"
    assert json.loads(policies.to_json()) == data
    assert json.loads(policies.to_json(indent=2)) == data


def test_to_df(counted: tuple) -> None:
    pandas = pytest.importorskip("pandas")
    client, _ = counted
    df = client.organization().policies.list().to_df()
    assert isinstance(df, pandas.DataFrame)
    assert len(df) == COUNT
    assert {"id", "name", "permissions", "is_predefined"} <= set(df.columns)
    assert df["name"].iloc[0] == "Policy 000"
    roles = client.roles.list(is_predefined=True).to_df()
    assert sorted(roles["name"]) == ["Admin", "Member", "Owner"]


def test_to_df_without_pandas(client: Warden, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(ImportError, match=r"pip install 'warden\[pandas\]'"):
        client.roles.list().to_df()


def test_every_list_paginates(client: Warden) -> None:
    # The org scope has about a hundred permissions: pages of 10 cross several pages.
    permissions = client.organization().permissions.list(page_size=10)
    keys = [p.key for p in permissions]
    assert len(keys) > 30 and len(set(keys)) == len(keys)
    assert len(permissions.permissions) == len(keys)
