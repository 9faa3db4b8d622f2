"""The chain as the Lua steps write it: SHA-256 in Lua against hashlib, every kind of write chained, one way to
append, and an approval that allows a call naming its decision's entry."""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import replace
from pathlib import Path

import bot.store
from bot.core.allow_rules import Condition, Match, Rule
from bot.report.audit_chain import ZERO, entry_hash, link_of
from bot.store import Store
from tests.support.audit_log import entries, verdict
from tests.support.records import approval

LUA = Path(bot.store.__file__).parent / "lua"


async def lua_sha256(store: Store, messages: list[str]) -> list[str]:
    source = (LUA / "lib" / "sha256.lua").read_text()
    body = source + "\nlocal out = {}\nfor i, m in ipairs(cjson.decode(ARGV[1])) do out[i] = sha256hex(m) end"
    body += "\nreturn out"
    return [str(h) for h in await store.redis.eval(body, 0, json.dumps(messages))]  # type: ignore[misc]


async def test_sha256_in_lua_is_hashlibs(store: Store) -> None:
    rng = random.Random(38)
    messages = ["", "abc", "a" * 55, "a" * 56, "a" * 57, "a" * 63, "a" * 64, "a" * 65, "a" * 119, "a" * 120,
                "b" * 128, "c" * 1000, "héllo wörld ✓ 🙂" * 7, "\x00\x01\x7f"] + ["x" * n for n in range(130)]
    messages += ["".join(chr(rng.randrange(32, 0x2FF)) for _ in range(rng.randrange(0, 300))) for _ in range(200)]
    got = await lua_sha256(store, messages)
    assert got == [hashlib.sha256(m.encode()).hexdigest() for m in messages]
    assert len({len(m.encode()) % 64 for m in messages}) == 64  # every padding case


def test_only_lib_audit_writes_the_audit_stream() -> None:
    """Every Lua XADD is lib/audit.lua's (to the audit stream) or the checkpoint step's (to its own stream); no
    Python module XADDs at all."""
    xadds = {str(p.relative_to(LUA)): [line.strip() for line in p.read_text().splitlines() if "'XADD'" in line]
             for p in sorted(LUA.rglob("*.lua"))}
    assert {name: lines for name, lines in xadds.items() if lines} == {
        "lib/audit.lua": ["local args = {'XADD', key, 'MINID', '~', minid, '*'}"],
        "audit_checkpoint.lua": [
            "redis.call('XADD', K.checkpoints, '*', 'seq', A.seq, 'hash', A.hash, 'id', A.id, 'at', A.at, 'jws', A.jws)"
        ],
    }
    users = {p.name for p in LUA.glob("*.lua") if re.search(r"audit_append\(|^return decide\(", p.read_text(), re.M)}
    for name in users:
        assert "sha256 audit" in (LUA / name).read_text().splitlines()[1], name
    python = [p for p in Path(bot.store.__file__).parents[1].rglob("*.py") if ".xadd(" in p.read_text()]
    assert python == []


async def test_every_kind_of_write_is_chained_and_verifies(store: Store) -> None:
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
    assert (await store.approvals.open(asked, audit={"event": "auto_approved", "approval": asked.id}))[0] == "ok"
    stored_asked = await store.approvals.get(asked.id)
    assert stored_asked is not None
    assert (await store.approvals.use(stored_asked, by="token-1", key=made.record))[0] == "ok"
    now = 1_795_000_000.0
    rule = Rule(id="", scope="channel", channel="C0SALES", run="", created_by="U0ALICE", created_at=now,
                expires_at=now + 10**9, match=Match(tool="send_email", where=(("to", Condition("equals", "x")),)))
    rule_id = await store.rules.create(rule)
    by_rule = replace(approval("chain-0000-d"), status="approved", decided_by="rule", decided_at=now + 1,
                      rule_id=rule_id, deadline=0.0)
    assert (await store.approvals.open(by_rule, audit={"event": "auto_approved", "approval": by_rule.id},
                                       rule=("C0SALES", rule_id), now=now + 1))[0] == "ok"
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
    links = [link_of(entry_id, fields) for entry_id, fields in log]
    assert [link.seq for link in links if link] == list(range(1, 14))
    assert all(link is not None and link.hash == link.computed for link in links)
    assert [link.prev for link in links if link] == [ZERO] + [link.hash for link in links[:-1] if link]
    assert list(log[0][1])[-3:] == ["seq", "prev", "hash"]  # the chain's fields end every entry
    # the decision that allowed a call is named on its approval; a rejection names nothing
    assert (decided.approval.decided_audit_seq, decided.approval.decided_audit_id) == (3, log[2][0])
    assert (stored_asked.decided_audit_seq, stored_asked.decided_audit_id) == (6, log[5][0])
    assert (await store.approvals.get(rejected.id)).decided_audit_seq == 0  # type: ignore[union-attr]
    said, code = await verdict(store)
    assert code == 0, said
    assert "13 entries checked, seq 1 to 13" in said and "chained but unsigned" in said


async def test_a_timeout_that_approves_names_its_entry(store: Store) -> None:
    due = replace(approval("chain-0000-d", deadline_in=-1), timeout_outcome="approve", card_ts="1.0")
    await store.approvals.create(due)
    results, _ = await store.approvals.time_out_due(due.deadline + 1)
    assert [r.approval.id for r in results if r.approval] == [due.id]
    record = await store.approvals.get(due.id)
    assert record is not None and record.status == "timed_out"
    log = await entries(store)
    assert (record.decided_audit_seq, record.decided_audit_id) == (2, log[1][0])
    assert log[1][1]["event"] == "decision" and log[1][1]["hash"] == entry_hash(log[1][1])


async def test_entries_from_before_the_chain_are_skipped_and_the_chain_starts_after_them(store: Store) -> None:
    for n in range(3):
        await store.redis.xadd(store.keys.audit, {"event": "old", "n": str(n)})  # as workers before the chain
    await store.audit.append("settings", by="U0ALICE")
    await store.audit.append("settings", by="U0BOB")
    log = await entries(store)
    assert [f.get("seq") for _, f in log] == [None, None, None, "1", "2"] and log[3][1]["prev"] == ZERO
    said, code = await verdict(store)
    assert code == 0 and "2 entries checked" in said and "3 older entries written before the chain" in said
