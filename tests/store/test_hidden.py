"""Hidden values (#68 item 3) in a real redis-server: sealed under SECRETS_KEY (never in the clear in Redis), bound to
their approval, readable after a rotation with the old key kept, refused with no key, gone when dropped."""

from __future__ import annotations

import base64

import pytest

from bot.core.sealing import SealError
from bot.store import Store
from bot.store.hidden import HiddenKeyMissing, HiddenKeyring

CARD, STRIPE = "4111111111111111", "sk_live_51HiddenValueForTests"
KEY1 = base64.b64encode(b"1" * 32).decode()
KEY2 = base64.b64encode(b"2" * 32).decode()


async def dump(store: Store) -> str:
    """Every key in Redis and its value (strings: what `put` writes)."""
    seen = ""
    async for key in store.redis.scan_iter(match="*"):
        value = await store.redis.get(key) if await store.redis.type(key) == "string" else ""
        seen += f"{key}={value}\n"
    return seen


async def test_values_are_sealed_at_rest_and_open_for_their_approval(store: Store) -> None:
    store.hidden.use(HiddenKeyring.from_setting(KEY1))
    values = {"$.payment.cards[0].number": CARD, "$.api_key": STRIPE}
    await store.hidden.put("A1", values, ttl_seconds=600)
    assert await store.hidden.get("A1") == values
    everything = await dump(store)
    assert "hidden:{A1}" in everything
    assert CARD not in everything and STRIPE not in everything
    assert 590 <= await store.redis.ttl(store.keys.hidden("A1")) <= 600


async def test_a_sealed_copy_moved_onto_another_approval_does_not_open(store: Store) -> None:
    store.hidden.use(HiddenKeyring.from_setting(KEY1))
    await store.hidden.put("A1", {"$.k": STRIPE}, ttl_seconds=60)
    await store.redis.set(store.keys.hidden("A2"), await store.redis.get(store.keys.hidden("A1")))
    with pytest.raises(SealError):
        await store.hidden.get("A2")


async def test_rotation_keeps_old_values_readable_and_seals_with_the_new_key(store: Store) -> None:
    store.hidden.use(HiddenKeyring.from_setting(f"k1:{KEY1}"))
    await store.hidden.put("A1", {"$.k": STRIPE}, ttl_seconds=60)
    store.hidden.use(HiddenKeyring.from_setting(f"k2:{KEY2},k1:{KEY1}"))
    assert await store.hidden.get("A1") == {"$.k": STRIPE}
    await store.hidden.put("A2", {"$.k": CARD}, ttl_seconds=60)
    assert (await store.redis.get(store.keys.hidden("A2"))).startswith("k2.")
    store.hidden.use(HiddenKeyring.from_setting(f"k2:{KEY2}"))
    with pytest.raises(SealError, match="k1"):
        await store.hidden.get("A1")


async def test_no_key_refuses_to_keep_values_and_drop_forgets_them(store: Store) -> None:
    store.hidden.use(None)  # (the fixture's store has the workers' SECRETS_KEY)
    with pytest.raises(HiddenKeyMissing):
        await store.hidden.put("A1", {"$.k": STRIPE}, ttl_seconds=60)
    assert await store.redis.exists(store.keys.hidden("A1")) == 0
    store.hidden.use(HiddenKeyring.from_setting(KEY1))
    await store.hidden.put("A1", {"$.k": STRIPE}, ttl_seconds=60)
    await store.hidden.drop("A1")
    assert await store.hidden.get("A1") is None


def test_a_bad_setting_names_the_problem_never_the_key() -> None:
    with pytest.raises(ValueError, match="twice"):
        HiddenKeyring.from_setting(f"k1:{KEY1},k1:{KEY2}")
    with pytest.raises(ValueError, match="32 random bytes") as caught:
        HiddenKeyring.from_setting("k1:c2hvcnQ=")
    assert "c2hvcnQ" not in str(caught.value)
