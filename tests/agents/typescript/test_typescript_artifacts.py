"""The receipt binds the artefacts (#79), in TypeScript, against a real worker that signs: the package's test
`artifacts.test.ts`, run by Node as tests/agents/typescript/test_typescript.py runs the package's tests (built by
its build.mjs, strict), answers every shared vector (tests/agents/receipts/artifact_vectors.json) as the Python side
does, and, bob approving its card here, finds the receipt of a change A verified for A and refused for B and for A
once its file changed on disk. The AI SDK's and Mastra's adapters ask with the artefacts a tool declares (their
tests "... declared artefacts ..." on Node 22, with the frameworks of the suite's project)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.allow_rules import Rule, exact_match
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, SALES, Worker
from tests.support.artifact_vectors import FILE
from tests.support.signing_worker import signing_bot
from tests.support.ts_review import review
from tests.support.typescript import PACKAGE, PRESERVE, PROJECT, node, node22, node_test

pytestmark = pytest.mark.slow  # a worker, node and the package's build as processes

RULED = {"to": "rule@example.com", "body": "Prices go up 5% on May 1."}  # what the adapters' tests send: ruled


@pytest.fixture
async def signer(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[Worker, str]]:
    async with signing_bot(slack, redis_url, tmp_path / "signing-keys.json") as made:
        yield made


async def declared(env: dict[str, str]) -> str:
    """The adapters' tests of declared artefacts (and only those), on Node 22: their TAP output, once all passed."""
    tests = [str(PROJECT / "dist" / "test" / f"{name}.test.js") for name in ("ai-sdk", "mastra")]
    process = await asyncio.create_subprocess_exec(
        node22(), "--test", "--test-reporter=tap", "--test-name-pattern=declared artefacts", *tests, cwd=PROJECT,
        env={**env, "NODE_OPTIONS": PRESERVE}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 240)
    said = out.decode()
    assert process.returncode == 0, said[-6000:]
    assert dict(re.findall(r"^# (pass|fail) (\d+)$", said, re.M)) == {"pass": "2", "fail": "0"}, said
    return said


async def test_a_receipt_for_artefact_a_is_refused_for_b_in_typescript(
    signer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path, typescript_built: None
) -> None:
    bot, key = signer
    rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", RULED),
                created_by=BOB, created_at=0, expires_at=2e10)  # the adapters' asks: approved at once
    assert await bot.services.store.rules.create(rule)
    env = {**os.environ, "AGENT_APPROVALS_URL": bot.url, "AGENT_APPROVALS_KEY": key, "ARTIFACT_VECTORS": str(FILE)}
    done = asyncio.Event()
    shown: list[str] = []
    reviewer = asyncio.create_task(review(slack, done, shown, tmp_path))
    try:
        said = await node_test(node(), [PACKAGE / "test" / "artifacts.test.ts"], env)
        await declared(env)
    finally:
        done.set()
        decided = await reviewer
    assert "ok 2 - a receipt for change A verifies for A" in said, said
    assert decided == ["approved"]  # the one card: the change to prices.py
    assert "prices.py" in shown[0]
