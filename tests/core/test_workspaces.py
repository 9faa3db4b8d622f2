"""A workspace's tenant: the organisation for an Enterprise Grid workspace of an org-wide install, else the team (a
plain workspace, or a Grid workspace the app is installed in alone)."""

from __future__ import annotations

from bot.core.key_records import ApiKey
from bot.core.records import RunRecord, workspace_of
from bot.core.workspaces import WorkspaceRef


def test_a_grid_workspace_is_its_organisation_and_a_plain_one_itself() -> None:
    assert WorkspaceRef("T1", "E1").tenant == "E1"
    assert WorkspaceRef("T2").tenant == "T2"
    assert WorkspaceRef("T1", "E1") != WorkspaceRef("T3", "E1")


def test_a_grid_workspace_installed_alone_is_its_own_tenant() -> None:
    alone = WorkspaceRef("T1", "E1", org_wide=False)
    assert alone.tenant == "T1" and WorkspaceRef("T1", "E1", org_wide=True).tenant == "E1"
    assert alone == WorkspaceRef("T1", "E1")  # the same workspace: how it is installed is no part of who it is
    assert WorkspaceRef("T1", "E1").installed(org_wide=False).tenant == "T1"
    assert WorkspaceRef("T2").installed(org_wide=True).org_wide is False  # a plain workspace is never org-wide


def test_a_record_written_before_records_carried_a_workspace_reads_as_the_home_one() -> None:
    home = WorkspaceRef("T0HOME")
    old = RunRecord.from_redis({"id": "rabcdefg", "requester": "U1", "channel": "C1", "task": "t"})
    assert old.team == "" and workspace_of(old.team, old.enterprise, home=home) == home
    new = RunRecord.from_redis({**old.to_redis(), "team": "T0B", "enterprise": "E0ORG"})
    assert workspace_of(new.team, new.enterprise, home=home) == WorkspaceRef("T0B", "E0ORG")
    key = ApiKey.from_fields({"name": "k", "channels": "C1", "webhook_secret": "s"}, digest="ab" * 32)
    assert key is not None and (key.team, key.enterprise) == ("", "")
    bound = ApiKey.from_fields({**key.to_fields(), "team": "T0B"}, digest="ab" * 32)
    assert bound is not None and bound.team == "T0B"


def test_an_organisation_named_whole_includes_its_workspaces_and_a_workspace_only_itself() -> None:
    org = WorkspaceRef("E1", "E1")  # an org-wide install's uninstall names the organisation whole
    assert org.whole_organisation and org.includes(WorkspaceRef("T1", "E1")) and org.includes(WorkspaceRef("T2", "E1"))
    assert not org.includes(WorkspaceRef("T3", "E2")) and not org.includes(WorkspaceRef("T3"))
    one = WorkspaceRef("T1", "E1")
    assert not one.whole_organisation and one.includes(one) and not one.includes(WorkspaceRef("T2", "E1"))
