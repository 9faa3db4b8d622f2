"""Signed receipts from a test: a worker with a signing keys file, its public keys, an executor's use of a
receipt (no API key), and a receipt's header and claims as joserfc (an independent JOSE library) reads them."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import aiohttp

from bot.core.key_files import ensure_keys_file
from bot.devslack.server import SlackStandIn
from tests.conftest import Worker, bot_env, start_worker
from tests.support.receipts import joserfc_claims

ISSUER = "https://approvals.example.com"


async def signing_worker(
    slack: SlackStandIn, redis_url: str, keys_file: Path, **extra: str
) -> Worker:
    """A worker (no model; webhooks may reach loopback) signing with the keys in `keys_file` (made when missing)."""
    ensure_keys_file(keys_file)
    env = bot_env(slack=slack, redis_url=redis_url, model_config=None, API_ALLOW_PRIVATE_CALLBACKS="1",
                  SIGNING_KEYS_FILE=str(keys_file), RECEIPT_ISSUER=ISSUER, **extra)
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    return worker


async def get_json(url: str) -> tuple[int, Any, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json(), dict(response.headers)


async def jwks_of(worker: Worker) -> dict[str, Any]:
    """`GET /api/v1/jwks.json`, without a key."""
    status, keys, _ = await get_json(worker.url + "/api/v1/jwks.json")
    assert status == 200, keys
    return dict(keys)


async def spend(worker: Worker, approval_id: str, receipt: str, token: str, **body: Any) -> tuple[int, dict[str, Any]]:
    """An executor's use of a receipt: `POST …/use` without an Authorization header."""
    sent = {"receipt": receipt, "token": token, **body}
    async with aiohttp.ClientSession() as session, session.post(
        f"{worker.url}/api/v1/approvals/{approval_id}/use", json=sent
    ) as response:
        return response.status, await response.json()


async def verified(worker: Worker, receipt: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of `receipt`, checked by joserfc with the keys the worker publishes."""
    return joserfc_claims(receipt, await jwks_of(worker))


def unverified_claims(receipt: str) -> dict[str, Any]:
    """A receipt's claims, read without checking anything (to build forgeries from)."""
    payload = receipt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def private_parts(keys_file: Path) -> list[str]:
    """The `d` of every key in a keys file: text that must never appear in a log, an answer or Redis."""
    return [key["d"] for key in json.loads(keys_file.read_text())["keys"] if "d" in key]
