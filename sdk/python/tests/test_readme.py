"""The README's examples run as written (the teams and invitations examples run in
test_teams.py and test_invitations.py)."""

from __future__ import annotations

import pytest

from .conftest import OrgHandle, readme_blocks


def test_readme_examples(env_client: OrgHandle, capsys: pytest.CaptureFixture) -> None:
    blocks = readme_blocks("main")
    assert len(blocks) >= 8
    namespace: dict = {"__name__": "readme"}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"README.md (python block {number})", "exec"), namespace)
    out = capsys.readouterr().out
    assert "Data Scientist" in out
    assert "no role named `Reviewer`" in out
    assert "422 unknown_permissions ['dataset:fly']" in out
    assert "lacks the permission `role:create`" in out
    assert "allowed" in out
