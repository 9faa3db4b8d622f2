"""Web Push as a worker serves it (issue 90): a real worker with VAPID_PRIVATE_KEY, the local push service
(bot/devpush/: it checks each push's VAPID token and decrypts it with the device's keys), the local Slack playing the
company's identity provider and redis-server. Bob subscribes a device on his page; an ask for him is pushed to it
beside its card, a card Slack is slow to post holding no push (decrypted: the card's words, the two actions, no hidden
value and no argument); his Approve action opens the confirm
page, whose GET decides nothing and whose POST decides once (audited `surface: push`); a replayed action, another
person's session and an expired approval are refused and audited; a device whose push service answers 410 is
forgotten; a bad subscription is a 400 that keeps nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.devpush.service import PushService
from bot.devslack.server import SlackStandIn
from bot.store.push import Subscription
from tests.conftest import ALICE, BOB, CAROL, SALES, Worker
from tests.support.api import Client, tool_ask
from tests.support.hitl import until
from tests.support.mail import csrf_of, post
from tests.support.push import ORIGIN, SAME_SITE, device_of, subscribe
from tests.support.signin import browser, signed_in

SECRET = "sk_live_51HqLyjWDarjtT1zdp7dcXYZabcdefghijklmnop"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with browser() as session:
        yield session


@pytest.fixture
async def phone(pushing: Worker, push_service: PushService, http: aiohttp.ClientSession) -> dict[str, Any]:
    """#sales's approver Bob, signed in on his devices page (`http`), and his phone subscribed there."""
    assert await pushing.services.store.settings.set(SALES, "approvers", BOB, by="operator") is None
    return await device_of(http, pushing.url, push_service, person=BOB)


async def asked(worker: Worker, *, name: str = "nightly", **extra: Any) -> str:
    """An approval for the channel's approvers asked through the API, a secret in its arguments: its id."""
    key = await worker.services.store.api_keys.create(name, (SALES,), by="test")
    assert key is not None
    ask = tool_ask(tool={"name": "charge", "arguments": {"amount": 30, "api_key": SECRET}}, **extra)
    status, answer = await Client(worker, key.key).ask(ask)
    assert status == 201 and answer["status"] == "pending", answer
    return str(answer["id"])


async def audited(worker: Worker, event: str) -> list[dict[str, str]]:
    return [e for e in await worker.services.store.audit.entries() if e["event"] == event]


def sent(worker: Worker, outcome: str) -> float:
    found = worker.services.metrics.registry.get_sample_value("hitl_push_sent_total", {"outcome": outcome})
    return found or 0.0


@pytest.mark.slow  # a worker, its push loop and the local push service
async def test_an_ask_reaches_bob_by_push_and_his_approve_action_decides_once_on_the_confirm_page(
    pushing: Worker, push_service: PushService, http: aiohttp.ClientSession, phone: dict[str, Any],
    slack: SlackStandIn,
) -> None:
    store = pushing.services.store
    card = slack.hold("chat.postMessage")  # Slack slow to post the card: the push goes beside it, not after it
    asking = asyncio.create_task(asked(pushing))
    [got] = await push_service.arrived(phone["endpoint"], within=15)
    assert card.arrived.is_set() and not card.released.is_set() and not asking.done()  # the card not posted yet
    card.release()
    approval = await asking
    record = await store.approvals.get(approval)
    assert record is not None and SECRET not in record.arguments  # (hidden, as Redis keeps it)
    text = json.dumps(got.data, ensure_ascii=False)
    assert SECRET not in text and SECRET[:12] not in text and "amount" not in text  # no hidden value, no argument
    assert got.data["title"] == "Tell Bob about the prices" and got.data["approval"] == approval
    assert got.data["heading"] == "Waiting for your decision" and got.subject == "mailto:ops@example.com"
    actions = {a["action"]: a["url"] for a in got.data["actions"]}
    assert [a["title"] for a in got.data["actions"]] == ["Approve", "Reject"]
    assert actions["approve"].startswith(f"{ORIGIN}/push/{approval}/") and actions["approve"].endswith("?verb=approved")
    await until(lambda: sent(pushing, "sent") == 1, what="the push counted sent")
    url = pushing.url + actions["approve"].removeprefix(ORIGIN)
    for method in ("GET", "HEAD", "GET"):  # the page opened (a preview, the notification's click): nothing decided
        async with http.request(method, url, allow_redirects=False) as seen:
            assert seen.status == 200
    record = await store.approvals.get(approval)
    assert record is not None and record.status == "pending"
    token = await csrf_of(http, url)
    status, said, _ = await post(http, url, "approved", token)
    assert status == 200 and "Thank you" in said, said
    record = await store.approvals.get(approval)
    assert record is not None and record.status == "approved" and record.decided_by == BOB
    assert [(e["by"], e.get("surface")) for e in await audited(pushing, "decision")] == [(BOB, "push")]
    status, said, _ = await post(http, url, "rejected", token)  # the action replayed: refused, audited
    assert status == 410 and "used already" in said
    assert [(r["by"], r["approval"], r["reason"], r["surface"]) for r in await audited(pushing, "refused")] == [
        (BOB, approval, "push link: used", "push")]
    assert [(e["by"], e["surface"]) for e in await audited(pushing, "push_subscribed")] == [(BOB, "push")]


