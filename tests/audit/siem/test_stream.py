"""The audit stream into a SIEM, from a real worker (issue 91): each entry reaches the receiver as a valid OCSF event,
in order; a receiver down, or refusing the token, loses nothing and shows in the metrics (the lag, the failures by
reason) until it accepts; a restart goes on from the cursor without sending anything again; syslog over TLS with the
receiver's own CA; a secret in an ask's arguments is never in an event."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import Worker, bot_env, start_worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import until
from tests.support.metrics_table import scrape
from tests.support.siem import HEC_TOKEN, HecReceiver, SyslogReceiver, in_order, ocsf_checked
from tests.support.tls import self_signed

pytestmark = pytest.mark.slow  # a worker and the receivers: several seconds each


@pytest.fixture
async def hec() -> AsyncIterator[HecReceiver]:
    receiver = HecReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


async def streaming(slack: SlackStandIn, redis_url: str, **siem: str) -> Worker:
    return await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, **siem))


async def gauges(worker: Worker) -> dict[str, float]:
    text = await scrape(worker)
    return {m.group(1): float(m.group(2)) for m in
            re.finditer(r"^(hitl_audit_siem_\w+(?:\{[^}]*\})?) (\S+)$", text, re.M)}


async def write(store: Store, n: int, *, start: int = 0) -> None:
    for i in range(start, start + n):
        await store.audit.append("decision", by="U1", approval=f"A{i}", outcome="approved")


async def test_the_receiver_down_then_up_loses_nothing(slack: SlackStandIn, redis_url: str, store: Store,
                                                       hec: HecReceiver) -> None:
    worker = await streaming(slack, redis_url, AUDIT_SIEM_URL=hec.url, AUDIT_SIEM_TOKEN=HEC_TOKEN, AUDIT_SIEM_BATCH="7")
    try:
        await write(store, 20)
        await until(lambda: len({e["metadata"]["uid"] for e in hec.events}) >= 20, within=20, what="first entries")
        await hec.stop()
        await write(store, 30, start=20)
        await until(lambda: _failed(worker, "unavailable"), within=20, what="the failure counted")
        said = await gauges(worker)
        assert said["hitl_audit_siem_lag_entries"] >= 30 and said["hitl_audit_siem_lag_seconds"] > 0, said
        await hec.start()  # the same port
        counter = await store.audit.counter()
        await until(lambda: len(set(in_order(hec.events))) >= (counter or 0), within=60, what="all delivered")
        assert in_order(hec.events) == list(range(1, (counter or 0) + 1))
        for event in hec.events:
            ocsf_checked(event)
        await until(lambda: _lag_zero(worker), within=10, what="the lag back to 0")
    finally:
        await worker.stop()


async def _failed(worker: Worker, reason: str) -> bool:
    return (await gauges(worker)).get(f'hitl_audit_siem_failures_total{{reason="{reason}"}}', 0) > 0


async def _health(worker: Worker) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/healthz") as response:
        return dict((await response.json())["audit_siem"])


async def _health_clear(worker: Worker) -> dict[str, Any] | None:
    health = await _health(worker)
    return health if health["failing"] == "" and health["lag_entries"] == 0 else None


async def _lag_zero(worker: Worker) -> bool:
    said = await gauges(worker)
    return said["hitl_audit_siem_lag_entries"] == 0 and said["hitl_audit_siem_lag_seconds"] == 0


async def test_a_wrong_token_is_counted_and_loses_nothing(slack: SlackStandIn, redis_url: str, store: Store,
                                                          hec: HecReceiver, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "wrong-token-7f3a9c"
    caplog.set_level(logging.DEBUG)
    worker = await streaming(slack, redis_url, AUDIT_SIEM_URL=hec.url, AUDIT_SIEM_TOKEN=wrong)
    try:
        await write(store, 25)
        await until(lambda: _failed(worker, "refused"), within=20, what="the refusal counted")
        assert hec.events == [] and hec.refused >= 1
        assert (await gauges(worker))["hitl_audit_siem_lag_entries"] >= 25
        assert "403" in caplog.text and wrong not in caplog.text
        health = await _health(worker)
        assert health["lag_entries"] >= 25 and health["delivered_through"] is None, health
        assert "403" in health["failing"] and wrong not in json.dumps(health), health
        assert health["streaming"] == worker.services.worker_id
        hec.token = wrong  # the HEC's token fixed: the backlog goes, in order
        counter = await store.audit.counter()
        await until(lambda: set(in_order(hec.events)) >= set(range(1, (counter or 0) + 1)), within=60,
                    what="the backlog delivered")
        assert in_order(hec.events)[:counter] == list(range(1, (counter or 0) + 1))
        health = await until(lambda: _health_clear(worker), within=10, what="/healthz clear")
        assert health["delivered_through"] >= (counter or 0), health
    finally:
        await worker.stop()


async def test_a_restart_goes_on_from_the_cursor_into_a_file(slack: SlackStandIn, redis_url: str, store: Store,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "audit.ocsf.jsonl"
    siem = {"AUDIT_SIEM_URL": out.as_uri()}

    def lines() -> list[dict[str, object]]:
        return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []

    worker = await streaming(slack, redis_url, **siem)
    try:
        await write(store, 30)
        await until(lambda: len(lines()) >= 30, within=20, what="30 lines")
    finally:
        await worker.stop()
    await write(store, 10, start=30)  # written while no worker streams
    worker = await streaming(slack, redis_url, **siem)
    try:
        counter = await store.audit.counter()
        await until(lambda: len(lines()) >= (counter or 0), within=20, what="the rest")
        events = [ocsf_checked(event) for event in lines()]  # type: ignore[arg-type]
        seqs = [event["metadata"]["sequence"] for event in events]
        assert seqs == list(range(1, (counter or 0) + 1)), seqs  # nothing lost, nothing sent twice
    finally:
        await worker.stop()


async def test_syslog_over_tls_with_the_receivers_ca(slack: SlackStandIn, redis_url: str, store: Store,
                                                     tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    receiver = SyslogReceiver(cert, key)
    await receiver.start()
    url = f"syslog+tls://127.0.0.1:{receiver.port}"
    untrusting = await streaming(slack, redis_url, AUDIT_SIEM_URL=url)  # the system's CAs: the certificate refused
    try:
        await store.audit.append("refused", by="U9", reason="outsider", approval="A0")
        await until(lambda: _failed(untrusting, "refused"), within=20, what="the certificate refused")
        assert receiver.messages == []
    finally:
        await untrusting.stop()
    worker = await streaming(slack, redis_url, AUDIT_SIEM_URL=url, AUDIT_SIEM_CA_FILE=str(cert))
    try:
        await write(store, 12)
        counter = await store.audit.counter()
        await until(lambda: len(receiver.messages) >= (counter or 0), within=20, what="the messages")
        assert [ocsf_checked(body)["metadata"]["sequence"] for *_, body in receiver.messages] == list(
            range(1, (counter or 0) + 1))
        pri, msgid, data, body = receiver.messages[0]
        assert (pri, msgid, data) == (13 * 8 + 4, "refused", '[meta sequenceId="1"]')
        assert body["status_id"] == 2 and body["status_detail"] == "outsider"
        assert {m[0] for m in receiver.messages[1:]} == {13 * 8 + 6}
    finally:
        await worker.stop()
        await receiver.stop()


STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
PIN = "orchid-7391-lantern"  # a writeOnly field's value: no detector knows it


async def test_no_secret_of_an_ask_is_in_an_event(slack: SlackStandIn, redis_url: str, store: Store,
                                                  hec: HecReceiver) -> None:
    worker = await streaming(slack, redis_url, AUDIT_SIEM_URL=hec.url, AUDIT_SIEM_TOKEN=HEC_TOKEN)
    try:
        made = await new_key(worker)
        body = tool_ask()
        body["tool"] = {"name": "refund", "arguments": {"order": "A-77", "gateway": {"stripe": STRIPE}, "pin": PIN},
                        "schema": {"type": "object", "properties": {"pin": {"type": "string", "writeOnly": True}}}}
        status, answer = await Client(worker, made.key).ask(body)
        assert status == 201, answer
        asked = await until(lambda: [e for e in hec.events if e["api"]["operation"] == "requested"], within=20,
                            what="the request's event")
        sent = json.dumps(hec.events)
        assert STRIPE not in sent and PIN not in sent
        assert asked[0]["api"]["request"]["uid"] == answer["id"] and "hidden" in asked[0]["unmapped"]
        ocsf_checked(asked[0])
    finally:
        await worker.stop()
