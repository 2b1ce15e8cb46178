"""The Python example of the repository's README (section "Python SDK") runs as written.

The README's shell examples run in crates/cli/tests/readme.rs.
"""

from __future__ import annotations

import pytest

from warden import Warden

from .conftest import ROOT_README, OrgHandle, readme_blocks


def test_root_readme_python_example(env_client: OrgHandle, capsys: pytest.CaptureFixture) -> None:
    blocks = readme_blocks("main", ROOT_README)
    assert len(blocks) == 1, f"{ROOT_README} has one ```python block, found {len(blocks)}"
    namespace: dict = {"__name__": "readme"}
    exec(compile(blocks[0], f"{ROOT_README.name} (python block)", "exec"), namespace)

    # It prints the predefined org roles, one per line: id, name, True.
    lines = capsys.readouterr().out.splitlines()
    printed = [line.split(" ", 2) for line in lines]
    assert [name for _, name, _ in printed] == ["Owner", "Admin", "Member"], lines
    assert all(flag == "True" for _, _, flag in printed), lines

    # What it created is there, as the README says.
    client: Warden = env_client.client
    roles = {role.name: role for role in client.roles.list()}
    reviewer = roles["Data Reviewer"]
    assert reviewer.description == "Reads and evaluates datasets"
    assert [p.name for p in client.organization().policies.list(is_predefined=False)] == [
        "Dataset Reviewer"
    ]
    assert set(reviewer.effective_permissions) == {"dataset:read", "dataset:evaluate"}
    assert set(roles["AI Engineer"].effective_permissions) == {"project:read", "dataset:read"}