@pytest.mark.slow  # a worker, its push loop and the local push service
async def test_another_persons_session_and_an_expired_approval_are_refused_and_audited(
    pushing: Worker, push_service: PushService, http: aiohttp.ClientSession, phone: dict[str, Any],
) -> None:
    store = pushing.services.store
    first = await asked(pushing)
    [got] = await push_service.arrived(phone["endpoint"], within=15)
    path = got.data["url"].removeprefix(ORIGIN)
    async with browser() as carols:  # carol signs in and opens bob's action: refused, nothing shown or decided
        await signed_in(carols, pushing.url, path, person=CAROL)
        async with carols.get(pushing.url + path, allow_redirects=False) as page:
            assert page.status == 403 and "someone else" in await page.text()
    second = await asked(pushing, name="other", timeout=2)
    pushes = await push_service.arrived(phone["endpoint"], count=2, within=15)
    late = pushes[-1].data["url"]
    assert pushes[-1].data["approval"] == second

    async def timed_out() -> bool:
        record = await store.approvals.get(second)
        return record is not None and record.status == "timed_out"

    await until(timed_out, within=20, what="the approval timed out")
    async with http.get(pushing.url + late.removeprefix(ORIGIN), allow_redirects=False) as page:
        assert page.status == 410 and "expired" in await page.text()
    assert [(r["by"], r["approval"], r["reason"], r["surface"]) for r in await audited(pushing, "refused")] == [
        (CAROL, first, "push link: wrong_person", "push"), (BOB, second, "push link: expired", "push")]
    record = await store.approvals.get(first)
    assert record is not None and record.status == "pending"


@pytest.mark.slow  # a worker, its push loop and the local push service
async def test_a_device_gone_410_is_forgotten_and_the_other_gets_the_push(
    pushing: Worker, push_service: PushService, http: aiohttp.ClientSession, phone: dict[str, Any],
) -> None:
    store = pushing.services.store
    laptop = push_service.new_device("laptop")
    assert (await subscribe(http, pushing.url, laptop))[0] == 201
    assert len(await store.push.subscriptions(BOB)) == 2
    push_service.gone(phone["endpoint"])
    await asked(pushing)
    await push_service.arrived(laptop["endpoint"], within=15)
    await until(lambda: sent(pushing, "gone") == 1 and sent(pushing, "sent") == 1, what="counted: gone, sent")
    assert [s.endpoint for s in await store.push.subscriptions(BOB)] == [laptop["endpoint"]]
    assert push_service.pushes(phone["endpoint"]) == []
    assert [(e["person"], e["surface"]) for e in await audited(pushing, "push_gone")] == [(BOB, "push")]


