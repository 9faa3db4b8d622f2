"""The write path as the Lua steps write it: every kind of write numbered, one way to append, no hashing in Redis,
an approval that allows a call naming its decision's entry; and the digest's encoding is RFC 8785's."""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import replace
from pathlib import Path

import redis.exceptions
import rfc8785

import bot.store
from bot.audit.digests import canonical, seq_of
from bot.core.allow_rules import Condition, Match, Rule
from bot.core.signing import SigningKeys
from bot.store import Opening, Store
from tests.support.audit_log import UnannouncedWriter, entries, signing_keys, verdict
from tests.support.records import approval

LUA = Path(bot.store.__file__).parent / "lua"


def test_only_lib_audit_writes_the_audit_stream_and_nothing_hashes_in_lua() -> None:
    """Every Lua XADD is lib/audit.lua's (to the audit stream) or the checkpoint steps' (to their own streams); no
    Python module XADDs at all; no script hashes (the SHA-256 in Lua is gone)."""
    xadds = {str(p.relative_to(LUA)): [line.strip() for line in p.read_text().splitlines() if "'XADD'" in line]
             for p in sorted(LUA.rglob("*.lua"))}
    assert {name: lines for name, lines in xadds.items() if lines} == {
        "lib/audit.lua": ["local args = {'XADD', key, '*'}"],
        "audit_checkpoint.lua": ["redis.call('XADD', K.checkpoints, '*', unpack(A.fields))"],
        "audit_global.lua": ["local id = redis.call('XADD', K.global, '*', unpack(A.fields))"],
    }
    assert not (LUA / "lib" / "sha256.lua").exists()
    assert [p.name for p in LUA.rglob("*.lua") if re.search(r"sha256hex|sha1hex", p.read_text())] == []
    appends = r"audit_append\(|^(return|local result =) decide\("
    users = {p.name for p in LUA.glob("*.lua") if re.search(appends, p.read_text(), re.M)}
    assert users >= {"decide.lua", "open_approval.lua", "audit_append.lua", "audit_once.lua"}
    for name in users:
        assert " audit" in (LUA / name).read_text().splitlines()[1], name
    python = [p for p in Path(bot.store.__file__).parents[1].rglob("*.py") if ".xadd(" in p.read_text()]
    assert python == []


async def test_every_kind_of_write_is_numbered_and_verifies(store: Store, tmp_path: Path) -> None:
    made = await store.api_keys.create("emailer", ["C0SALES"], by="U0BOB")
    assert made is not None
    pending = approval("chain-0000-a")
    await store.approvals.create(pending)
    decided = await store.approvals.decide(pending.id, outcome="approved", by="U0BOB")
    assert decided.approval is not None
    rejected = approval("chain-0000-b")
    await store.approvals.create(rejected)
    await store.approvals.decide(rejected.id, outcome="rejected", by="U0BOB", feedback="no")
    asked = replace(approval("chain-0000-c"), asked_by="emailer", key_id=made.record.id, status="approved",
                    decided_by="rule")
    opened = await store.approvals.open(Opening(asked, audit={"event": "auto_approved", "approval": asked.id}))
    assert opened[0] == "ok"
    stored_asked = await store.approvals.get(asked.id)
    assert stored_asked is not None
    assert (await store.approvals.use(stored_asked, by="token-1", key=made.record))[0] == "ok"
    now = 1_795_000_000.0
    rule = Rule(id="", scope="channel", channel="C0SALES", run="", created_by="U0ALICE", created_at=now,
                expires_at=now + 10**9, match=Match(tool="send_email", where=(("to", Condition("equals", "x")),)))
    rule_id = await store.rules.create(rule)
    by_rule = replace(approval("chain-0000-d"), status="approved", decided_by="rule", decided_at=now + 1,
                      rule_id=rule_id, deadline=0.0)
    assert (await store.approvals.open(Opening(by_rule, audit={"event": "auto_approved", "approval": by_rule.id},
                                               rule=("C0SALES", rule_id), now=now + 1)))[0] == "ok"
    await store.rules.remove("C0SALES", rule_id, event="rule_revoked", by="U0ALICE")
    await store.audit.append("settings", by="U0ALICE", setting="timeout", before="10m", after="15m")
    status, _ = await store.audit.append_once(store.keys.api_idempotency("k", "i"), "allowed", {"tool": "t"},
                                              body_digest="d", answer="{}", ttl=60)
    assert status == "new"
    assert await store.api_keys.revoke("emailer", by="U0BOB")

    log = await entries(store)
    events = [fields["event"] for _, fields in log]
    assert events == ["api_key_created", "requested", "decision", "requested", "decision", "auto_approved", "used",
                      "rule_created", "auto_approved", "rule_revoked", "settings", "allowed", "api_key_revoked"]
    assert [seq_of(fields) for _, fields in log] == list(range(1, 14))
    assert all(list(fields)[-1] == "seq" and "hash" not in fields for _, fields in log)  # numbered, not hashed
    # the decision that allowed a call is named on its approval; a rejection names nothing
    assert (decided.approval.decided_audit_seq, decided.approval.decided_audit_id) == (3, log[2][0])
    assert (stored_asked.decided_audit_seq, stored_asked.decided_audit_id) == (6, log[5][0])
    assert (await store.approvals.get(rejected.id)).decided_audit_seq == 0  # type: ignore[union-attr]
    said, code = await verdict(store)
    assert code == 0, said
    assert "13 entries checked, seq 1 to 13" in said and "unsigned: no checkpoint" in said
    keys: SigningKeys = signing_keys(tmp_path / "keys.json")
    writer = UnannouncedWriter(store, keys, worker="w1", every=1000, interval=0, retention=10**8)
    assert await writer.write_due()
    said, code = await verdict(store, keys)
    assert code == 0 and "1 signed checkpoints verified, the last at seq 13" in said and "no unsigned tail" in said


