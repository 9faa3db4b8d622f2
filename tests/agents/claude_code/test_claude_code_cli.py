"""Claude Code's own tool calls decided in Slack, as a user runs it: the real `claude` CLI (headless, `-p`) with our
hook installed by `agent-approvals-claude-code install`, its model the fake Messages API (scripted tool calls), a
real worker and the Slack stand-in. A Bash call writes a line to `ran.txt`: the file says how often it ran."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.allow_rules import Rule, exact_match
from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, BOB, SALES, Worker, block_texts, bot_env, start_worker
from tests.support.claude_code import claude, runs
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.hitl import cards, click, nth_card, reject

pytestmark = pytest.mark.slow  # the real `claude` CLI (node)

WRITE = {"command": "echo ran >> ran.txt", "description": "Record a run"}
DEPLOY = {"command": "echo deploy >> ran.txt", "description": "Record a deploy"}  # a risk word: the mode asks


@pytest.fixture
async def model() -> AsyncIterator[FakeAnthropic]:
    fake = FakeAnthropic()
    await fake.start()
    yield fake
    await fake.stop()


async def test_an_approved_bash_call_runs_once(
    emailer: tuple[Worker, str], slack: SlackStandIn, model: FakeAnthropic, tmp_path: Path
) -> None:
    bot, key = emailer
    cli = claude(tmp_path, model, bot.url, key, "--wait", "30")
    running = asyncio.create_task(cli.run(("Bash", WRITE)))
    card = await nth_card(slack, 1, within=60)
    text = block_texts(card)
    assert "Claude Code: Bash in shop-api: echo ran &gt;&gt; ran.txt" in text, text  # (Slack's escaping)
    assert "Asked by `emailer` for <@U0ALICE>" in text and (
        "*Tool call* `Bash` · 1 command from the agent calling itself “Claude Code”" in text)
    assert "*command*\necho ran &gt;&gt; ran.txt" in text and "Revise sends feedback, with no edit" in text
    assert runs(cli.project) == 0
    await click(slack, card, "approval_approve", user=BOB)
    done = await running
    assert runs(cli.project) == 1 and done.told == [{"error": False, "text": "(Bash completed with no output)"}]
    assert len(cards(slack)) == 1


async def test_a_rejected_call_never_runs_and_the_model_reads_who_and_why(
    emailer: tuple[Worker, str], slack: SlackStandIn, model: FakeAnthropic, tmp_path: Path
) -> None:
    bot, key = emailer
    cli = claude(tmp_path, model, bot.url, key, "--wait", "30")
    running = asyncio.create_task(cli.run(("Bash", WRITE)))
    await reject(slack, await nth_card(slack, 1, within=60), user=BOB, reason="not during the freeze")
    done = await running
    assert runs(cli.project) == 0
    [told] = done.told
    assert told["error"] and told["text"].startswith("Not run: rejected by ")
    assert told["text"].endswith(": not during the freeze")
    assert done.result["permission_denials"][0]["tool_input"] == WRITE


async def test_past_the_wait_deny_then_grant_runs_the_retry_once(
    emailer: tuple[Worker, str], slack: SlackStandIn, model: FakeAnthropic, tmp_path: Path
) -> None:
    """--wait 1: nobody decided within it, so the call is denied with the card's link and the words to retry; the
    card stays up. After the click, the same call in the resumed session runs once; the same call once more is a
    new card (it may have run), not run on the spent approval."""
    bot, key = emailer
    cli = claude(tmp_path, model, bot.url, key, "--wait", "1")
    first = await cli.run(("Bash", WRITE))
    [told] = first.told
    assert told["error"] and told["text"].startswith("Not run yet: waiting for approval in Slack: ")
    assert "Call Bash again with the same arguments after it is approved" in told["text"]
    assert runs(cli.project) == 0
    card = await nth_card(slack, 1)
    await click(slack, card, "approval_approve", user=BOB)
    retry = await cli.run(("Bash", WRITE), resume=first.session)
    assert retry.session == first.session and retry.told == [{"error": False,
                                                               "text": "(Bash completed with no output)"}]
    assert runs(cli.project) == 1 and len(cards(slack)) == 1
    again = await cli.run(("Bash", WRITE), resume=first.session)
    [told] = again.told
    assert told["error"] and told["text"].startswith("Not run yet: waiting for approval in Slack: ")
    assert runs(cli.project) == 1
    second = await nth_card(slack, 2)
    assert "this exact call was approved before" in block_texts(second)  # asked as one that may have run


async def test_a_different_call_is_asked_anew(
    emailer: tuple[Worker, str], slack: SlackStandIn, model: FakeAnthropic, tmp_path: Path
) -> None:
    bot, key = emailer
    cli = claude(tmp_path, model, bot.url, key, "--wait", "1")
    first = await cli.run(("Bash", WRITE))
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    other = {**WRITE, "command": "echo other >> ran.txt"}
    later = await cli.run(("Bash", other), resume=first.session)
    assert later.told[0]["error"] and runs(cli.project) == 0
    assert "echo other" in block_texts(await nth_card(slack, 2))


async def test_the_bot_stopped_denies_and_nothing_runs(
    slack: SlackStandIn, redis_url: str, model: FakeAnthropic, tmp_path: Path
) -> None:
    bot = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    made = await bot.services.store.api_keys.create("emailer", [SALES], by=BOB)
    assert made is not None
    await bot.stop()
    cli = claude(tmp_path, model, bot.url, made.key, "--wait", "5")
    done = await cli.run(("Bash", WRITE))
    [told] = done.told
    assert told["error"] and told["text"].startswith("Not run: the approval could not be asked or read (")
    assert runs(cli.project) == 0 and cards(slack) == []


async def test_the_input_mode_and_an_always_allow_rule_let_calls_run_with_no_card(
    emailer: tuple[Worker, str], slack: SlackStandIn, model: FakeAnthropic, tmp_path: Path
) -> None:
    """The channel's `policy` mode approves a Read at once; an "always allow" rule approves an exact Bash call that
    the mode would ask about (a risk word): both run, with no card, and the audit log says who allowed them."""
    bot, key = emailer
    store = bot.services.store
    assert await store.settings.set(SALES, "mode", "policy", by=ALICE) is None
    rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("Bash", DEPLOY), created_by=BOB,
                created_at=0, expires_at=2e10)
    rule_id = await store.rules.create(rule)
    cli = claude(tmp_path, model, bot.url, key, "--wait", "30")
    (cli.project / "notes.txt").write_text("the prices go up in May\n")
    done = await cli.run(("Read", {"file_path": str(cli.project / "notes.txt")}), ("Bash", DEPLOY))
    read, wrote = done.told
    assert not read["error"] and "the prices go up in May" in read["text"]
    assert not wrote["error"] and runs(cli.project) == 1
    assert cards(slack) == []
    allowed = [e for e in await store.audit.entries() if e["event"] == "auto_approved"]
    assert [(e["tool"], e["by"], e.get("rule_id", "")) for e in allowed] == [("Read", "auto", ""),
                                                                             ("Bash", "rule", rule_id)], allowed


async def test_the_bots_http_hook_decides_as_the_command_hook_does(
    emailer: tuple[Worker, str], slack: SlackStandIn, model: FakeAnthropic, tmp_path: Path
) -> None:
    """`install --http URL`: Claude Code POSTs each call to the worker (no hook process), which asks and answers: an
    approved call runs once, a rejected one does not, and the model reads why."""
    bot, key = emailer
    cli = claude(tmp_path, model, bot.url, key, "--http", bot.url, "--wait", "30")
    installed = json.loads((cli.project / ".claude" / "settings.json").read_text())
    [hook] = installed["hooks"]["PreToolUse"][0]["hooks"]
    assert hook["type"] == "http" and hook["url"] == f"{bot.url}/api/v1/hooks/claude-code?wait=30"
    running = asyncio.create_task(cli.run(("Bash", WRITE), ("Bash", {**WRITE, "command": "echo no >> ran.txt"})))
    await click(slack, await nth_card(slack, 1, within=60), "approval_approve", user=BOB)
    await reject(slack, await nth_card(slack, 2, within=60), user=BOB, reason="one is enough")
    done = await running
    first, second = done.told
    assert not first["error"] and second["error"] and second["text"].endswith(": one is enough")
    assert (cli.project / "ran.txt").read_text() == "ran\n"