@pytest.mark.slow  # a worker, its push loop and the local push service
async def test_a_device_whose_host_resolves_into_this_network_is_not_pushed_to_and_audited(
    pushing: Worker, push_service: PushService,
) -> None:
    store = pushing.services.store
    assert await store.settings.set(SALES, "approvers", BOB, by="operator") is None
    phone = push_service.new_device(BOB)
    for endpoint in ("https://127.1/push/kept-before", phone["endpoint"]):  # (kept when its name pointed elsewhere)
        kept = Subscription(endpoint=endpoint, p256dh=phone["keys"]["p256dh"], auth=phone["keys"]["auth"],
                            added=time.time())
        assert await store.push.subscribe(BOB, kept, limit=10) == "added"
    approval = await asked(pushing)
    [got] = await push_service.arrived(phone["endpoint"], within=15)  # his other device: pushed
    assert got.data["approval"] == approval
    [refused] = await until(lambda: audited(pushing, "push_refused"), within=10, what="the refusal audited")
    assert (refused["person"], refused["surface"]) == (BOB, "push")
    assert "private network" in refused["why"] and "127.1" not in refused["why"]  # (no endpoint in the audit)


@pytest.mark.slow  # a worker and the local push service
async def test_a_bad_subscription_is_a_400_that_keeps_nothing(
    pushing: Worker, push_service: PushService, http: aiohttp.ClientSession,
) -> None:
    store = pushing.services.store
    await signed_in(http, pushing.url, "/app/push", person=BOB)
    good = push_service.new_device()
    keys = good["keys"]
    bad: list[object] = [
        [], "x", {"keys": keys}, {"endpoint": good["endpoint"]},
        {**good, "endpoint": "http://push.example.com/x"},  # not https, not the local service
        {**good, "endpoint": "https://127.0.0.1/x"}, {**good, "endpoint": "https://10.0.0.8/x"},
        {**good, "endpoint": "https://localhost/x"}, {**good, "endpoint": "https://metadata.internal/x"},
        # names resolving (getaddrinfo) to loopback, a private network and the link-local metadata address
        {**good, "endpoint": "https://127.1/x"}, {**good, "endpoint": "https://10.8/x"},
        {**good, "endpoint": "https://169.254.43518/x"},
        {**good, "endpoint": "https://push.example.com/" + "a" * 2100},
        {**good, "keys": {**keys, "p256dh": keys["p256dh"][:-4]}},  # a key too short
        {**good, "keys": {**keys, "p256dh": "BA" + "A" * 85}},  # 65 bytes, not on the curve
        {**good, "keys": {**keys, "auth": keys["auth"] + "AAAA"}},  # auth not 16 bytes
        {**good, "keys": {**keys, "auth": "not base64!"}},
    ]
    for body in bad:
        status, answer = await subscribe(http, pushing.url, body)
        assert status == 400 and answer["error"], (body, answer)
    status, answer = await subscribe(http, pushing.url, {**good, "endpoint": "https://127.1/x"})
    assert "resolves to an address of a private network" in answer["error"]
    async with http.post(pushing.url + "/app/push/devices", data="{not json", headers={
            **SAME_SITE, "Content-Type": "application/json"}) as done:
        assert done.status == 400
    status, _ = await subscribe(http, pushing.url, good, headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403  # another site's page cannot make bob's browser subscribe
    assert await store.push.subscriptions(BOB) == []
    assert await audited(pushing, "push_subscribed") == []
    status, answer = await subscribe(http, pushing.url, good)  # the same, well formed: kept
    assert status == 201 and [s.endpoint for s in await store.push.subscriptions(BOB)] == [good["endpoint"]]
    async with http.get(pushing.url + "/app/push") as page:  # listed on his page, removable there
        assert page.status == 200 and answer["device"] in await page.text()
    async with http.post(pushing.url + "/app/push/devices/remove", json={"device": answer["device"]},
                         headers=SAME_SITE) as removed:
        assert removed.status == 200
    assert await store.push.subscriptions(BOB) == []
    assert ALICE  # (alice asks: tool_ask's requester)


@pytest.mark.slow  # a worker
async def test_the_web_app_is_served(pushing: Worker) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(pushing.url + "/app/manifest.webmanifest") as manifest:
            assert manifest.status == 200 and manifest.content_type == "application/manifest+json"
            assert (await manifest.json(content_type=None))["start_url"] == "/app/push"
        async with http.get(pushing.url + "/app/sw.js") as worker_js:
            text = await worker_js.text()
            assert worker_js.status == 200 and worker_js.content_type == "text/javascript"
            assert "notificationclick" in text and "openWindow" in text and "fetch(" not in text  # it never decides
