"""Hidden values (#68) in Slackbot's calls (#69): a write whose arguments hold a card number is asked for with the
number hidden. Slackbot's status blocks, the card, every Slack call, the direct message and the result kept (and
fetched with `approval_result`) never carry it, even when the upstream's answer repeats it; the upstream receives it
whole (the approval's `use` gives the program, here the Slackbot endpoint, the full arguments).

Real parts: redis-server, the worker's HTTP server and Bolt app over signed HTTP, a real MCP server process as the
upstream; Slack is the local stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.sensitive import Hidden
from bot.devslack.server import SlackStandIn
from bot.slackapp.slackbot_tools import replaced, secrets_of
from tests.conftest import ALICE, BOB, SALES, bot_env, start_worker
from tests.support.hitl import click, nth_card, until
from tests.support.slackbot import assert_slackbot_blocks, post, slackbot_env, tool_call

pytestmark = pytest.mark.slow  # the upstream MCP server is a process of its own

CARD = "4111 1111 1111 1111"
FORMS = (CARD, CARD.replace(" ", ""))


def carries_card(text: str) -> bool:
    return any(form in text for form in FORMS)


async def test_a_card_number_reaches_the_upstream_whole_and_never_slack(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    record = tmp_path / "calls.jsonl"
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, **slackbot_env(record)))
    slack.events_url = worker.url + "/slack/events"
    try:
        assert await worker.services.store.api_keys.create("slackbot", [SALES], by="operator") is not None
        status, said = await post(worker.url, tool_call("pay", {"card": CARD, "amount": 12}, user=ALICE))
        assert status == 200, said
        assert_slackbot_blocks(said["result"]["_meta"]["slack"]["blocks"])
        assert not carries_card(json.dumps(said)), said
        approval_id = json.loads(said["result"]["_meta"]["slack"]["blocks"][-1]["elements"][0]["value"])["approval_id"]
        card = await nth_card(slack, 1)
        assert not carries_card(json.dumps(card)) and "1111" in json.dumps(card)  # shown as its last digits
        await click(slack, card, "approval_approve", user=BOB)
        dm = slack.dm_channel(ALICE)
        told = await until(lambda: next((str(m.get("text")) for m in slack.messages(dm) if "paid 12" in
                                         str(m.get("text"))), None), what="the requester's DM")
        assert not carries_card(told), told
        ran = [json.loads(line) for line in record.read_text().splitlines()]
        assert [call["arguments"] for call in ran if call["tool"] == "pay"] == [{"card": CARD, "amount": 12}]
        status, fetched = await post(worker.url, tool_call("approval_result", {"approval_id": approval_id},
                                                           user=ALICE, ident=2))
        assert status == 200 and "paid 12" in json.dumps(fetched) and not carries_card(json.dumps(fetched))
        kept = await worker.services.store.slackbot.result(approval_id)
        assert kept is not None and not carries_card(json.dumps(kept))
        assert not carries_card(json.dumps([c.args for c in slack.calls()], default=str))
    finally:
        await worker.stop()


async def test_without_kept_values_the_call_never_runs_with_what_is_shown(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """Without SECRETS_KEY a hidden value is not kept: the approved call is not run with `•••• 1111` in its place."""
    record = tmp_path / "calls.jsonl"
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, SECRETS_KEY="",
                                        **slackbot_env(record)))
    slack.events_url = worker.url + "/slack/events"
    try:
        assert await worker.services.store.api_keys.create("slackbot", [SALES], by="operator") is not None
        status, said = await post(worker.url, tool_call("pay", {"card": CARD, "amount": 12}, user=ALICE))
        assert status == 200, said
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        dm = slack.dm_channel(ALICE)
        told = await until(lambda: next((str(m.get("text")) for m in slack.messages(dm) if "Not run" in
                                         str(m.get("text"))), None), what="the requester's DM")
        assert "hidden values are not kept" in told and not carries_card(told)
        ran = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
        assert [call for call in ran if call["tool"] == "pay"] == []
    finally:
        await worker.stop()


def test_a_hidden_value_the_detectors_cannot_see_is_hidden_in_the_answer_by_its_place() -> None:
    """A value hidden by the tool's schema or `redact:` (a PIN, no detector finds it) is known by where it is in the
    arguments: the upstream's answer that repeats it shows it as the card does; a short one is left alone."""
    arguments = {"account": {"pin": "884213", "code": "42"}, "note": "send 4111 1111 1111 1111 now"}
    hidden = (Hidden(("account", "pin"), "password field", "••••••", "schema"),
              Hidden(("account", "code"), "password field", "••", "schema"),
              Hidden(("note",), "card", "•••• 1111", "detector", span=(5, 24)))
    secrets = secrets_of(arguments, hidden)
    assert secrets == [("4111 1111 1111 1111", "•••• 1111"), ("884213", "••••••")]
    answer = {"content": [{"type": "text", "text": "pin 884213 set; card 4111 1111 1111 1111; 42 items"}]}
    assert replaced(answer, secrets) == {"content": [{"type": "text",
                                                      "text": "pin •••••• set; card •••• 1111; 42 items"}]}
