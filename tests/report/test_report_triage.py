"""`python -m bot report triage --since --until` (#92, item 5) as an operator runs it: over an audit log written
through the store's real `audit.append` (the triage model's readings in shadow and deciding, people's decisions, a
model's decision, an escalation, a timeout), every figure per policy worked out here by hand from those entries; the
text and `--json`; bad arguments. The end to end run (a worker, a shadow reading, a person's reject) is in
tests/approvals/test_triage_reading.py."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.store import Store
from tests.support.cli import Ran, bot_command

ROOT = Path(__file__).resolve().parents[2]
SMALL, BIG = "small-refunds", "big-refunds"


def claim(policy: str) -> str:
    return json.dumps({"bundle": "b1", "ids": [policy]})


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


async def cli(*args: str, redis_url: str) -> Ran:
    return await bot_command("report", "triage", *args, environ={"REDIS_URL": redis_url})


async def write_log(store: Store, now: float) -> None:
    """The scripted log (the figures it must give are in `EXPECTED`)."""
    append = store.audit.append

    async def read(approval: str, decision: str, risk: str, within: bool, *, mode: str = "shadow",
                   at: float = now - 3600) -> None:
        await append("triage", approval=approval, model="llama3.1", by="model:llama3.1", decision=decision, risk=risk,
                     reasons='["r"]', shown_sha256="0" * 64, mode=mode, within_limit="true" if within else "false",
                     at=repr(at))

    async def decided(approval: str, by: str, outcome: str, latency_ms: int, policy: str) -> None:
        await append("decision", approval=approval, by=by, outcome=outcome, latency_ms=str(latency_ms),
                     policy=claim(policy), at=repr(now - 60))

    # small refunds
    await read("A1", "approve", "low", True)
    await read("A1", "approve", "low", True)  # a second reading of the same ask: read once
    await decided("A1", "U1", "approved", 40000, SMALL)  # agreed; time saved 40 s
    await read("A2", "approve", "low", True)
    await decided("A2", "U2", "rejected", 10000, SMALL)  # a false approval; time saved 10 s
    await read("A3", "escalate", "high", False)
    await decided("A3", "U1", "rejected", 5000, SMALL)  # agreed
    await read("A4", "escalate", "medium", False)
    await decided("A4", "U1", "approved", 7000, SMALL)  # not agreed
    await read("A5", "approve", "low", True, mode="decide")
    await decided("A5", "model:llama3.1", "approved", 300, SMALL)  # the model decided: nobody reviewed it
    await read("A6", "approve", "low", True, at=now - 10 * 86400)  # read before the period: not counted
    await decided("A6", "U1", "approved", 1000, SMALL)
    await read("A7", "approve", "medium", False)
    await append("requested", approval="A7", by="U9", policy=claim(SMALL))  # waiting: read, not reviewed
    # big refunds
    await read("B1", "escalate", "high", False, mode="decide")
    await append("escalated", approval="B1", by="system")
    await decided("B1", "U3", "approved", 90000, BIG)  # escalated, then approved: agreed
    await read("B2", "escalate", "high", False, mode="decide")
    await decided("B2", "timeout", "rejected", 600000, BIG)  # timed out: not reviewed


EXPECTED = [
    {"policy": SMALL, "read": 6, "shadow": 5, "would_approve": 3, "decided_by_model": 1, "reviewed": 4, "agreed": 2,
     "false_approvals": 1, "time_saved_ms": 50000, "agreement": 0.5},
    {"policy": BIG, "read": 2, "shadow": 0, "would_approve": 0, "decided_by_model": 0, "reviewed": 1, "agreed": 1,
     "false_approvals": 0, "time_saved_ms": 0, "agreement": 1.0},
]


async def test_the_figures_per_policy_match_the_audit_log(store: Store, redis_url: str) -> None:
    now = time.time()
    await write_log(store, now)
    since, until = iso(now - 86400), iso(now + 60)
    done = await cli("--since", since, "--until", until, "--json", redis_url=redis_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["policies"] == EXPECTED

    done = await cli("--since", since, "--until", until, redis_url=redis_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:5] == [
        f"{SMALL}:",
        "  asks read: 6 (5 in shadow), the model would approve 3, decided by the model 1",
        "  reviewed by people: 4, agreement: 50% (2 of 4)",
        "  false approvals (the model would approve, a person rejected): 1",
        "  time saved (people's time to decide what the model would approve): 50 s",
    ]

    # a period before any reading: nothing read
    done = await cli("--since", iso(now - 40 * 86400), "--until", iso(now - 30 * 86400), redis_url=redis_url)
    assert (done.returncode, done.stdout.strip()) == (0, "No asks read by the triage model in this period.")


@pytest.mark.parametrize(("args", "said"), [
    ((), "--since DATE is needed"),
    (("--since", "yesterday"), "not an ISO 8601 date or time"),
    (("--since", "2026-10-02", "--until", "2026-10-01"), "must be after --since"),
])
async def test_bad_arguments_are_refused(store: Store, redis_url: str, args: tuple[str, ...], said: str) -> None:
    done = await cli(*args, redis_url=redis_url)
    assert done.returncode == 2 and said in done.stderr, done
    assert "Traceback" not in done.stderr


async def test_out_and_csv_are_not_for_it(store: Store, redis_url: str) -> None:
    done = await cli("--since", "2026-10-01", "--out", "x.html", redis_url=redis_url)
    assert done.returncode == 2 and "not for `report triage`" in done.stderr, done


@pytest.mark.slow
async def test_as_a_real_process(store: Store, redis_url: str) -> None:
    now = time.time()
    await write_log(store, now)
    environment = {key: value for key, value in os.environ.items() if key != "REDIS_KEY_PREFIX"}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "report", "triage", "--since", iso(now - 86400), "--json"],
        env={**environment, "REDIS_URL": redis_url}, cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["policies"] == EXPECTED


def test_report_oversight_counts_a_models_decisions_apart_with_the_agreement_of_later_reviews() -> None:
    """#92 item 3: a model's approval is not a person's act; people's later decisions of the same kind of ask (route
    and tool) say how often they agreed with it."""
    from bot.report.oversight import compute_oversight, csv_rows

    def asked(approval: str, tool: str, at: float) -> dict[str, str]:
        return {"event": "requested", "approval": approval, "tool": tool, "origin_channel": "C1",
                "policy": claim(SMALL), "at": repr(at)}

    def decided(approval: str, by: str, outcome: str, at: float) -> dict[str, str]:
        return {"event": "decision", "approval": approval, "by": by, "outcome": outcome, "origin_channel": "C1",
                "policy": claim(SMALL), "at": repr(at)}

    entries = [asked("A0", "refund", 40), decided("A0", "U1", "rejected", 50),  # before the model's: not counted
               asked("A1", "refund", 90), decided("A1", "model:llama3.1", "approved", 100),
               asked("A2", "refund", 190), decided("A2", "U1", "approved", 200),  # agreed
               asked("A3", "refund", 290), decided("A3", "U2", "rejected", 300),  # did not
               asked("A4", "payout", 240), decided("A4", "U1", "approved", 250)]  # another kind: not counted
    oversight = compute_oversight(entries, since=0, until=1000)
    route = next(r for r in oversight.routes if r.policy == SMALL)
    assert (route.acts, route.model_decided, route.model_reviewed, route.model_agreed) == (4, 1, 2, 1)
    rows = {r["measure"]: r["value"] for r in csv_rows(oversight) if r["section"] == "overrides" and not r["person"]}
    assert (rows["model_decided"], rows["model_reviewed_later"], rows["model_agreement"]) == ("1", "2", "0.50")
    assert rows["approved"] == "2" and rows["rejected"] == "2"  # people's acts alone