async def test_a_timeout_that_approves_names_its_entry(store: Store) -> None:
    due = replace(approval("chain-0000-d", deadline_in=-1), timeout_outcome="approve", card_ts="1.0")
    await store.approvals.create(due)
    results, _ = await store.approvals.time_out_due(due.deadline + 1)
    assert [r.approval.id for r in results if r.approval] == [due.id]
    record = await store.approvals.get(due.id)
    assert record is not None and record.status == "timed_out"
    log = await entries(store)
    assert (record.decided_audit_seq, record.decided_audit_id) == (2, log[1][0])
    assert log[1][1]["event"] == "decision" and log[1][1]["seq"] == "2"


async def test_a_counter_numbers_the_entries_and_a_lost_one_goes_on_from_the_log(store: Store) -> None:
    for _ in range(3):
        await store.audit.append("settings", by="U0ALICE")
    newest = (await entries(store))[-1][0]
    await store.redis.xdel(store.keys.audit, newest)  # the newest entry deleted: its number is not given again
    assert (await store.audit.append("settings", by="U0ALICE"))[0] == 4
    said, code = await verdict(store)
    assert code == 1 and "deleted" in said and "entries seq 3 to 3 are missing" in said
    await store.redis.delete(store.keys.audit_seq)  # the counter lost: numbering goes on from the last entry
    assert (await store.audit.append("settings", by="U0ALICE"))[0] == 5


async def test_appends_made_together_go_in_batches_each_numbered_once(store: Store) -> None:
    await store.redis.config_resetstat()
    written = await asyncio.gather(*(store.audit.append("settings", by=f"U{n:04d}") for n in range(300)))
    assert sorted(seq for seq, _ in written) == list(range(1, 301))
    log = {entry_id: (fields["by"], fields["seq"]) for entry_id, fields in await entries(store)}
    assert log == {entry_id: (f"U{n:04d}", str(seq)) for n, (seq, entry_id) in enumerate(written)}
    after = [(await store.audit.append("settings", by="U0ALICE"))[0] for _ in range(3)]
    assert after == [301, 302, 303]  # an append made after another returned comes after it
    calls = (await store.redis.info("commandstats"))["cmdstat_evalsha"]["calls"]
    assert calls < 300 / 4, calls  # group commit: a script call per batch, not per entry
    said, code = await verdict(store)
    assert code == 0, said


async def test_a_batch_that_fails_fails_each_of_its_appenders_and_the_next_ones_go_on(store: Store) -> None:
    await store.redis.set(store.keys.audit, "not a stream")  # every XADD to it fails
    results = await asyncio.gather(*(store.audit.append("settings", by="U0ALICE") for _ in range(40)),
                                   return_exceptions=True)
    assert all(isinstance(r, redis.exceptions.ResponseError) for r in results), results
    await store.redis.delete(store.keys.audit, store.keys.audit_seq)
    assert [seq for seq, _ in await asyncio.gather(*(store.audit.append("settings", by="U0BOB")
                                                     for _ in range(5)))] == [1, 2, 3, 4, 5]


async def test_an_appender_cancelled_while_its_batch_waits_does_not_stop_the_batch(store: Store) -> None:
    tasks = [asyncio.create_task(store.audit.append("settings", by=f"U{n:04d}")) for n in range(50)]
    await asyncio.sleep(0)  # every append made: the first on its way, the rest queued
    tasks[20].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[20], asyncio.CancelledError)
    written = {fields["by"]: int(fields["seq"]) for _, fields in await entries(store)}
    assert sorted(written.values()) == list(range(1, 51))  # its entry was written with the others
    # each other appender got its own entry's number (batches on their way together are numbered in either order)
    assert [r[0] if isinstance(r, tuple) else None for r in done] == [
        None if n == 20 else written[f"U{n:04d}"] for n in range(50)
    ]


def test_the_canonical_encoding_is_rfc_8785() -> None:
    rng = random.Random(44)
    alphabet = [chr(c) for c in range(0, 0x250)] + ["\u2028", "\u2029", "✓", "🙂", '"', "\\", "/"]
    for _ in range(300):
        fields = {"".join(rng.choices(alphabet, k=rng.randrange(1, 8))): "".join(rng.choices(alphabet,
                                                                                             k=rng.randrange(0, 40)))
                  for _ in range(rng.randrange(1, 8))}
        entry_id = f"{rng.randrange(10**13)}-{rng.randrange(5)}"
        flat = [entry_id, *[part for pair in fields.items() for part in pair]]
        assert canonical(entry_id, fields) == rfc8785.dumps(flat)
