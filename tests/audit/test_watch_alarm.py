"""The alarm neither misses nor clears falsely (#76.5, #76.6): each look counts the whole Redis log against the signed
checkpoints, so an entry deleted long after it was verified is found by the next look, not the hourly full one;
every distinct finding is said once (a second deletion too); a finding stands until a look that reads its source
whole finds it gone; and every look that finds the log intact moves the last-verified gauge, new entries or none.
A real Redis, tampered with by hand; the alerts said through the watcher's `Alerter` into a list."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.audit.watch import Alerter, AuditWatch
from bot.core.metrics import Metrics
from bot.core.signing import SigningKeys
from bot.slack.blocks.text import escape
from bot.store import Store
from tests.support.archive import write_log
from tests.support.audit_log import entries, rewrite, signing_keys

FULL_EVERY = 3600.0
START = 2_000_000_000.0


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return signing_keys(tmp_path / "keys.json")


class Watched:
    """A watcher whose alerts land in `said`, with its own metrics."""

    def __init__(self, store: Store, keys: SigningKeys) -> None:
        self.said: list[str] = []
        self.metrics = Metrics()

        async def post(text: str) -> None:
            self.said.append(text)

        alerter = Alerter(self.metrics, post=post, escape=escape, url="", signed=lambda body: {}, worker="w1")
        self.watch = AuditWatch(store, keys, alerter, self.metrics, worker="w1", interval=1, full_every=FULL_EVERY,
                                stalled=10**6, retention=10**9)

    def gauge(self, name: str) -> float:
        value = self.metrics.registry.get_sample_value(name)
        assert value is not None, name
        return value

    def standing(self, kind: str) -> float | None:
        return self.metrics.registry.get_sample_value("hitl_audit_integrity_standing", {"kind": kind})


async def test_an_entry_deleted_long_after_it_was_verified_is_found_by_the_next_look_and_each_deletion_said(
    store: Store, keys: SigningKeys
) -> None:
    watched = Watched(store, keys)
    await write_log(store, keys, 300)
    assert await watched.watch.look(now=START) == []
    log = await entries(store)
    await store.redis.xdel(store.keys.audit, log[40][0])  # verified by the first look, deleted now
    found = await watched.watch.look(now=START + 5) or []  # an incremental look: no full one for an hour
    assert [f.kind for f in found] == ["deleted"], found
    assert f"entry {log[41][0]} (seq 41)" in found[0].what, found[0].what
    assert ("1 entry is gone: the log holds 300 entries (seq 1 to 301); the signed checkpoints and the counter say"
            " 301") in found[0].what, found[0].what
    assert len(watched.said) == 1 and watched.said[0].startswith("*Audit log integrity: deleted*"), watched.said
    for later in (10, 15, FULL_EVERY + 20):  # looks again, the full one too: said once
        assert [f.kind for f in await watched.watch.look(now=START + later) or []] == ["deleted"]
    assert len(watched.said) == 1, watched.said
    await store.redis.xdel(store.keys.audit, log[200][0])  # a second deletion, of the same kind: said too
    found = await watched.watch.look(now=FULL_EVERY + START + 25) or []
    assert [f.kind for f in found or []] == ["deleted"], found
    assert len(watched.said) == 2 and "2 entries are gone" in watched.said[1], watched.said
    assert watched.standing("deleted") == 1


async def test_a_finding_stands_until_a_full_look_finds_it_gone(store: Store, keys: SigningKeys) -> None:
    watched = Watched(store, keys)
    await write_log(store, keys, 300)
    assert await watched.watch.look(now=START) == []
    before = await entries(store)
    changed = [(i, {**f, "outcome": "rejected"}) if n == 250 else (i, f) for n, (i, f) in enumerate(before)]
    await rewrite(store, changed)  # an entry verified already: the full look reads it again
    await store.audit.set_watched({"full": "0"})  # a full look is due
    found = await watched.watch.look(now=START + 5)
    assert [f.kind for f in found or []] == ["altered"], found
    await rewrite(store, before)  # put back: an incremental look does not read it again, so it still stands
    await watched.watch.look(now=START + 10)
    assert watched.standing("altered") == 1
    assert [f["kind"] for f in (await store.audit.findings()).values()] == ["altered"]
    assert not [s for s in watched.said if "cleared" in s], watched.said
    assert await watched.watch.look(now=START + FULL_EVERY + 20) == []  # the full look: gone, its clearing said
    assert [s.split("\n")[0] for s in watched.said] == ["*Audit log integrity: altered*",
                                                        "*Audit log integrity: altered cleared*"]
    assert await store.audit.findings() == {} and watched.standing("altered") is None


async def test_every_look_that_finds_the_log_intact_moves_the_verified_gauge_on_a_quiet_night(
    store: Store, keys: SigningKeys
) -> None:
    watched = Watched(store, keys)
    await write_log(store, keys, 120)
    assert await watched.watch.look(now=START) == []
    assert watched.gauge("hitl_audit_last_verified_timestamp_seconds") == START
    for minutes in range(1, 31):  # half an hour without an entry: each look still verifies the log intact
        assert await watched.watch.look(now=START + 60 * minutes) == []
        assert watched.gauge("hitl_audit_last_verified_timestamp_seconds") == START + 60 * minutes
    assert watched.gauge("hitl_audit_last_verified_seq") == 120 + 1  # (the key's announcement is an entry too)
    await store.redis.xdel(store.keys.audit, (await entries(store))[5][0])
    assert [f.kind for f in await watched.watch.look(now=START + 3600) or []] == ["deleted"]
    assert watched.gauge("hitl_audit_last_verified_timestamp_seconds") == START + 60 * 30  # not intact: not moved
