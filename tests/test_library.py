"""The library use: an AutoGen program outside the bot (examples/library_use.py) gets its tool calls
and turns decided with the deployed bot's buttons, through the same Redis and Slack token."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, BOT_TOKEN, SALES, block_texts, bot_env, card_of, reply_text, start_worker
from tests.hitl import DEMO, buttons, current, nth_card, until, write_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "library_use.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("library_use", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_a_program_outside_the_bot_is_decided_with_the_bots_buttons(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    slack.events_url = worker.url + "/slack/events"
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "REDIS_URL": redis_url,
        "APPROVALS_CHANNEL": APPROVALS,
        "ORIGIN_CHANNEL": SALES,
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "MODEL_CONFIG": str(write_config(tmp_path, DEMO)),
    }
    program = asyncio.create_task(load_example().main(env, task="Tell carol@example.com about the new prices"))
    try:
        card = await nth_card(slack, 1)
        shown = block_texts(card)
        assert "Tool call needs approval" in shown and "carol@example.com" in shown
        assert "examples/library_use.py: Tell carol@example.com" in shown  # the program's label as the task
        status = reply_text(await slack.send_command(user=BOB, channel=SALES, text="status"))
        assert "examples/library_use.py" in status and "*Pending approvals*" in status  # listed as a run

        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        sent = await until(lambda: list((tmp_path / "outbox").glob("*.eml")), what="the email in the outbox")
        assert "To: carol@example.com" in sent[0].read_text()
        second = await nth_card(slack, 2)
        assert "Sent." in block_texts(second) and buttons(second)[0] == "approval_approve"
        await slack.click(user=BOB, channel=APPROVALS, ts=second["ts"], action_id="approval_approve")
        ended = await asyncio.wait_for(program, timeout=10)
        assert ended == "APPROVE"
        assert f"*Approved* by <@{BOB}>" in block_texts(current(slack, second))
        assert len(card_of(slack)) == 2

        store = worker.services.store
        runs = await store.runs.recent(SALES)
        assert [(r.preset, r.status) for r in runs] == [("library", "completed")]
        decisions = [e for e in await store.audit.entries() if e["event"] == "decision"]
        assert [(d["outcome"], d["by"]) for d in decisions] == [("approved", BOB), ("approved", BOB)]
    finally:
        if not program.done():
            program.cancel()
        await worker.stop()


async def test_cancelling_the_programs_run_cancels_its_card(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    slack.events_url = worker.url + "/slack/events"
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "REDIS_URL": redis_url,
        "APPROVALS_CHANNEL": APPROVALS,
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "MODEL_CONFIG": str(write_config(tmp_path, DEMO)),
    }
    program = asyncio.create_task(load_example().main(env))
    try:
        card = await nth_card(slack, 1)
        (run,) = await worker.services.store.runs.recent(APPROVALS)
        await slack.send_command(user=BOB, channel=APPROVALS, text="config admins @bob")  # a program's run: admins
        reply = reply_text(await slack.send_command(user=BOB, channel=APPROVALS, text=f"cancel {run.id}"))
        assert f"Cancelled run `{run.id}` and 1 pending approval" in reply
        assert await asyncio.wait_for(program, timeout=10) == "cancelled in Slack"  # the program ends
        assert "Cancelled" in block_texts(current(slack, card))
        assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").glob("*.eml"))
    finally:
        if not program.done():
            program.cancel()
        await worker.stop()
