"""The audit log as MCP's tamper-evident audit records (SEP-3004, #91 item 3): the SEP's own known answers and
canonical-form vectors, and a real worker's decisions exported with `python -m bot audit export --format sep3004`,
checked by `audit check-records` (a record altered, removed or moved is named)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.devslack.server import SlackStandIn
from bot.report.mcp_audit import (
    RecordError,
    canonical_form,
    check_records,
    event_hash,
    record_of,
    seal,
    shown,
)
from tests.conftest import ALICE, APPROVALS, CAROL, SALES, Worker
from tests.support.api import Client
from tests.support.cli import bot_command
from tests.support.hitl import click, reject, until

SESSION = "55555555-5555-5555-5555-555555555555"
GOVERNED = {"flagged": False, "invoked_by_principal_id": None, "purpose_declared": "reconcile June invoices",
            "session_id": SESSION}
HEAD: dict[str, Any] = {
    "event_id": "99999999-9999-9999-9999-999999999999", "occurred_at": "2026-06-06T12:00:00.000Z",
    "principal_id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", "event_type": "tool_call", "tool_name": "export",
    "outcome": "deferred", "previous_hash": None, "extensions": {"caller-governance": GOVERNED},
}
RUNTIME = {"drift_status": "confirmed", "policy_id": "example.org/runtime-drift@3", "quarantine_decision": "quarantine",
           "severity": "high",
           "evidence_hash": "sha256:b2c547e2c8f17eafc72ef5c2d4d7b6b4d0f7437ab52bae573a9af14ff5e2d9be"}
# the SEP's Conformance section: the two-extension record's canonical bytes and digest, and the vector set's
# single-extension digest
TWO_PREIMAGE = (
    '{"event_id":"99999999-9999-9999-9999-999999999999","event_type":"tool_call","extensions":{"caller-governance":'
    '{"flagged":false,"invoked_by_principal_id":null,"purpose_declared":"reconcile June invoices","session_id":'
    '"55555555-5555-5555-5555-555555555555"},"runtime-security":{"drift_status":"confirmed","evidence_hash":'
    '"sha256:b2c547e2c8f17eafc72ef5c2d4d7b6b4d0f7437ab52bae573a9af14ff5e2d9be","policy_id":'
    '"example.org/runtime-drift@3","quarantine_decision":"quarantine","severity":"high"}},"occurred_at":'
    '"2026-06-06T12:00:00.000Z","outcome":"deferred","previous_hash":null,"principal_id":'
    '"aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa","tool_name":"export"}'
)
TWO_HASH = "f733fed9cc757165f810b778e4baba1f51a45504988e937707aaab4361b2f064"
ONE_HASH = "d494769c1ae442ea88dd190068747abf63c0568a3b856f85791b1a50a99d48b4"


def purpose(text: str) -> dict[str, Any]:
    return {**HEAD, "extensions": {"caller-governance": {**GOVERNED, "purpose_declared": text}}}


def test_the_seps_known_answers_are_reproduced() -> None:
    two = {**HEAD, "extensions": {"caller-governance": GOVERNED, "runtime-security": RUNTIME}}
    assert canonical_form(two) == TWO_PREIMAGE.encode()
    assert (event_hash(HEAD), event_hash(two)) == (ONE_HASH, TWO_HASH)
    assert event_hash(seal(two)) == TWO_HASH  # event_hash is outside its own preimage


def test_the_canonical_form_is_the_seps() -> None:
    reordered = dict(reversed(list(HEAD.items())))
    assert canonical_form(reordered) == canonical_form(HEAD)
    # NFC, and U+0020 trimmed (nothing else): e + combining acute + a space == the precomposed é
    assert canonical_form(purpose("café audit ")) == canonical_form(purpose("café audit"))
    assert canonical_form(purpose("\u00a0audit")) != canonical_form(purpose("audit"))
    assert canonical_form({**HEAD, "tool_name": None}) != canonical_form({**HEAD, "tool_name": ""})
    astral = canonical_form(purpose("export \U0001f512 locked"))
    assert "export \U0001f512 locked".encode() in astral and b"\\u" not in astral
    for refused in ("line1\nline2", "line1\u0085line2", "tab\there", "lone \ud83d surrogate", "x" * 8193):
        with pytest.raises(RecordError):
            canonical_form(purpose(refused))
    with pytest.raises(RecordError, match="not int"):
        canonical_form({**HEAD, "tool_name": 1})


def test_the_verification_finds_what_was_altered_removed_or_moved() -> None:
    chain = [record_of(f"{n}-0", {"event": "decision", "outcome": "approved", "by": "U1", "title": f"Deploy {n}",
                                  "at": f"{1795000000 + n}"}, previous=None) for n in range(1)]
    for n in range(1, 4):
        chain.append(record_of(f"{n}-0", {"event": "vote", "by": "U2", "title": f"Deploy {n}"},
                               previous=chain[-1]["event_hash"]))
    assert check_records(chain).ok and check_records(chain).segments == 1
    altered = [dict(r) for r in chain]
    altered[2]["extensions"] = {"caller-governance": {"purpose_declared": "exfiltrate"}}
    assert check_records(altered).failures == ["record 3 ('2-0'): event_hash does not match its body (altered)"]
    assert check_records(chain[:1] + chain[2:]).failures == [
        "record 2 ('2-0'): previous_hash is not the record before's (inserted, deleted or moved)"]
    unregistered = seal({**HEAD, "extensions": {"ours": {"purpose_declared": "x"}}})
    assert check_records([unregistered]).failures == ["record 1 ('99999999-9999-9999-9999-999999999999'):"
                                                      " unregistered extension 'ours'"]
    headless = {k: v for k, v in seal(HEAD).items() if k != "previous_hash"}
    assert "missing previous_hash" in check_records([headless]).failures[0]


def test_an_entrys_text_becomes_a_protected_string_it_can_hold() -> None:
    assert shown("\x1b]0;pwned\x07 rm -rf\n") == "␛]0;pwned␇ rm -rf␊"
    assert shown("\x9b31m\x7f") == "\ufffd31m␡"
    long = shown("é" * 9000)
    assert len(long) == 8192 and long.endswith("…")
    record = record_of("7-0", {"event": "decision", "outcome": "rejected", "by": "U1", "for": "U9",
                               "approval": "a1", "tool": "refund", "feedback": "no\nway", "title": "Refund\x07",
                               "at": "1795000000.25", "fast": "true"}, previous=None)
    assert record["outcome"] == "denied" and record["occurred_at"] == "2026-11-18T11:06:40.250Z"
    assert record["extensions"] == {"caller-governance": {
        "purpose_declared": "Refund␇", "session_id": "a1", "invoked_by_principal_id": "U9", "human_actor_id": "U1",
        "flagged": True}}
    assert check_records([record]).ok


async def test_a_workers_decisions_export_as_records_another_party_can_check(
    emailer: tuple[Worker, str], slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    worker, key = emailer
    client = Client(worker, key)
    asks = [{"kind": "tool", "title": f"Refund order {n}", "requester": ALICE, "channel": SALES,
             "tool": {"name": "refund", "arguments": {"order": n}}} for n in range(2)]
    for n, ask in enumerate(asks):
        status, answer = await client.ask(ask)
        assert status == 201, answer
        card = await until(lambda n=n: (cards := [m for m in slack.messages(APPROVALS) if not m.get("thread_ts")])
                           and len(cards) > n and cards[n], what=f"card {n + 1}")  # type: ignore[misc]
        if n == 0:
            await click(slack, card, "approval_approve", user=CAROL)
        else:
            assert (await reject(slack, card, user=CAROL, reason="not\x1b[2J today")).status == 200

    async def both_decided() -> bool:
        entries = await worker.services.store.audit.entries()
        return len([e for e in entries if e["event"] == "decision"]) == 2

    await until(both_decided, what="both decisions audited")
    done = await bot_command("audit", "export", "--since", "1h", "--format", "sep3004",
                             environ={"REDIS_URL": redis_url})
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert check_records(records).ok and records[0]["previous_hash"] is None
    decisions = [r for r in records if r["event_type"] == "decision"]
    assert [(r["outcome"], r["principal_id"], r["tool_name"], r["extensions"]["caller-governance"]["purpose_declared"])
            for r in decisions] == [("allowed", CAROL, "refund", "Refund order 0"),
                                    ("denied", CAROL, "refund", "Refund order 1")]
    assert "\x1b" not in done.stdout
    exported = tmp_path / "records.jsonl"
    exported.write_text(done.stdout)
    checked = await bot_command("audit", "check-records", str(exported), environ={})
    assert checked.returncode == 0, checked.stdout
    verdict = json.loads(checked.stdout)
    assert (verdict["verdict"], verdict["records"], verdict["manifest"]["chain_algorithm"]) == (
        "pass", len(records), "sha-256")
    forged = [dict(r) for r in records]
    forged[records.index(decisions[1])]["outcome"] = "allowed"  # a rejection rewritten as allowed
    exported.write_text("".join(json.dumps(r) + "\n" for r in forged))
    checked = await bot_command("audit", "check-records", str(exported), environ={})
    assert checked.returncode == 1 and "event_hash does not match its body (altered)" in checked.stdout
    exported.write_text("not json\n")
    assert (await bot_command("audit", "check-records", str(exported), environ={})).returncode == 2
