"""A worker that signs receipts, for the executors' tests (tests/agents/receipts/): its own keys file
(made by the bot's `ensure_keys_file`), an API key `emailer` that may ask in #sales, and a tool call asked through
the client and approved by bob on its card."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Unpack

from agent_approvals import ApprovalsClient
from agent_approvals.client import Approval

from bot.core.key_files import ensure_keys_file
from bot.devslack.server import SlackStandIn
from bot.store.api_keys import KeyTerms
from tests.conftest import BOB, SALES, Worker, bot_env, start_worker
from tests.support.hitl import click, nth_card

ISSUER = "https://approvals.example.com"


@asynccontextmanager
async def signing_bot(
    slack: SlackStandIn, redis_url: str, keys: Path, policies: Path | None = None, **limits: Unpack[KeyTerms]
) -> AsyncIterator[tuple[Worker, str]]:
    """The worker, signing with the keys in `keys` (made when missing), with the Cedar policies in `policies` when
    given (its POLICY_DIR), and the key `emailer`'s secret (with `limits`: `per_minute`, `max_pending`)."""
    ensure_keys_file(keys)
    more = {} if policies is None else {"POLICY_DIR": str(policies)}
    env = bot_env(slack=slack, redis_url=redis_url, model_config=None, SIGNING_KEYS_FILE=str(keys),
                  RECEIPT_ISSUER=ISSUER, **more)
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    try:
        made = await worker.services.store.api_keys.create("emailer", [SALES], by=BOB, **limits)
        assert made is not None
        yield worker, made.key
    finally:
        await worker.stop()


async def approved(bot: Worker, key: str, slack: SlackStandIn, n: int, arguments: dict[str, Any]) -> Approval:
    """`send_email(arguments)` asked through the client and approved by bob on the `n`-th card: with a receipt."""
    async with ApprovalsClient(bot.url, key, title="Tell Bob") as client:
        asked = await client.request_tool("send_email", arguments)
        await click(slack, await nth_card(slack, n), "approval_approve", user=BOB)
        decided = await client.wait(asked.id, at_most=30)
    assert decided.approved and decided.receipt, decided
    return decided
