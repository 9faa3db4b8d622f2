"""The triage model (#92) from a test: a worker whose MODEL_CONFIG names a scripted OpenAI-compatible model server
(tests/support/openai_compatible.py, model MODEL, no retries) and whose POLICY_DIR holds a Cedar bundle of `@triage`
policies (`triage_worker`: signing receipts, Carol an admin), and the model server for a test (`model_server`).
Shared by tests/approvals/test_triage.py and tests/approvals/test_triage_hold.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.devslack.server import SlackStandIn
from tests.conftest import CAROL, Worker
from tests.support.hitl import write_config
from tests.support.openai_compatible import OpenAICompatibleServer, openai_config
from tests.support.policies import write_bundle
from tests.support.signing import signing_worker

MODEL = "llama3.1"


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
