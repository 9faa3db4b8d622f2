"""Trusting a bundle's lifecycle (#42), with real processes and files: a bundle that does not parse stops
`python -m bot` at start naming the file and line; a running worker picks up a changed file, keeps its last good
bundle through a change that does not load (a warning and a `policy_load_failed` entry) and loads the next good one;
every worker on one POLICY_DIR shows the same hash on /healthz, and nothing secret."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.devslack.server import SlackStandIn
from bot.policy.bundle import load_bundle
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, Worker, bot_env, free_port, start_worker
from tests.support.api import Client, new_key
from tests.support.hitl import audit_events, until
from tests.support.policies import StartPolicyWorker, refund, write_bundle

ROOT = Path(__file__).resolve().parents[2]
SMALL = '''// Refunds: small ones are allowed at once.
@id("small-refunds")
permit (principal, action == Action::"refund", resource)
when { context.args.amount_cents < 10000 };
'''
NOT_ORDER_A1 = '''
@id("not-order-a1")
@reason("order A-1 is disputed")
forbid (principal, action == Action::"refund", resource)
when { context.args.order == "A-1" };
'''
TYPO = '''
// a typo below
@id("big-refunds")
forbid (principal, action == Action::"refund", resource)
when { context.args.amount_cents >>= 10000 };
'''


def test_a_bundle_that_does_not_parse_stops_a_worker_at_start(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    folder = write_bundle(tmp_path / "policies", {"refunds.cedar": SMALL + TYPO})
    env = {**os.environ, **bot_env(slack=slack, redis_url=redis_url, model_config=None),
           "POLICY_DIR": str(folder), "PORT": str(free_port())}
    done = subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2, done
    assert "error: POLICY_DIR: refunds.cedar:7: unexpected token" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "listening" not in done.stderr


async def test_a_running_worker_reloads_changed_files_and_keeps_its_last_good_bundle(
    policy_worker: StartPolicyWorker, caplog: pytest.LogCaptureFixture
) -> None:
    worker = await policy_worker({"refunds.cedar": SMALL})
    engine = worker.services.approvals.policies
    folder = Path(engine.bundle.directory)
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    first = engine.bundle.hash
    assert (await client.ask(refund(500)))[1]["status"] == "approved"

    async def changed(files: dict[str, str], *, than: str) -> str:
        write_bundle(folder, files)
        await until(lambda: engine.bundle.hash != than, within=15, what="the worker to reload its policies")
        await until(lambda: loaded(worker, engine.bundle.hash), what="policy_loaded with the new hash")
        return engine.bundle.hash

    second = await changed({"refunds.cedar": SMALL + NOT_ORDER_A1}, than=first)
    assert second == load_bundle(folder).hash
    _, answer = await client.ask(refund(500))
    assert answer["status"] == "rejected" and "order A-1 is disputed" in json.dumps(answer), answer

    with caplog.at_level(logging.WARNING, logger="bot.policy.engine"):
        write_bundle(folder, {"refunds.cedar": SMALL + NOT_ORDER_A1 + TYPO})
        failed = await until(lambda: audit_events(worker, "policy_load_failed"), within=15,
                             what="policy_load_failed audited")
    assert failed[0]["kept"] == second and "refunds.cedar:" in failed[0]["error"], failed
    assert any("policies not reloaded" in r.getMessage() and "refunds.cedar:" in r.getMessage()
               for r in caplog.records), caplog.text
    assert engine.bundle.hash == second  # the last good bundle still decides
    assert (await client.ask(refund(500)))[1]["status"] == "rejected"

    third = await changed({"refunds.cedar": SMALL}, than=second)
    assert third == first  # the first bundle's text again: its hash
    assert (await client.ask(refund(500)))[1]["status"] == "approved"
    assert len(await audit_events(worker, "policy_load_failed")) == 1  # once per distinct error


async def loaded(worker: Worker, bundle: str) -> bool:
    return any(e.get("bundle") == bundle for e in await audit_events(worker, "policy_loaded"))


async def health(worker: Worker) -> tuple[str, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/healthz") as response:
        text = await response.text()
    return text, json.loads(text)


async def test_every_worker_on_one_policy_dir_shows_the_same_hash_and_nothing_secret(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    folder = write_bundle(tmp_path / "policies", {"refunds.cedar": SMALL + NOT_ORDER_A1})
    env = bot_env(slack=slack, redis_url=redis_url, model_config=None, POLICY_DIR=str(folder))
    workers = [await start_worker(env, worker_id=f"w{n}") for n in range(2)]
    try:
        answers = await asyncio.gather(*(health(worker) for worker in workers))
        expected = {"bundle": load_bundle(folder).hash, "mode": "enforce"}
        assert [body["policy"] for _, body in answers] == [expected, expected]
        for text, _ in answers:
            for secret in (BOT_TOKEN, SIGNING_SECRET, str(folder), "xoxb-"):
                assert secret not in text, secret
        await until(lambda: loaded_by(workers[0], expected["bundle"]), what="both workers' policy_loaded")
    finally:
        for worker in workers:
            await worker.stop()


async def loaded_by(worker: Worker, bundle: str) -> bool:
    entries = [e for e in await audit_events(worker, "policy_loaded") if e.get("bundle") == bundle]
    return sorted(e["worker"] for e in entries) == ["w0", "w1"]
