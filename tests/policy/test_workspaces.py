"""Policies see the workspace (issue 65): `context.team` and `context.enterprise`, so "refunds from the EU workspace
go to EU finance" is one policy (the operators' policies page's example, read from the page). Through a real worker
(its API, real Redis) and `python -m bot policy test`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import DevChannel, DevTeam
from bot.devslack.server import SlackStandIn
from tests.conftest import CAROL
from tests.support.api import Client, new_key
from tests.support.policies import StartPolicyWorker, policy_cli, refund, write_bundle

PAGE = Path(__file__).resolve().parents[2] / "docs" / "operators" / "policies.md"
EU_FINANCE = re.search(r"<!-- example: workspaces/eu.cedar -->\n```cedar[^\n]*\n(.*?)\n```", PAGE.read_text(), re.S)[1]  # type: ignore[index]

CASES = '''
- name: a refund from the EU workspace goes to EU finance
  agent: support-bot
  action: refund
  args: {amount_cents: 2000}
  team: T0EU
  expect: ask
  ids: [eu-refunds-to-eu-finance]
- name: from any workspace of the EU organisation too
  agent: support-bot
  action: refund
  team: T0PARIS
  enterprise: E0EU
  expect: ask
- name: the home workspace's are left to the channel
  agent: support-bot
  action: refund
  expect: none
'''


async def test_refunds_from_the_eu_workspace_go_to_eu_finance(
    policy_worker: StartPolicyWorker, slack: SlackStandIn, tmp_path: Path
) -> None:
    # the app is installed in the EU workspace too (SLACK_WORKSPACES_FILE): its asks are served there
    slack.add_team(DevTeam(id="T0EU", name="EU", domain="eu"), token="xoxb-eu-workspace")
    slack.add_channel(DevChannel(id="C9EUSUPPORT", name="eu-support", team_id="T0EU"))
    listed = tmp_path / "workspaces.json"
    listed.write_text(json.dumps([{"team": "T0EU", "bot_token": "xoxb-eu-workspace"}]))
    worker = await policy_worker({"eu.cedar": EU_FINANCE}, SLACK_WORKSPACES_FILE=str(listed))
    store = worker.services.store
    eu = await store.api_keys.create("eu-support", ("C9EUSUPPORT",), by="test", workspace=WorkspaceRef("T0EU"))
    assert eu is not None
    home = await new_key(worker, "support-bot")
    status, from_eu = await Client(worker, eu.key).ask(refund(2000))
    assert status == 201, from_eu
    status, from_home = await Client(worker, home.key).ask(refund(2000))
    assert status == 201, from_home
    routed = await store.for_tenant("T0EU", home="T0DEV").approvals.get(from_eu["id"])  # kept in its workspace
    assert routed is not None and routed.approvers == (CAROL,), routed
    assert routed.policy_reason == "refunds from the EU workspace go to EU finance"
    left = await store.approvals.get(from_home["id"])
    assert left is not None and left.approvers == () and "eu-refunds" not in left.policy, left


async def test_policy_test_takes_a_cases_workspace(tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "bundle", {"eu.cedar": EU_FINANCE})
    (tmp_path / "cases.yaml").write_text(CASES)
    ran = await policy_cli("test", str(tmp_path / "cases.yaml"), "--dir", str(folder))
    assert ran.returncode == 0, (ran.stdout, ran.stderr)
    assert "3 cases: 3 ok, 0 mismatched" in ran.stdout, ran.stdout
