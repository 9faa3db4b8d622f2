"""`python -m bot audit evidence --since --until --archive URL --out DIR` as an auditor runs it: approvals written,
checkpointed and archived, the evidence written from the archive alone and with Redis's unarchived tail, and each file
checked (the CSV parses and its counts match, the sampled proofs pass `audit check-proof`, the sample is the same for
the same command, the HTML has no live markup from a title)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.audit.archive.stores import FolderStore
from bot.core.signing import SigningKeys
from bot.store import Store
from tests.support.archive import archive_all, archiver, checkpointer, pinned
from tests.support.audit_log import keys_file
from tests.support.cli import bot_command

Q1 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
HOSTILE = '<script>alert(1)</script><a href="https://evil.example">&lt;!channel&gt;</a>'


async def _approvals(store: Store, *, first: int, count: int, at: float) -> None:
    """`count` approvals, asked and decided: most by a person, every 5th by a rule, every 7th by the timeout,
    every 11th approved by its own requester (a channel that allows it), one with a hostile title."""
    for n in range(first, first + count):
        approval, when = f"A{n}", at + n * 60
        await store.audit.append("requested", approval=approval, run=f"R{n}", by="U0REQ", at=repr(when),
                                 kind="tool_call", tool="refund", title=HOSTILE if n == 5 else f"refund {n}",
                                 origin_channel="C0PAY", policy="payments")
        if n % 5 == 0:
            await store.audit.append("auto_approved", approval=approval, by="auto", outcome="approved",
                                     rule="rule R1: refund under 10", rule_id="R1", at=repr(when + 1))
        elif n % 7 == 0:
            await store.audit.append("decision", approval=approval, by="timeout", outcome="timed_out",
                                     at=repr(when + 30))
        else:
            by = "U0REQ" if n % 11 == 0 else "U0BOB"
            await store.audit.append("decision", approval=approval, by=by, outcome="approved", at=repr(when + 5),
                                     policy="payments", amr="hwk", passkey="pk1", assured_at=repr(when + 4))


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_evidence_of_a_period_from_the_archive_then_with_redis_tail(
    store: Store, redis_url: str, tmp_path: Path
) -> None:
    keys = SigningKeys.from_file(keys_file(tmp_path / "keys.json"))
    jwks = pinned(keys, tmp_path / "pinned.json")
    archive = FolderStore(tmp_path / "archive")
    await store.audit.append("requested", approval="OLD", by="U0REQ", at=repr(Q1 - 86400), tool="refund")
    await store.audit.append("decision", approval="OLD", by="U0BOB", outcome="approved", at=repr(Q1 - 86000))
    await _approvals(store, first=1, count=60, at=Q1)
    while await checkpointer(store, keys, every=50).write_due():
        pass
    assert await archive_all(archiver(store, keys, archive, segment=40)) > 0
    await _approvals(store, first=61, count=4, at=Q1)  # not archived: Redis's tail
    url, out = archive.url, tmp_path / "evidence"
    args = ("audit", "evidence", "--since", "2026-01-01", "--until", "2026-04-01", "--archive", url, "--out")
    ran = await bot_command(*args, str(out), "--jwks", str(jwks), environ={})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "60 approvals from 2026-01-01 to 2026-04-01" in ran.stdout, ran.stdout
    rows = list(csv.DictReader((out / "population.csv").open(newline="")))
    lines = [json.loads(line) for line in (out / "population.jsonl").read_text().splitlines()]
    assert len(rows) == len(lines) == 60 and {r["approval"] for r in rows} == {f"A{n}" for n in range(1, 61)}
    by_id = {r["approval"]: r for r in rows}
    assert by_id["A1"]["requester"] == "U0REQ" and by_id["A1"]["decided_by"] == "U0BOB"
    assert by_id["A1"]["amr"] == "hwk" and by_id["A1"]["policy"] == "payments" and by_id["A1"]["required"] == "1"
    assert by_id["A1"]["requested_at"] == "2026-01-01T00:01:00Z" and by_id["A1"]["requester_approved"] == "no"
    assert by_id["A5"]["decided_how"] == "rule" and by_id["A7"]["decided_how"] == "timeout"
    assert by_id["A11"]["requester_approved"] == "yes"
    exceptions = list(csv.DictReader((out / "exceptions.csv").open(newline="")))
    expected = {n for n in range(1, 61) if n % 5 == 0 or n % 7 == 0 or n % 11 == 0}
    assert {e["approval"] for e in exceptions} == {f"A{n}" for n in expected}
    assert {e["exception"] for e in exceptions if e["approval"] == "A11"} == {"the requester approved it"}
    proofs = sorted((out / "proofs").glob("seq-*.json"))
    assert len(proofs) == 25
    for proof in proofs:
        checked = await bot_command("audit", "check-proof", str(proof), "--jwks", str(jwks), environ={})
        assert checked.returncode == 0 and checked.stdout.startswith("inclusion proof OK"), checked.stdout
        assert json.loads(proof.read_text())["fields"]["event"] in ("decision", "auto_approved")
    assert list((out / "checkpoints").glob("*.jws")) and list((out / "checkpoints").glob("*.note"))
    assert (out / "VERIFY.txt").read_text().startswith(f"audit archive intact: {url}")
    readme = (out / "README.txt").read_text()
    assert "python -m bot audit check-proof" in readme and f"audit verify --archive {url}" in readme
    page = (out / "summary.html").read_text()
    assert "<script>" not in page and "evil.example\">" not in page and "&lt;script&gt;" in page
    again = await bot_command(*args, str(tmp_path / "again"), "--jwks", str(jwks), environ={})
    assert again.returncode == 0
    assert sorted(p.name for p in (tmp_path / "again" / "proofs").iterdir()) == [p.name for p in proofs]
    tail = await bot_command(*args, str(tmp_path / "tail"), "--jwks", str(jwks), environ={"REDIS_URL": redis_url})
    assert tail.returncode == 0 and "64 approvals" in tail.stdout and "4 decisions read from Redis" in tail.stdout
    with_tail = {r["approval"]: r for r in csv.DictReader((tmp_path / "tail" / "population.csv").open(newline=""))}
    assert with_tail["A62"]["source"] == "redis (not yet archived)" and with_tail["A1"]["source"] == "archive"


async def test_evidence_refuses_bad_usage_and_an_archive_not_intact(store: Store, tmp_path: Path) -> None:
    keys = SigningKeys.from_file(keys_file(tmp_path / "keys.json"))
    jwks = pinned(keys, tmp_path / "pinned.json")
    archive = FolderStore(tmp_path / "archive")
    await _approvals(store, first=1, count=10, at=Q1)
    while await checkpointer(store, keys, every=50).write_due():
        pass
    await archive_all(archiver(store, keys, archive, segment=5))
    base = ("audit", "evidence", "--archive", archive.url, "--out", str(tmp_path / "out"), "--jwks", str(jwks))
    bad = await bot_command(*base, "--since", "Q1", "--until", "2026-04-01", environ={})
    assert bad.returncode == 2 and "--since: not an ISO 8601 date or time: 'Q1'" in bad.stderr, bad.stderr
    backwards = await bot_command(*base, "--since", "2026-04-01", "--until", "2026-01-01", environ={})
    assert backwards.returncode == 2 and "must be after --since" in backwards.stderr
    missing = await bot_command(*base, "--since", "2026-01-01", environ={})
    assert missing.returncode == 2 and "evidence needs --since DATE, --until DATE" in missing.stderr
    segment = next((tmp_path / "archive" / "segments").iterdir())
    (segment / "entries.jsonl.gz").chmod(0o644)
    (segment / "entries.jsonl.gz").write_bytes(b"altered")
    broken = await bot_command(*base, "--since", "2026-01-01", "--until", "2026-04-01", environ={})
    assert broken.returncode == 1 and "audit archive NOT intact, no evidence written" in broken.stderr, broken.stderr
    assert not (tmp_path / "out").exists()
