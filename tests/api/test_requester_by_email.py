"""A program names its requester by email (Claude Code's AGENT_APPROVALS_REQUESTER, any ask): the bot asks Slack
who has it (`users.lookupByEmail`, the local stand-in's people are name@example.com) and stores their user id; an
email nobody has is a 400 naming the field, and nothing is stored. Real worker, real Redis, the stand-in."""

from __future__ import annotations

from bot.devslack.server import SlackStandIn
from tests.conftest import CAROL, Worker, block_texts, card_of
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import nth_card


async def test_a_requester_named_by_email_is_the_slack_user_who_has_it(api: Worker, slack: SlackStandIn) -> None:
    client = Client(api, (await new_key(api)).key)
    status, refused = await client.ask(tool_ask(requester="nobody@example.com"))
    assert status == 400 and refused["error"]["field"] == "requester", refused
    assert await api.services.store.runs.live() == [] and card_of(slack) == []  # nothing stored, nothing posted
    status, asked = await client.ask(tool_ask(requester="Carol@Example.com"))
    assert status == 201, asked
    record = await api.services.store.approvals.get(asked["id"])
    assert record is not None and record.requester == CAROL
    assert f"<@{CAROL}>" in block_texts(await nth_card(slack, 1)) and len(card_of(slack)) == 1
    assert [c.args.get("email") for c in slack.calls("users.lookupByEmail")] == ["nobody@example.com",
                                                                                 "carol@example.com"]
    status, again = await client.ask(tool_ask(requester="not an email"))
    assert status == 400 and again["error"]["field"] == "requester", again
