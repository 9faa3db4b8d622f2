"""An executor spends a receipt (`POST /api/v1/approvals/{id}/use`, no API key) against a real worker: once, by
one token; forged, expired or another approval's receipts refused; two executors racing, exactly one runs; and
a key rotation (`python -m bot signing rotate`) picked up without a restart, old receipts still good."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agent_approvals.receipts import ALG, TYPE
from joserfc import jws
from joserfc.jwk import OKPKey

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.cli import run_bot
from tests.support.hitl import audit_events, click, nth_card, until
from tests.support.receipts import Issuer, eddsa
from tests.support.signing import jwks_of, signing_worker, spend, unverified_claims, verified


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    return tmp_path / "signing-keys.json"


@pytest.fixture
async def signer(slack: SlackStandIn, redis_url: str, keys_file: Path) -> AsyncIterator[Worker]:
    worker = await signing_worker(slack, redis_url, keys_file)
    yield worker
    await worker.stop()


async def approved(worker: Worker, slack: SlackStandIn, client: Client, n: int) -> dict[str, Any]:
    """The `n`th card of the test approved by bob: the approval as the program reads it, receipt and all."""
    _, asked = await client.ask(tool_ask())
    await click(slack, await nth_card(slack, n), "approval_approve", user=BOB)
    answer = await client.wait(asked["id"])
    assert answer["status"] == "approved" and answer["receipt"], answer
    return answer


def signed_with_file_key(keys_file: Path, claims: dict[str, Any], typ: str = TYPE) -> str:
    """`claims` signed by joserfc with the deployment's own current private key (a receipt it never issued)."""
    entry = json.loads(keys_file.read_text())["keys"][-1]
    key = OKPKey.import_key(entry)
    with eddsa():
        return jws.serialize_compact({"alg": ALG, "kid": entry["kid"], "typ": typ}, json.dumps(claims).encode(),
                                     key, algorithms=[ALG])


async def test_a_receipt_is_spent_once_by_one_token(signer: Worker, slack: SlackStandIn) -> None:
    client = Client(signer, (await new_key(signer)).key)
    answer = await approved(signer, slack, client, 1)
    approval_id, receipt = answer["id"], answer["receipt"]
    status, used = await spend(signer, approval_id, receipt, "executor-one")
    assert status == 200 and used["used"] is True and used["id"] == approval_id and used["status"] == "approved"
    status, again = await spend(signer, approval_id, receipt, "executor-one")  # its retry after a lost answer
    assert status == 200 and again["used"] is True
    status, refused = await spend(signer, approval_id, receipt, "executor-two")
    assert status == 409 and refused["error"]["code"] == "used" and "executor-one" not in json.dumps(refused)
    entries = await audit_events(signer, "receipt_used")
    assert [(e["approval"], e["key"], e["jti"]) for e in entries] == [
        (approval_id, "nightly", unverified_claims(receipt)["jti"])
    ]
    # the program's own use (with its key) is apart: the executor's spending did not use it
    status, program, _ = await client.call("POST", f"/api/v1/approvals/{approval_id}/use", body={"token": "program-1"})
    assert status == 200 and program["used"] is True
    assert (await client.wait(approval_id, wait=0))["receipt"] == receipt  # spent: never replaced


async def test_forged_expired_and_other_receipts_are_refused(
    signer: Worker, slack: SlackStandIn, keys_file: Path
) -> None:
    client = Client(signer, (await new_key(signer)).key)
    first = await approved(signer, slack, client, 1)
    second = await approved(signer, slack, client, 2)
    claims = unverified_claims(first["receipt"])
    stranger = Issuer(kid=(await jwks_of(signer))["keys"][0]["kid"])  # the right kid, another key
    header_b64, _, signature = first["receipt"].split(".")
    tampered_claims = {**claims, "args_sha256": "0" * 64}
    tampered_payload = base64.urlsafe_b64encode(json.dumps(tampered_claims).encode()).rstrip(b"=").decode()
    refusals = {
        "signed by another key": stranger.sign(claims),
        "its claims changed": f"{header_b64}.{tampered_payload}.{signature}",
        "another approval's": second["receipt"],
        "expired": signed_with_file_key(keys_file, {**claims, "iat": int(time.time()) - 700,
                                                    "exp": int(time.time()) - 100}),
        "never issued": signed_with_file_key(keys_file, {**claims, "jti": "rcpt_" + "1" * 32}),
        "another typ": signed_with_file_key(keys_file, claims, typ="JWT"),
        "not a JWS": "not-a-receipt",
    }
    for what, receipt in refusals.items():
        status, answer = await spend(signer, first["id"], receipt, "executor-one")
        assert status == 401 and answer["error"]["code"] == "invalid_receipt", (what, answer)
    for body in ({"receipt": first["receipt"]}, {"receipt": 7, "token": "executor-one"},
                 {"receipt": first["receipt"], "token": "short"}):
        status, answer = await spend_raw(signer, first["id"], body)
        assert status == 400 and answer["error"]["code"] == "invalid_request", (body, answer)
    status, answer = await spend_raw(signer, first["id"], {"token": "program-1"})  # a program without its key
    assert status == 401 and answer["error"]["code"] == "unauthorized"
    assert await audit_events(signer, "receipt_used") == []  # nothing was spent
    status, _ = await spend(signer, first["id"], first["receipt"], "executor-one")
    assert status == 200


