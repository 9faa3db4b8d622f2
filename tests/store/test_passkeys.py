"""Passkeys in a real redis-server: one-time links (bound to a person, short-lived, taken once even in a race),
several passkeys per person, removal of one, revocation of all."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.core.passkeys import Passkey
from bot.store import Store
from bot.store.passkeys import ENROL

ALICE, BOB = "U0ALICE", "U0BOB"


def passkey(number: int = 0, name: str = "laptop", **changes: object) -> Passkey:
    fields: dict[str, object] = {
        "credential_id": f"cred{number:04d}-AAAAAAAAAAAAAAAA", "public_key": "pQECAyYgASFYIA", "sign_count": 0,
        "name": name, "created_at": 1_700_000_000.0 + number, "transports": ("internal",),
    }
    fields.update(changes)
    return Passkey(**fields)  # type: ignore[arg-type]


async def test_a_link_is_bound_to_its_person_and_lives_ten_minutes(store: Store) -> None:
    token = await store.passkeys.issue_token(ALICE)
    found = await store.passkeys.token(token)
    assert found is not None and (found.user, found.purpose, found.challenge) == (ALICE, ENROL, "")
    ttl = await store.redis.ttl(store.keys.stepup_token(token))
    assert 590 <= ttl <= 600
    assert store.keys.stepup_token(token) == f"hitl:stepup-token:{token}"
    assert await store.passkeys.token("not a token") is None
    assert await store.passkeys.token("A" * 43) is None  # well formed, never issued


async def test_a_challenge_is_kept_with_the_link_without_extending_it(store: Store) -> None:
    token = await store.passkeys.issue_token(ALICE, seconds=100)
    found = await store.passkeys.token(token)
    assert found is not None
    given = await store.passkeys.set_challenge(found, "Y2hhbGxlbmdl")
    assert given is not None and given.challenge == "Y2hhbGxlbmdl"
    assert 0 < await store.redis.ttl(store.keys.stepup_token(token)) <= 100
    again = await store.passkeys.token(token)
    assert again is not None and again.challenge == "Y2hhbGxlbmdl" and again.user == ALICE


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_an_expired_link_is_gone(store: Store) -> None:
    token = await store.passkeys.issue_token(ALICE, seconds=1)
    await asyncio.sleep(1.2)
    assert await store.passkeys.token(token) is None


async def test_a_link_enrols_once_even_in_a_race(store: Store) -> None:
    user = f"U0RACE{int(time.time() * 1000) % 100000}"
    token = await store.passkeys.issue_token(user)
    found = await store.passkeys.token(token)
    assert found is not None
    found = await store.passkeys.set_challenge(found, "Y2hhbGxlbmdl")
    assert found is not None
    results = await asyncio.gather(*(store.passkeys.enrol(found, passkey(i), most=10) for i in range(20)))
    assert results.count("stored") == 1 and set(results) == {"stored", "gone"}
    assert len(await store.passkeys.of(user)) == 1
    assert await store.passkeys.token(token) is None
    assert await store.passkeys.enrol(found, passkey(99), most=10) == "gone"  # the same link again


async def test_a_link_changed_since_it_was_read_does_not_enrol(store: Store) -> None:
    """A page that asked for new options meanwhile (a new challenge): the older read no longer takes the link."""
    token = await store.passkeys.issue_token(BOB)
    first = await store.passkeys.token(token)
    assert first is not None
    read = await store.passkeys.set_challenge(first, "b2xk")
    assert read is not None and await store.passkeys.set_challenge(read, "bmV3") is not None
    assert await store.passkeys.enrol(read, passkey(1), most=10) == "gone"
    assert await store.passkeys.token(token) is not None


async def test_several_passkeys_per_person_removed_one_by_one_or_all(store: Store) -> None:
    user = "U0SEVERAL"
    await store.passkeys.remove_all(user)
    for number, name in ((2, "phone"), (1, "laptop"), (3, "key")):
        token = await store.passkeys.issue_token(user)
        found = await store.passkeys.token(token)
        assert found is not None
        found = await store.passkeys.vouch(found, "a passkey's digest")  # (the first needs none: harmless)
        assert found is not None and await store.passkeys.enrol(found, passkey(number, name), most=10) == "stored"
    assert [p.name for p in await store.passkeys.of(user)] == ["laptop", "phone", "key"]  # the oldest first
    assert await store.passkeys.of("U0NOBODY") == []
    removed = await store.passkeys.remove(user, passkey(2).credential_id)
    assert removed is not None and removed.name == "phone" and removed.transports == ("internal",)
    assert await store.passkeys.remove(user, passkey(2).credential_id) is None
    assert await store.passkeys.remove(BOB, passkey(1).credential_id) is None  # not bob's
    assert sorted(p.name for p in await store.passkeys.remove_all(user)) == ["key", "laptop"]
    assert await store.passkeys.of(user) == []
    assert await store.passkeys.remove_all(user) == []
