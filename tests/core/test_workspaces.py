"""A workspace's tenant: the organisation for an Enterprise Grid workspace, else the team."""

from __future__ import annotations

from bot.core.workspaces import WorkspaceRef


def test_a_grid_workspace_is_its_organisation_and_a_plain_one_itself() -> None:
    assert WorkspaceRef("T1", "E1").tenant == "E1"
    assert WorkspaceRef("T2").tenant == "T2"
    assert WorkspaceRef("T1", "E1") != WorkspaceRef("T3", "E1")
