"""The triage model (#92) from a test: a worker whose MODEL_CONFIG names a scripted OpenAI-compatible model server
(tests/support/openai_compatible.py, model MODEL, no retries) and whose POLICY_DIR holds a Cedar bundle of `@triage`
policies (`triage_worker`: signing receipts, Carol an admin), the model server for a test (`model_server`), a route
where the model may approve a small refund (`PERMITTED`) and its low-risk answer (`LOW`). Shared by the triage tests
of tests/approvals, tests/mail and tests/msteams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.devslack.server import SlackStandIn
from tests.conftest import CAROL, Worker
from tests.support.hitl import write_config
from tests.support.openai_compatible import OpenAICompatibleServer, openai_config, text
from tests.support.policies import write_bundle
from tests.support.signing import signing_worker

MODEL = "llama3.1"
PERMITTED = f'''
@id("small-refunds-triaged")
@outcome("ask")
@triage("{MODEL}")
@triage_may_approve("low")
forbid (principal, action == Action::"refund", resource)
when {{ context.args.amount_cents <= 10000 }};
'''  # a small refund: the model may approve it, at low risk
LOW = text(json.dumps({"decision": "approve", "risk": "low", "reasons": ["A small refund."]}))  # the model's yes


@asynccontextmanager
async def model_server() -> AsyncIterator[OpenAICompatibleServer]:
    """The scripted model server, started (answers added with `.add`), stopped at the end."""
    async with OpenAICompatibleServer() as server:
        yield server


async def triage_worker(slack: SlackStandIn, redis_url: str, tmp_path: Path, model: OpenAICompatibleServer,
                        bundle: dict[str, str], **env: str) -> Worker:
    """A worker reading `model` as MODEL, its policies `bundle` (file name -> text), Carol an admin (ADMIN_USERS),
    `env` beside (TRIAGE_TIMEOUT, TRIAGE_HOLD, ...)."""
    config = write_config(tmp_path, openai_config(model.base_url, model=MODEL, max_retries=0))
    folder = write_bundle(tmp_path / "policies", bundle)
    return await signing_worker(slack, redis_url, tmp_path / "keys.json", MODEL_CONFIG=str(config),
                                POLICY_DIR=str(folder), **{"ADMIN_USERS": CAROL, **env})
