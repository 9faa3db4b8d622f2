"""The requester is told of each decision (issue #36): a program's approval with a `requester` has no run thread,
so that person gets the outcome in a direct message from the bot (who, what, the reason), once."""

from __future__ import annotations

from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, BOB, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import nth_card, reject, until


async def test_a_programs_requester_gets_the_decision_in_a_direct_message(api: Worker, slack: SlackStandIn) -> None:
    made = await new_key(api)
    status, asked = await Client(api, made.key).ask(tool_ask())
    assert status == 201, asked
    card = await nth_card(slack, 1)
    await reject(slack, card, user=BOB, reason="Wrong <!channel> list")

    def told() -> list[dict[str, object]]:
        return [m for m in slack.messages(slack.dm_channel(ALICE)) if "Rejected" in str(m.get("text", ""))]

    (message,) = await until(told, what="the requester's direct message")
    shown = str(message["blocks"])
    assert f"*Rejected* by <@{BOB}>" in shown and "Wrong &lt;!channel&gt; list" in shown
    assert "Asked by `nightly` for you" in shown and "`send_email`" in shown
    assert f"<@{ALICE}>" not in str(message["text"])  # a DM: no mention of its own reader
    assert len(told()) == 1  # once per decision