async def spend_raw(worker: Worker, approval_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.post(
        f"{worker.url}/api/v1/approvals/{approval_id}/use", json=body
    ) as response:
        return response.status, await response.json()


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_two_executors_racing_exactly_one_runs(signer: Worker, slack: SlackStandIn) -> None:
    client = Client(signer, (await new_key(signer)).key)
    for n in range(1, 4):
        answer = await approved(signer, slack, client, n)
        results = await asyncio.gather(*(spend(signer, answer["id"], answer["receipt"], f"racer-{n}-{i}")
                                         for i in range(2)))
        assert sorted(status for status, _ in results) == [200, 409], results
    assert len(await audit_events(signer, "receipt_used")) == 3


def rotate(keys_file: Path, redis_url: str) -> tuple[str, int, str]:
    """`python -m bot signing rotate --file …` (in this process, audited in the worker's Redis): what it said, the
    file's mode, the new kid."""
    rotated = run_bot("signing", "rotate", "--file", str(keys_file), environ={"REDIS_URL": redis_url})
    assert rotated.returncode == 0, rotated.stderr
    return rotated.stdout, keys_file.stat().st_mode & 0o777, json.loads(keys_file.read_text())["keys"][-1]["kid"]


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_rotation_is_read_without_a_restart_and_old_receipts_stay_good(
    signer: Worker, slack: SlackStandIn, keys_file: Path, redis_url: str
) -> None:
    client = Client(signer, (await new_key(signer)).key)
    old = await approved(signer, slack, client, 1)
    old_kid = (await verified(signer, old["receipt"]))[0]["kid"]
    said, mode, new_kid = await asyncio.to_thread(rotate, keys_file, redis_url)
    assert mode == 0o600 and new_kid != old_kid and f"added {new_kid}" in said and f"retired {old_kid}" in said

    async def both_published() -> bool:
        return [key["kid"] for key in (await jwks_of(signer))["keys"]] == [new_kid, old_kid]

    await until(both_published, within=15, what="the worker to re-read the rotated keys file")
    new = await approved(signer, slack, client, 2)
    assert (await verified(signer, new["receipt"]))[0]["kid"] == new_kid
    assert (await verified(signer, old["receipt"]))[1]["sub"] == old["id"]  # the old key still verifies it
    assert (await spend(signer, old["id"], old["receipt"], "executor-old"))[0] == 200
    assert (await spend(signer, new["id"], new["receipt"], "executor-new"))[0] == 200
    assert signer.services.signing is not None and signer.services.signing.current_kid == new_kid


async def test_an_expired_unspent_receipt_is_replaced_and_a_spent_one_never(
    signer: Worker, slack: SlackStandIn
) -> None:
    client = Client(signer, (await new_key(signer)).key)
    store = signer.services.store
    unspent, spent = await approved(signer, slack, client, 1), await approved(signer, slack, client, 2)
    assert (await spend(signer, spent["id"], spent["receipt"], "executor-spent"))[0] == 200
    for answer in (unspent, spent):  # as if RECEIPT_TTL had passed since they were issued
        await store.redis.hset(store.keys.approval(answer["id"]), "receipt_exp", "1")
    fresh = (await client.wait(unspent["id"], wait=0))["receipt"]
    old_jti = unverified_claims(unspent["receipt"])["jti"]
    assert fresh != unspent["receipt"] and unverified_claims(fresh)["jti"] != old_jti
    status, refused = await spend(signer, unspent["id"], unspent["receipt"], "executor-old")  # replaced: not its
    assert status == 401 and refused["error"]["code"] == "invalid_receipt"
    assert (await spend(signer, unspent["id"], fresh, "executor-new"))[0] == 200
    assert (await client.wait(spent["id"], wait=0))["receipt"] == spent["receipt"]  # spent: kept as it was
