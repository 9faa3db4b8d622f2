"""The MCP gateway's `tools/list` by policy, and its refusals' structured denials (#91.3), as an agent's MCP client
meets them: the official `mcp` client SDK starts the gateway (stdio) in front of the test upstream, and the gateway
asks a real worker whose Cedar bundle forbids `list_inbox` outright and decides `send_email` by its recipient
(`WAYS_IN`). A forbidden tool is not listed (one AuthZEN batch per list); one a person decides is marked in its
`_meta`; `--list-all` lists everything; a refusal carries SEP-2643's envelope beside its text."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_approvals.mcp_gateway.forwarding import DENIAL_META
from agent_approvals.mcp_gateway.listing import APPROVAL_META

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, StartPolicyWorker
from tests.support.api import new_key
from tests.support.hitl import audit_events
from tests.support.mcp_gateway import EMAIL, over_stdio, text
from tests.support.policies import WAYS_IN

pytestmark = pytest.mark.slow  # the gateway and its upstream as processes

NO_INBOX = '''
@id("no-inbox")
@reason("the inbox is private")
forbid (principal, action == Action::"list_inbox", resource);
'''
BUNDLE = {"ways.cedar": WAYS_IN, "inbox.cedar": NO_INBOX}
RIVAL = {**EMAIL, "to": "eve@rival.com"}


async def test_a_forbidden_tool_is_hidden_and_one_a_person_decides_is_marked(
        policy_worker: StartPolicyWorker, slack: SlackStandIn, tmp_path: Path) -> None:
    worker = await policy_worker(BUNDLE)
    key = (await new_key(worker, "emailer")).key
    async with over_stdio(worker, key, tmp_path) as gw:
        listed = (await gw.session.list_tools()).tools
        assert [tool.name for tool in listed] == ["send_email"], listed
        assert (listed[0].meta or {})[APPROVAL_META]["required"] is True, listed[0]
        again = (await gw.session.list_tools()).tools  # kept briefly: the bot is not asked again
        assert [tool.name for tool in again] == ["send_email"]
        # listing is not a gate: the hidden tool called anyway is refused by the policy, with a structured denial
        inbox = await gw.session.call_tool("list_inbox", {"limit": 2})
        assert inbox.is_error and "the inbox is private" in text(inbox), text(inbox)
        assert (inbox.meta or {})[DENIAL_META] == {"reason": "insufficient_authorization", "remediation": "unavailable"}
        assert gw.calls("list_inbox") == []
        rival = await gw.session.call_tool("send_email", dict(RIVAL))
        assert rival.is_error and "we never email a competitor" in text(rival)
        envelope = (rival.meta or {})[DENIAL_META]
        assert envelope["remediation"] == "unavailable" and envelope["authorizationContextId"].startswith("a-")
        assert gw.calls("send_email") == []
    evaluated = await audit_events(worker, "authzen_evaluated")
    assert sorted((e["tool"], e["decision"]) for e in evaluated) == [("list_inbox", "false"), ("send_email", "false")]
    assert slack.messages(APPROVALS) == []  # listing opened nothing


async def test_list_all_lists_every_tool_as_before(
        policy_worker: StartPolicyWorker, slack: SlackStandIn, tmp_path: Path) -> None:
    worker = await policy_worker(BUNDLE)
    key = (await new_key(worker, "emailer")).key
    async with over_stdio(worker, key, tmp_path, "--list-all") as gw:
        listed = (await gw.session.list_tools()).tools
        assert sorted(tool.name for tool in listed) == ["list_inbox", "send_email"]
        assert all(APPROVAL_META not in (tool.meta or {}) for tool in listed)
    assert await audit_events(worker, "authzen_evaluated") == []


async def test_a_bot_that_cannot_answer_lists_everything_with_a_warning(
        policy_worker: StartPolicyWorker, slack: SlackStandIn, tmp_path: Path) -> None:
    """Listing is not a gate: when the bot cannot say which tools a policy forbids, every tool is listed (and a warning
    logged); a call is still decided when it is made."""
    worker = await policy_worker(BUNDLE)
    key = (await new_key(worker, "emailer")).key
    async with over_stdio(worker, key, tmp_path) as gw:
        await worker.stop()  # (the gateway started while the bot answered)
        listed = (await gw.session.list_tools()).tools
        assert sorted(tool.name for tool in listed) == ["list_inbox", "send_email"]
        assert "listing every tool of mailbox: the bot did not say which a policy forbids" in gw.logged()
