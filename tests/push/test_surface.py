"""The push surface on a test's store (bot/push/surface.py, sender.py, issue 90), sending through the local push service
(bot/devpush/) with the tests' redis-server: an approval opened pushes each approver with a device at once and once (a
person without one is left out; due again, a drain pushes nothing more), a reminder pushes its own, `reach` says who was
pushed, a parked approval (timeout `never`) says so and who holds it, a push service refusing for now keeps the push due
at its retry time then gives it up (audited, counted); VAPID_PRIVATE_KEY read and refused without SECRETS_KEY or
VAPID_SUBJECT, never shown."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from bot.approvals.events import ApprovalOpened, Nudged
from bot.approvals.opening import Opened
from bot.core.metrics import Metrics
from bot.core.records import ApprovalRecord
from bot.core.settings import Settings, SettingsError
from bot.devpush.service import PushService
from bot.devslack.server import SlackStandIn
from bot.push.surface import PushSurface
from bot.root import create_services
from bot.runs.supervisor import Drain
from bot.services import due_parts
from bot.store import Store
from bot.store.push import Subscription
from tests.conftest import bot_env
from tests.support.hitl import until
from tests.support.mail import KEY
from tests.support.push import SUBJECT, surface_of, vapid_private
from tests.support.records import approval

BOB, CAROL = "U0BOB", "U0CAROL"


async def device(store: Store, service: PushService, person: str) -> str:
    """A device of `person` kept (as their page posts it): its endpoint."""
    made = service.new_device(person)
    kept = Subscription(endpoint=made["endpoint"], p256dh=made["keys"]["p256dh"], auth=made["keys"]["auth"],
                        added=time.time())
    assert await store.push.subscribe(person, kept, limit=10) == "added"
    return str(made["endpoint"])


async def opened(store: Store, surface: PushSurface) -> ApprovalRecord:
    record = replace(approval(), approvers=(BOB, CAROL), required_approvals=2)
    assert await store.approvals.create(record) == "ok"
    surface.listener(ApprovalOpened(run=None, request=None, answer=Opened("ok", record.id)))  # type: ignore[arg-type]
    return record


async def not_due(store: Store, approval_id: str) -> bool:
    return await store.push_due.at(approval_id) is None


@pytest.mark.slow  # the local push service's thread, several pushes
async def test_an_approval_opened_pushes_each_approver_with_a_device_once_and_reminders_their_own(
    store: Store, push_service: PushService,
) -> None:
    surface, _ = surface_of(store, local=push_service.url)
    phone = await device(store, push_service, BOB)  # carol has no device: left out
    record = await opened(store, surface)
    [got] = await push_service.arrived(phone)  # at once, not at the due loop's next turn
    assert got.data["kind"] == "opened" and got.data["url"].startswith(f"https://approvals.example.com/push/{record.id}/")
    await until(lambda: not_due(store, record.id), what="out of the due set once sent")
    await surface.due(record.id)  # due again (another worker, a restart): pushed once all the same
    await surface.drain()
    await until(lambda: not_due(store, record.id), what="out of the due set")
    assert len(push_service.pushes(phone)) == 1
    surface.listener(Nudged(approval=record, kind="remind", number=1, people=(BOB, CAROL)))
    [_, reminder] = await push_service.arrived(phone, count=2)
    assert reminder.data["heading"].startswith("Reminder") and reminder.data["url"] != got.data["url"]
    surface.listener(Nudged(approval=record, kind="escalate", number=0, people=(BOB,)))
    [*_, escalated] = await push_service.arrived(phone, count=3)
    assert escalated.data["heading"].startswith("Escalated")


@pytest.mark.slow  # the local push service's thread
async def test_a_parked_approval_is_pushed_saying_it_is_parked_and_who_holds_it(
    store: Store, push_service: PushService,
) -> None:
    surface, _ = surface_of(store, local=push_service.url)
    phone = await device(store, push_service, BOB)
    parked = replace(approval("a1b2c3d4-0001"), approvers=(BOB, CAROL), timeout_seconds=0)  # timeout `never`
    timed = replace(approval("a1b2c3d4-0002"), approvers=(BOB,))
    for record in (parked, timed):
        assert await store.approvals.create(record) == "ok"
        assert await surface.reach(record, [BOB]) == [BOB]
    got = {p.data["approval"]: p.data for p in await push_service.arrived(phone, count=2)}
    assert got[parked.id]["parked"] == f"Never times out: parked, held by {BOB} or {CAROL} until decided"
    assert got[timed.id]["parked"] == ""  # one that times out says nothing of it


@pytest.mark.slow  # the local push service's thread
async def test_reach_pushes_now_and_says_who_was_pushed(store: Store, push_service: PushService) -> None:
    surface, _ = surface_of(store, local=push_service.url)
    phone = await device(store, push_service, BOB)
    record = replace(approval(), approvers=(BOB, CAROL))
    assert await store.approvals.create(record) == "ok"
    assert await surface.reach(record, [BOB, CAROL, "S0GROUP"]) == [BOB]  # carol and a group: no device
    [got] = await push_service.arrived(phone)
    assert got.data["approval"] == record.id and got.data["kind"] == "reached"
    assert await surface.reach(record, [BOB]) == [BOB]  # reached already: not pushed twice
    assert len(push_service.pushes(phone)) == 1
    decided = replace(record, status="approved")
    assert await surface.reach(decided, [BOB]) == []  # a decided approval pushes nothing


@pytest.mark.slow  # the local push service's thread, retries
async def test_a_push_service_refusing_keeps_it_due_then_gives_up_audited(store: Store,
                                                                          push_service: PushService) -> None:
    push_service.refusing = True  # 503 to every push
    metrics = Metrics()
    surface, _ = surface_of(store, metrics=metrics, retries=(0.2,), local=push_service.url)
    phone = await device(store, push_service, BOB)
    record = await opened(store, surface)
    await until(lambda: metrics.registry.get_sample_value("hitl_push_sent_total", {"outcome": "retry"}),
                what="a retry counted")
    soon = time.time() + 5  # due again at its retry time (0.2 s), not at the claim's lease's end (60 s)

    async def due_soon() -> bool:
        at = await store.push_due.at(record.id)
        return at is not None and at < soon

    assert await until(due_soon, what="due again at its retry time")

    async def drained_away() -> bool:
        await surface.drain()
        return await not_due(store, record.id)

    await until(drained_away, what="given up after its retries")
    entries = [e for e in await store.audit.entries() if e.get("event") == "push_given_up"]
    assert [(e["approval"], e["person"], e["kind"], e["surface"]) for e in entries] == [
        (record.id, BOB, "opened", "push")]
    assert metrics.registry.get_sample_value("hitl_push_sent_total", {"outcome": "failed"}) == 1
    assert push_service.pushes(phone) == []
    assert [s.endpoint for s in await store.push.subscriptions(BOB)] == [phone]  # refusing for now: not gone


def test_the_root_pushes_only_with_vapid_private_key_read_and_refused_without_its_needs(slack: SlackStandIn) -> None:
    env = bot_env(slack=slack, redis_url="redis://127.0.0.1:1/0", model_config=None)
    key = vapid_private()
    push = {"VAPID_PRIVATE_KEY": key, "VAPID_SUBJECT": SUBJECT}
    with_push = create_services(Settings.from_env({**env, **push, "SECRETS_KEY": KEY}))
    assert with_push.push is not None and isinstance(due_parts(with_push)["push"], Drain)
    without = create_services(Settings.from_env(env))
    assert without.push is None and "push" not in due_parts(without)
    with pytest.raises(SettingsError, match="VAPID_PRIVATE_KEY: push actions' links need SECRETS_KEY"):
        create_services(Settings.from_env({**{k: v for k, v in env.items() if k != "SECRETS_KEY"}, **push}))
    for wrong, said in (({"VAPID_SUBJECT": ""}, "needs VAPID_SUBJECT"),
                        ({"VAPID_PRIVATE_KEY": key[:-4]}, "not a P-256 private key"),
                        ({"VAPID_PRIVATE_KEY": "not base64 at all!"}, "base64url")):
        with pytest.raises(SettingsError, match=said) as refused:
            Settings.from_env({**env, **push, **wrong})
        assert key not in str(refused.value) and key[:12] not in str(refused.value)
