"""The plane watches its own audit log (bot/audit/watch.py), as a user runs it: `python -m bot` workers on a real
Redis, the log edited there by hand (an entry altered, the tail deleted, a checkpoint forged) or the checkpoint
writer's process stopped (SIGSTOP); the alert lands in ALERTS_CHANNEL on the local Slack and at a test server that
checks the webhook's signature, within a minute and once, with the metric; its clearing is said too."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.core.key_files import ensure_keys_file
from bot.devslack.model import DevChannel
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import reply_text
from tests.support.audit_log import entries, rewrite
from tests.support.cluster import Cluster, WorkerProcess, command_on, worker_id

pytestmark = pytest.mark.slow

ALERTS = "C0RANDOM"
SECRET = "alert-webhook-secret"
WITHIN = 60.0  # the minute


@dataclass
class AlertReceiver:
    """A test HTTP server for ALERT_WEBHOOK_URL: keeps each POST whose `X-Approvals-Signature` verifies."""

    received: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        stamp = request.headers.get("X-Approvals-Timestamp", "")
        want = "v1=" + hmac.new(SECRET.encode(), b"v1:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, request.headers.get("X-Approvals-Signature", "")):
            self.rejected += 1
            return web.Response(status=401)
        self.received.append(json.loads(body))
        return web.Response(status=200)


@pytest.fixture
async def receiver() -> AsyncIterator[AlertReceiver]:
    got = AlertReceiver()
    app = web.Application()
    app.router.add_post("/alerts", got.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    got.url = f"http://127.0.0.1:{runner.addresses[0][1]}/alerts"
    yield got
    await runner.cleanup()


def watched_env(tmp: Path, receiver: AlertReceiver, **more: str) -> dict[str, str]:
    keys = tmp / "keys.json"
    ensure_keys_file(keys)
    return {"SIGNING_KEYS_FILE": str(keys), "AUDIT_CHECKPOINT_INTERVAL": "1s", "AUDIT_WATCH_INTERVAL": "1s",
            "AUDIT_WATCH_FULL": "1s", "AUDIT_STALLED_AFTER": "3s", "ALERTS_CHANNEL": ALERTS,
            "ALERT_WEBHOOK_URL": receiver.url, "ALERT_WEBHOOK_SECRET": SECRET, **more}


async def until(check: Callable[[], Awaitable[bool]], *, within: float = WITHIN, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(0.1)


def alerts(slack: SlackStandIn, said: str) -> list[str]:
    return [m.get("text", "") for m in slack.messages(ALERTS) if said in m.get("text", "")]


async def metric(worker: WorkerProcess, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/metrics") as response:
        text = await response.text()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def logged(store: Store, count: int) -> None:
    for n in range(count):
        await store.audit.append("settings", channel="C0SALES", key="k", value=str(n), by="U0BOB")


async def verified_to_the_end(store: Store) -> None:
    """Entries written, signed and verified by the watcher up to the log's counter."""
    await logged(store, 5)

    async def caught_up() -> bool:
        return int((await store.audit.watched()).get("seq") or 0) >= (await store.audit.counter() or 0)

    await until(caught_up, what="the watcher verifies the newest checkpoint")


async def looked_again(store: Store, *, times: int) -> None:
    """The watcher ended `times` more looks (each keeps when it ended)."""
    seen: set[str] = set()

    async def looked() -> bool:
        seen.add((await store.audit.watched()).get("looked", ""))
        return len(seen) > times

    await until(looked, within=30, what=f"{times} more looks")


async def said_once(
    slack: SlackStandIn, receiver: AlertReceiver, worker: WorkerProcess, store: Store, kind: str
) -> None:
    """The finding of `kind` said in the channel and by the signed webhook within a minute, counted by the metric,
    and not said again over the next looks."""
    title = f"Audit log integrity: {kind}*"

    async def said() -> bool:
        return bool(alerts(slack, title)) and any(r.get("kind") == kind for r in receiver.received)

    await until(said, what=f"the {kind} alert in {ALERTS} and at the webhook")
    message = alerts(slack, title)[0]
    assert "Since: " in message and "python -m bot audit verify" in message, message
    webhook = next(r for r in receiver.received if r.get("kind") == kind)
    assert webhook["event"] == "audit_finding" and webhook["check"] == "python -m bot audit verify"
    assert receiver.rejected == 0
    name = f'hitl_audit_integrity_findings_total{{kind="{kind}"}}'

    async def counted() -> bool:
        return await metric(worker, name) == 1

    await until(counted, within=10, what=f"{name} is 1")
    await looked_again(store, times=3)  # three more looks: still said once
    assert len(alerts(slack, title)) == 1
    assert [r["kind"] for r in receiver.received if r["event"] == "audit_finding"].count(kind) == 1


