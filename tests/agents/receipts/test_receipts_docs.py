"""What docs/agents/receipts.md tells executors works as written, against a real worker that signs receipts: the
page's joserfc check (the block after `<!-- receipts: joserfc -->`, run as written) accepts the bot's receipt and
refuses other arguments and a forgery; `examples/receipt_executor.py` as processes: `ask` (bob approves the card)
prints a job, `run` sends it once, and the same job again is refused as used."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.devslack.server import SlackStandIn
from bot.store.api_keys import id_of_key
from tests.conftest import BOB, Worker
from tests.support.hitl import click, nth_card
from tests.support.mcp_gateway import EMAIL
from tests.support.receipts import Issuer
from tests.support.signing_worker import approved, signing_bot

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "agents" / "receipts.md"
EXAMPLE = ROOT / "examples" / "receipt_executor.py"


@pytest.fixture
async def signer(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[Worker, str]]:
    async with signing_bot(slack, redis_url, tmp_path / "signing-keys.json") as made:
        yield made


def joserfc_check() -> Any:
    """The page's `check(receipt, bot_url, tool, arguments)`, defined by running its block as written."""
    found = re.search(r"<!-- receipts: joserfc -->\n```python\n(.*?)\n```", PAGE.read_text(encoding="utf-8"), re.S)
    assert found is not None, "the joserfc block is marked on the page"
    namespace: dict[str, Any] = {}
    exec(compile(found.group(1), str(PAGE), "exec"), namespace)
    return namespace["check"]


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_the_pages_joserfc_check_works_on_the_bots_receipts(
    signer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = signer
    decided = await approved(bot, key, slack, 1, EMAIL)
    check = joserfc_check()
    reordered = {"body": EMAIL["body"], "to": EMAIL["to"]}
    claims = await asyncio.to_thread(check, decided.receipt, bot.url, "send_email", reordered)
    assert claims["sub"] == decided.id and claims["aud"] == id_of_key(key)
    with pytest.raises(AssertionError, match="other arguments"):
        await asyncio.to_thread(check, decided.receipt, bot.url, "send_email", {**EMAIL, "to": "eve@example.com"})
    with pytest.raises(AssertionError, match="another tool"):
        await asyncio.to_thread(check, decided.receipt, bot.url, "delete_inbox", EMAIL)
    forged = Issuer(kid=json.loads(await asyncio.to_thread(_jwks, bot.url))["keys"][0]["kid"]).issue()
    with pytest.raises(Exception, match="signature"):  # joserfc's BadSignatureError
        await asyncio.to_thread(check, forged, bot.url, "send_email", EMAIL)


def _jwks(url: str) -> str:
    import httpx

    return httpx.get(f"{url}/api/v1/jwks.json").text


async def example(env: dict[str, str], tmp_path: Path, *args: str, stdin: str = "") -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), *args, env=env, cwd=tmp_path, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 90)
    said = err.decode().splitlines()  # (`ask` says where its card waits there: its standard output is the job)
    assert process.returncode == 0 and all(line.startswith("waiting for approval in Slack: ") for line in said), said
    return out.decode()


@pytest.mark.slow
async def test_the_example_executor_runs_an_approved_job_once(
    signer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = signer
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
           "AGENT_APPROVALS_URL": bot.url, "AGENT_APPROVALS_KEY": key,
           "OUTBOX_DIR": str(tmp_path / "outbox"), "RECEIPT_AUDIENCE": id_of_key(key)}
    asking = asyncio.create_task(example(env, tmp_path, "ask", "Tell carol@example.com about the prices"))
    await click(slack, await nth_card(slack, 1, within=60), "approval_approve", user=BOB)
    job = json.loads((await asking).splitlines()[-1])
    assert job["tool"] == "send_email" and job["arguments"]["to"] == "carol@example.com" and job["receipt"]
    assert not (tmp_path / "outbox").exists()  # asking sent nothing

    line = json.dumps(job) + "\n"
    assert (await example(env, tmp_path, "run", stdin=line)).splitlines() == ["sent to carol@example.com"]
    again = (await example(env, tmp_path, "run", stdin=line)).splitlines()
    assert len(again) == 1 and again[0].startswith("refused: used:"), again
    edited = json.dumps({**job, "arguments": {**job["arguments"], "to": "all@example.com"}}) + "\n"
    assert (await example(env, tmp_path, "run", stdin=edited)).startswith("refused: wrong_arguments:")
    assert [json.loads(p.read_text())["to"] for p in (tmp_path / "outbox").iterdir()] == ["carol@example.com"]
