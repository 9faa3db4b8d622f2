"""An approval's cards in Teams (bot/store/msteams.py): a conversation's card claimed by one poster at a time (a claim
that ran out, its poster dead, taken over), noted once posted, released when Teams refused it (never a card noted).
Real redis-server."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bot.core.msteams import TeamsCopy
from bot.store import Store
from bot.store import msteams as msteams_store

CHANNEL, CHAT = "19:abc@thread.tacv2", "a:personal-1"


async def test_one_poster_claims_a_conversations_card_and_its_note_is_the_copy(store: Store) -> None:
    teams = store.msteams
    claims = await asyncio.gather(*(teams.claim_copy("ap1", CHANNEL, lease=30) for _ in range(8)))
    assert sorted(claims) == ["busy"] * 7 + ["claimed"]  # eight posters at once: one posts, the others look later
    assert await teams.copies("ap1") == []  # a claim is no copy
    await teams.note_copy("ap1", TeamsCopy(CHANNEL, "act-1"))
    assert await teams.copies("ap1") == [TeamsCopy(CHANNEL, "act-1")]
    assert await teams.claim_copy("ap1", CHANNEL, lease=0) == "posted"  # posted: never again, however late
    await teams.release_copy("ap1", CHANNEL)  # (a late release never drops a card)
    assert await teams.copies("ap1") == [TeamsCopy(CHANNEL, "act-1")]
    assert await teams.claim_copy("ap1", CHAT, lease=30) == "claimed"  # another conversation is its own
    await teams.release_copy("ap1", CHAT)  # Teams refused it: the next try claims it at once
    assert await teams.claim_copy("ap1", CHAT, lease=30) == "claimed"
    assert await store.redis.ttl(store.keys.teams("cards:{ap1}")) > 0  # it expires with the approval's record


async def test_a_claim_that_ran_out_is_taken_over(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_800_000_000.0]  # (the lease is read on the claiming worker's clock: set here, no waiting on it)
    monkeypatch.setattr(msteams_store, "time", SimpleNamespace(time=lambda: clock[0]))
    assert await store.msteams.claim_copy("ap2", CHANNEL, lease=5) == "claimed"  # its poster died before posting
    clock[0] += 4.9
    assert await store.msteams.claim_copy("ap2", CHANNEL, lease=30) == "busy"
    clock[0] += 0.2  # (its lease ran out)
    assert await store.msteams.claim_copy("ap2", CHANNEL, lease=30) == "claimed"  # taken over
    assert await store.msteams.claim_copy("ap2", CHANNEL, lease=30) == "busy"
