"""Who is on call now (bot/people/oncall.py, issue 90) against the local on-call stand-in (bot/devoncall/, a real HTTP
server) and redis-server: each provider's shape read (PagerDuty, Opsgenie, Grafana OnCall) into person ids by verified
email; a provider down, slow, refusing the token or answering another shape is "cannot answer" (None), never an empty
list, counted by outcome; the one-minute cache read by every worker (in Redis), never keeping a failure."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from bot.devoncall.server import OnCallStandIn
from bot.people import EmailAccounts, People
from bot.people.oncall import OnCall
from bot.people.oncall_providers import (
    CannotAnswer,
    grafana_user_ids,
    opsgenie_emails,
    pagerduty_email,
    pagerduty_user_ids,
    provider,
)
from bot.store import Store

TOKEN = "s3cret-oncall-token"
ALICE, BOB = "alice@example.com", "bob@example.com"


@pytest.fixture
def standin() -> Iterator[OnCallStandIn]:
    with OnCallStandIn(token=TOKEN) as started:
        started.hand_over("payments", [ALICE])
        yield started


def lookups(counter: Counter, provider_name: str, outcome: str) -> float:
    return float(counter.labels(provider_name, outcome)._value.get())


def oncall(store: Store, standin: OnCallStandIn, name: str, *, token: str = TOKEN, cache: int = 60,
           timeout: float = 2.0) -> tuple[OnCall, Counter]:
    counter = Counter("hitl_oncall_lookups", "test", ["provider", "outcome"], registry=CollectorRegistry())
    people = People(store=store.people, accounts=[EmailAccounts()])
    found = OnCall(provider=provider(name, base=standin.base_url, token=token), people=people, kept=store.oncall,
                   timeout=timeout, cache_seconds=cache, counter=counter)
    return found, counter


@pytest.fixture(autouse=True)
async def fresh(store: Store) -> None:
    await store.redis.delete(store.keys.oncall("payments"), store.keys.oncall("nobody"))


@pytest.mark.parametrize("name", ["pagerduty", "opsgenie", "grafana"])
async def test_each_provider_says_who_is_on_call_as_person_ids(store: Store, standin: OnCallStandIn,
                                                               name: str) -> None:
    found, counter = oncall(store, standin, name)
    assert await found.now("payments") == [f"email:{ALICE}"]
    assert lookups(counter, name, "ok") == 1
    # the one whose verified email it is, when a person has it
    await store.people.claim_email(BOB, "U0BOB")
    standin.hand_over("payments", [BOB])
    await store.redis.delete(store.keys.oncall("payments"))
    assert await found.now("payments") == ["U0BOB"]


async def test_the_requests_are_the_providers_own(store: Store, standin: OnCallStandIn) -> None:
    for name in ("pagerduty", "opsgenie", "grafana"):
        await store.redis.delete(store.keys.oncall("payments"))
        assert await oncall(store, standin, name)[0].now("payments") is not None
    assert standin.calls == [
        "/oncalls?schedule_ids%5B%5D=payments&earliest=true", "/users/PALICE",
        "/v2/schedules/payments/on-calls?scheduleIdentifierType=name&flat=true",
        "/api/v1/schedules/payments/", "/api/v1/users/PALICE/",
    ]


@pytest.mark.parametrize("failing", ["down", "malformed"])
@pytest.mark.parametrize("name", ["pagerduty", "opsgenie", "grafana"])
async def test_a_provider_that_cannot_answer_is_none_and_never_kept(store: Store, standin: OnCallStandIn,
                                                                     name: str, failing: str) -> None:
    found, counter = oncall(store, standin, name)
    standin.failing = failing  # type: ignore[assignment]
    assert await found.now("payments") is None
    assert lookups(counter, name, "unavailable" if failing == "down" else "malformed") == 1
    assert await store.oncall.get("payments") is None  # a failure is not kept: the next lookup asks again
    standin.failing = None
    assert await found.now("payments") == [f"email:{ALICE}"]


@pytest.mark.slow  # (a timeout of a second)
async def test_a_bad_token_an_unknown_schedule_and_no_answer_in_time_cannot_answer(store: Store,
                                                                                  standin: OnCallStandIn) -> None:
    refused, counter = oncall(store, standin, "pagerduty", token="wrong")
    assert await refused.now("payments") is None
    assert await oncall(store, standin, "grafana")[0].now("nobody") is None  # 404: no such schedule
    assert lookups(counter, "pagerduty", "refused") == 1
    slow, counter = oncall(store, standin, "opsgenie", timeout=1)
    standin.failing = "slow"
    began = time.monotonic()
    assert await slow.now("payments") is None
    assert time.monotonic() - began < 5
    assert lookups(counter, "opsgenie", "unavailable") == 1


def test_each_shape_malformed_is_cannot_answer_never_an_empty_list() -> None:
    assert pagerduty_user_ids({"oncalls": [{"user": {"id": "PALICE"}}, {"user": {"id": "PALICE"}}]}) == ["PALICE"]
    assert pagerduty_user_ids({"oncalls": []}) == []  # nobody on call: an answer
    assert opsgenie_emails({"data": {"onCallRecipients": ["Alice@Example.com"]}}) == [ALICE]
    assert grafana_user_ids({"on_call_now": ["U4DNY931HHJS5"]}) == ["U4DNY931HHJS5"]
    for shape, body in [
        (pagerduty_user_ids, {"error": "x"}), (pagerduty_user_ids, {"oncalls": [{"user": None}]}),
        (pagerduty_user_ids, {"oncalls": "alice"}), (pagerduty_user_ids, [1]),
        (pagerduty_email, {"user": {"email": "not an email"}}), (pagerduty_email, {"user": {}}),
        (opsgenie_emails, {"data": {}}), (opsgenie_emails, {"data": {"onCallRecipients": [{"name": "x"}]}}),
        (opsgenie_emails, {"data": {"onCallRecipients": "alice@example.com"}}),
        (grafana_user_ids, {"id": "S1"}), (grafana_user_ids, {"on_call_now": [{"id": 1}]}),
        (grafana_user_ids, {"on_call_now": ["../admin"]}),
    ]:
        with pytest.raises(CannotAnswer) as raised:
            shape(body)
        assert raised.value.kind == "malformed", (shape, body)


async def test_the_answer_is_kept_a_minute_for_every_worker(store: Store, standin: OnCallStandIn) -> None:
    one, counter = oncall(store, standin, "pagerduty")
    other, _ = oncall(store, standin, "pagerduty")  # another worker's, on the same Redis
    assert await one.now("payments") == [f"email:{ALICE}"]
    asked = len(standin.calls)
    standin.hand_over("payments", [BOB])
    assert await other.now("payments") == [f"email:{ALICE}"]  # within the minute: as kept, the provider not asked
    assert await one.now("payments") == [f"email:{ALICE}"]
    assert len(standin.calls) == asked
    assert lookups(counter, "pagerduty", "cached") == 1
    ttl = await store.redis.ttl(store.keys.oncall("payments"))
    assert 55 <= ttl <= 60
    await store.redis.delete(store.keys.oncall("payments"))  # the minute over
    assert await one.now("payments") == [f"email:{BOB}"]


async def test_no_provider_or_a_bad_schedule_name_cannot_answer(store: Store) -> None:
    counter = Counter("hitl_oncall_lookups", "test", ["provider", "outcome"], registry=CollectorRegistry())
    none = OnCall(provider=None, people=People(store=store.people, accounts=[EmailAccounts()]), kept=store.oncall,
                  counter=counter)
    assert await none.now("payments") is None
    assert lookups(counter, "none", "unset") == 1