async def test_an_entry_altered_by_hand_is_alerted_once_then_its_clearing(
    cluster: Cluster, slack: SlackStandIn, store: Store, receiver: AlertReceiver, tmp_path: Path
) -> None:
    worker = await cluster.start(**watched_env(tmp_path, receiver))
    await verified_to_the_end(store)
    seq = int((await store.audit.watched())["seq"])
    assert f"Audit log: verified to seq {seq:,} (<!date^" in reply_text(await command_on(slack, worker, "status"))
    before = await entries(store)
    at = len(before) - 3
    changed = [(i, {**f, "value": "forged"}) if n == at else (i, f) for n, (i, f) in enumerate(before)]
    await rewrite(store, changed)
    await said_once(slack, receiver, worker, store, "altered")
    assert "*integrity findings:* altered" in reply_text(await command_on(slack, worker, "status"))
    await rewrite(store, before)  # put back as it was: the next look finds it intact

    async def cleared() -> bool:
        return bool(alerts(slack, "Audit log integrity: altered cleared*")) and any(
            r["event"] == "audit_cleared" for r in receiver.received)

    await until(cleared, what="the clearing in the channel and at the webhook")
    assert "integrity findings" not in reply_text(await command_on(slack, worker, "status"))


async def test_the_tail_deleted_by_hand_is_alerted(
    cluster: Cluster, slack: SlackStandIn, store: Store, receiver: AlertReceiver, tmp_path: Path
) -> None:
    worker = await cluster.start(**watched_env(tmp_path, receiver))
    await verified_to_the_end(store)
    await logged(store, 3)
    newest = await entries(store)
    await store.redis.xdel(store.keys.audit, *[i for i, _ in newest[-2:]])
    await said_once(slack, receiver, worker, store, "deleted")


async def test_an_entry_deleted_long_after_it_was_verified_is_alerted_within_a_look_and_a_second_one_too(
    cluster: Cluster, slack: SlackStandIn, store: Store, receiver: AlertReceiver, tmp_path: Path
) -> None:
    """No full look for an hour: each look's count of the whole log finds an old entry gone (#76.5)."""
    worker = await cluster.start(**watched_env(tmp_path, receiver, AUDIT_WATCH_FULL="1h"))
    await verified_to_the_end(store)
    log = await entries(store)
    await store.redis.xdel(store.keys.audit, log[2][0])
    await said_once(slack, receiver, worker, store, "deleted")
    await store.redis.xdel(store.keys.audit, log[-2][0])  # another, of the same kind: said too

    async def said_twice() -> bool:
        return len(alerts(slack, "Audit log integrity: deleted*")) == 2 and [
            r["kind"] for r in receiver.received if r["event"] == "audit_finding"].count("deleted") == 2

    await until(said_twice, within=15, what="the second deletion said")
    assert "2 entries are gone" in alerts(slack, "Audit log integrity: deleted*")[1]
    await looked_again(store, times=3)
    assert len(alerts(slack, "Audit log integrity: deleted*")) == 2
    assert not alerts(slack, "cleared*")


async def test_a_checkpoint_forged_by_hand_is_alerted(
    cluster: Cluster, slack: SlackStandIn, store: Store, receiver: AlertReceiver, tmp_path: Path
) -> None:
    worker = await cluster.start(**watched_env(tmp_path, receiver))
    await verified_to_the_end(store)
    stored = await store.audit.checkpoints()
    forged = [*stored[:-1], (stored[-1][0], {**stored[-1][1], "head": "00" * 32})]
    await rewrite(store, forged, key=store.keys.audit_checkpoints)
    await said_once(slack, receiver, worker, store, "forged")


async def test_the_checkpoint_writer_stopped_is_alerted_as_stalled(
    cluster: Cluster, slack: SlackStandIn, store: Store, receiver: AlertReceiver, tmp_path: Path
) -> None:
    env = watched_env(tmp_path, receiver)
    writer = await cluster.start(**env)
    await verified_to_the_end(store)
    assert await store.redis.get(store.keys.audit_lease) == await worker_id(writer)
    # the other worker takes the leases once they lapse, but signs nothing for an hour: the writer stays stopped
    other = await cluster.start(**{**env, "AUDIT_CHECKPOINT_INTERVAL": "1h", "AUDIT_CHECKPOINT_EVERY": "1000000"})
    writer.process.send_signal(signal.SIGSTOP)
    try:
        await logged(store, 3)
        await said_once(slack, receiver, other, store, "stalled")
        message = alerts(slack, "Audit log integrity: stalled*")[0]
        assert "the checkpoint writer" in message
    finally:
        writer.process.send_signal(signal.SIGCONT)


