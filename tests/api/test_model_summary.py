"""A summary written by a model (#79.6), as a user runs it: a worker whose MODEL_CONFIG names a model (a scripted one,
OpenAI-compatible on loopback, which records what it was sent) writes the card's one plain sentence, labelled
"Summary written by a model"; the model reads the change with its hidden values hidden; a model that fails leaves
the deterministic sentence, unlabelled. Block Kit valid by slack_sdk."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from agent_approvals import ApprovalsClient
from agent_approvals.artifacts import command, file_change
from slack_sdk.models.blocks import Block

from bot.devslack.blockkit import validate_blocks
from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, bot_env, start_worker
from tests.support.api import new_key
from tests.support.hitl import nth_card, text_of
from tests.support.openai_compatible import Answer, OpenAICompatibleServer, error, openai_config, text

BEFORE = "".join(f"PRICE_{n} = {n}\n" for n in range(1, 50))
KEY = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
AFTER = BEFORE.replace("PRICE_7 = 7\n", f"PRICE_7 = 8\nSTRIPE = '{KEY}'\n")
SAID = "Raises one price in the price list and deploys it."


@asynccontextmanager
async def asked_card(slack: SlackStandIn, redis_url: str, tmp_path: Path, *answers: Answer
                     ) -> AsyncIterator[tuple[str, list[dict[str, object]], OpenAICompatibleServer]]:
    model = OpenAICompatibleServer(*answers)
    await model.start()
    config = tmp_path / "model.json"
    config.write_text(json.dumps(openai_config(model.base_url)))
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=config))
    slack.events_url = worker.url + "/slack/events"
    try:
        async with ApprovalsClient(worker.url, key=(await new_key(worker)).key) as program:
            await program.request_tool("deploy_prices", {"price": 8}, title="Raise PRICE_7", requester=ALICE,
                                       artifacts=[file_change("src/prices.py", BEFORE, AFTER), command("make deploy")])
        card = await nth_card(slack, 1)
        yield text_of(card), card["blocks"], model
    finally:
        await worker.stop()
        await model.stop()


def assert_blocks_valid(blocks: list[dict[str, object]]) -> None:
    for block in blocks:
        parsed = Block.parse(copy.deepcopy(block))
        assert parsed is not None
        parsed.to_dict()
    assert validate_blocks(blocks) is None, validate_blocks(blocks)


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_model_writes_the_summary_labelled_so_and_never_reads_a_hidden_value(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    async with asked_card(slack, redis_url, tmp_path, text(SAID)) as (shown, blocks, model):
        assert f"In short* (Summary written by a model): {SAID}" in shown, shown
        assert_blocks_valid(blocks)
        sent = json.dumps(model.completions)
        assert len(model.completions) == 1 and "src/prices.py" in sent and "make deploy" in sent
        assert KEY not in sent  # the change as people may see it: its secret hidden


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_model_that_fails_leaves_the_plain_sentence(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    async with asked_card(slack, redis_url, tmp_path, error(400, "model not loaded")) as (shown, blocks, model):
        assert "In short:* Changes 2 lines in src/prices.py and runs make deploy." in shown, shown
        assert "written by a model" not in shown and len(model.completions) == 1
        assert_blocks_valid(blocks)
