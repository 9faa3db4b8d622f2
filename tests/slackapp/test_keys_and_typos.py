"""`/agent keys create NAME #channel` (#35): the channel as Slack links it, not read as part of the name; the reply
names the URL programs ask at (`PUBLIC_URL`); `/agent keys list`. And a first word close to a subcommand
(`/agent confg timeout 30s`) asks "did you mean" and starts nothing, while a real task still starts a run. End to
end: the stand-in sends the commands (escaped as Slack escapes them), a real worker and a real Redis answer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from agent_approvals import ApprovalsClient

from bot.devslack.server import SlackStandIn
from bot.slackapp.command_parser import CreateKey, Invalid, ListKeys, RevokeKey, Start, parse_command
from tests.conftest import ALICE, BOB, SALES, Worker, bot_env, name_admins, start_worker
from tests.support.hitl import command, nth_card, until

GENERAL = "C0GENERAL"
PUBLIC_URL = "https://approvals.example.com"
KEY = re.compile(r"aak_[A-Za-z0-9_-]+")


@pytest.fixture
async def public_worker(slack: SlackStandIn, redis_url: str) -> AsyncIterator[Worker]:
    """A worker (no model) that knows its public URL."""
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, PUBLIC_URL=PUBLIC_URL))
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()


# --------------------------------------------------------------------------------------------------- parsing


def test_keys_create_reads_the_channel_apart_from_the_name() -> None:
    assert parse_command("keys create nightly <#C0GENERAL|general>") == CreateKey("nightly", GENERAL)
    assert parse_command("keys create nightly <#G0PRIVATE|>") == CreateKey("nightly", "G0PRIVATE")
    assert parse_command("keys create nightly C0SALES") == CreateKey("nightly", SALES)
    assert parse_command("keys create nightly") == CreateKey("nightly")
    assert parse_command("keys revoke nightly") == RevokeKey("nightly")
    assert parse_command("keys") == ListKeys() == parse_command("keys list") == parse_command("keys LIST")
    typed = parse_command("keys create nightly #nowhere")  # a channel Slack does not know arrives as typed
    assert isinstance(typed, Invalid) and "cannot tell which channel `#nowhere`" in typed.message
    for bad in ("keys create nightly sales", "keys create Nightly <#C0SALES|sales>", "keys create a b c",
                "keys revoke nightly <#C0SALES|sales>", "keys create"):
        result = parse_command(bad)
        assert isinstance(result, Invalid) and "Nothing changed." in result.message, bad
    near = parse_command("keys lst")
    assert isinstance(near, Invalid) and "Did you mean `/agent keys list`?" in near.message


def test_a_first_word_close_to_a_subcommand_asks_and_starts_nothing() -> None:
    for typed, meant in (
        ("confg timeout 30s", "config timeout 30s"),
        ("stauts now", "status now"),
        ("kyes create nightly", "keys create nightly"),
        ("cancle rabc2345", "cancel rabc2345"),
        ("reprot please", "report please"),
    ):
        result = parse_command(typed)
        assert isinstance(result, Invalid), typed
        assert f"did you mean `/agent {meant}`?" in result.message and "Nothing started." in result.message, typed
    for single in ("stauts", "confg"):
        result = parse_command(single)
        assert isinstance(result, Invalid) and "Did you mean" in result.message, single
    tasks = (
        "draft an email to our vendor", "Draft an email", "help me write a memo", "configure the CI pipeline",
        "reports for Q3 in a table", "state the facts", "hello team, summarise the thread", "status of the order",
        "write a poem", "summarize this", "update the roadmap", "prepare the board deck", "post it",
    )
    for task in tasks:
        assert parse_command(task) == Start(task), task


# --------------------------------------------------------------------------------------------------- end to end


async def test_keys_create_for_a_named_channel_and_the_url_to_use(
    slack: SlackStandIn, public_worker: Worker
) -> None:
    assert "No API key may ask in <#C0GENERAL>" in await command(slack, "keys list", channel=GENERAL)
    assert "No API key may ask in" in await command(slack, "keys", channel=GENERAL)

    # only #general's admins may make a key for it, from any channel; a refusal changes nothing
    refused = await command(slack, "keys create nightly #general", user=BOB)
    assert "Only the admins of <#C0GENERAL>" in refused and "Nothing changed." in refused
    assert await public_worker.services.api.keys_of(GENERAL) == []
    await name_admins(public_worker, ALICE, channel=GENERAL)

    made = await command(slack, "keys create nightly #general", user=ALICE, channel=SALES)
    assert "Made the API key `nightly` for <#C0GENERAL>" in made, made
    assert f"`AGENT_APPROVALS_URL={PUBLIC_URL}`" in made
    key = KEY.search(made)
    assert key is not None
    [record] = await public_worker.services.api.keys_of(GENERAL)
    assert record.name == "nightly" and list(record.channels) == [GENERAL]
    assert await public_worker.services.api.keys_of(SALES) == []
    listed = await command(slack, "keys list", channel=GENERAL)
    assert "`nightly`" in listed and key.group(0) not in listed

    # the key asks in #general, at the worker
    async with ApprovalsClient(public_worker.url, key.group(0)) as client:
        asked = await client.request_tool("send_email", {"to": "bob@example.com"}, title="Nightly mail")
    assert asked.pending
    card = await nth_card(slack, 1)
    assert "Nightly mail" in str(card)

    # a second key of the same name is refused; an unknown channel is said so
    again = await command(slack, "keys create nightly #general", channel=GENERAL)
    assert "there is a key named nightly already" in again and KEY.search(again) is None
    assert "cannot tell which channel `#nowhere`" in await command(slack, "keys create other #nowhere")


async def test_without_public_url_the_reply_says_what_to_set(slack: SlackStandIn, worker: Worker) -> None:
    await name_admins(worker, ALICE)
    made = await command(slack, "keys create nightly")
    assert "Made the API key `nightly` for <#C0SALES>" in made and KEY.search(made)
    assert "`AGENT_APPROVALS_URL`: set it to your bot's URL" in made
    assert [k.name for k in await worker.services.api.keys_of(SALES)] == ["nightly"]


async def test_a_typo_of_a_subcommand_starts_no_run_and_a_task_does(slack: SlackStandIn, worker: Worker) -> None:
    answer = await command(slack, "confg timeout 30s")
    assert "did you mean `/agent config timeout 30s`?" in answer and "Nothing started." in answer
    answer = await command(slack, "stauts")
    assert "Did you mean `/agent status`?" in answer
    runs, _ = await worker.services.runs.status(SALES)
    assert not list(runs)
    assert (await worker.services.approvals.channel_settings(SALES)).timeout != 30

    started = await command(slack, "draft an email to our vendor")
    assert started.startswith("Started run `"), started
    run_id = started.split("`")[1]
    await until(lambda: worker.services.runs.get(run_id), what="the run to be stored")