async def test_a_stalled_writer_is_alerted_even_when_another_worker_takes_over_its_signing(
    cluster: Cluster, slack: SlackStandIn, store: Store, receiver: AlertReceiver, tmp_path: Path
) -> None:
    """#87.3: two workers alike, as an operator runs them (both sign; AUDIT_STALLED_AFTER its default, 5 min): the
    one holding the writer's lease is stopped (SIGSTOP) and its lease left to expire; the other takes it over and
    signs, so no entry waits unsigned for long, and still the stall is said in ALERTS_CHANNEL, naming the worker
    lost, within the issue's 100 s, whichever of them held the watch's lease."""
    env = {**watched_env(tmp_path, receiver), "AUDIT_STALLED_AFTER": "5m"}
    first = await cluster.start(**env)
    await verified_to_the_end(store)
    second = await cluster.start(**env)
    holder = await store.redis.get(store.keys.audit_lease)
    ids = {await worker_id(first): first, await worker_id(second): second}
    stopped = ids[holder]
    [other] = [w for w in ids.values() if w is not stopped]
    stopped.process.send_signal(signal.SIGSTOP)
    try:
        await logged(store, 3)
        await said_once(slack, receiver, other, store, "stalled")
        message = alerts(slack, "Audit log integrity: stalled*")[0]
        assert f"worker {holder} held its lease and stopped renewing it" in message, message
        assert f"worker {await worker_id(other)} took it over" in message, message

        async def signed_on() -> bool:  # the other signs meanwhile: the log is not left unsigned
            newest = await store.audit.last_checkpoint()
            return newest is not None and int(newest[1]["seq"]) >= (await store.audit.counter() or 0)

        await until(signed_on, within=30, what="the other worker signs the entries")
    finally:
        stopped.process.send_signal(signal.SIGCONT)


async def test_an_alerts_channel_the_bot_is_not_in_stops_the_start(
    cluster: Cluster, receiver: AlertReceiver, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError, match="ALERTS_CHANNEL C0NOSUCH: Slack says channel_not_found"):
        await cluster.start(**watched_env(tmp_path, receiver, ALERTS_CHANNEL="C0NOSUCH"))
    cluster.slack.add_channel(DevChannel(id="C0OUTSIDE", name="outside", bot_member=False))
    with pytest.raises(RuntimeError, match="ALERTS_CHANNEL C0OUTSIDE: the bot is not in this channel"):
        await cluster.start(**watched_env(tmp_path, receiver, ALERTS_CHANNEL="C0OUTSIDE"))
    unsigned = {**watched_env(tmp_path, receiver), "ALERT_WEBHOOK_SECRET": ""}
    with pytest.raises(RuntimeError, match="ALERT_WEBHOOK_URL is set but ALERT_WEBHOOK_SECRET is not"):
        await cluster.start(**unsigned)
    with pytest.raises(RuntimeError, match="ALERTS_CHANNEL must be a channel id"):
        await cluster.start(**watched_env(tmp_path, receiver, ALERTS_CHANNEL="#ops"))


async def test_a_worker_started_while_slack_is_unreachable_stays_up_and_checks_the_alerts_channel_once_slack_answers(
    cluster: Cluster,
) -> None:
    """#76.7: ALERTS_CHANNEL is checked as `auth.test` is: a Slack outage during a deploy is no crash loop. The
    worker starts with nothing listening at SLACK_API_URL, stays up and ready (Slack is a surface: #87), /readyz
    saying "alerts" not checked, and checks it once Slack answers, asking again itself."""
    slack = cluster.slack
    port = int(slack.api_url.split(":")[2].split("/")[0])
    await slack.stop()  # Slack unreachable: nothing listens at SLACK_API_URL
    worker = await cluster.start(ALERTS_CHANNEL=ALERTS)
    async with aiohttp.ClientSession() as http:
        async with http.get(worker.url + "/readyz") as response:
            assert response.status == 200, await response.text()
            ready = await response.json()
        assert ready["failing"] == [] and ready["alerts"].startswith("not checked"), ready
        assert worker.process.poll() is None
        await slack.start(port=port)  # Slack answers again

        async def checked() -> bool:
            async with http.get(worker.url + "/readyz") as response:
                return response.status == 200 and (await response.json())["alerts"] == f"ok: {ALERTS}"
        await until(checked, what="ALERTS_CHANNEL checked once Slack answers")
    assert worker.process.poll() is None
    logged = worker.log.read_text()
    assert "Traceback" not in logged and "ALERTS_CHANNEL C0RANDOM: Slack did not answer" in logged, logged[-3000:]
