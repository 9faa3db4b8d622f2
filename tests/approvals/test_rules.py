"""Remembered decisions ("always allow" rules): what a rule matches, the schema check, suggestions replayed
on history, the store's steps, and the promise under real worker processes: a rule approves a matching call
on every worker at once, a revoked or expired one stops at once everywhere, a run's rules end with it, and
an adoption after kill -9 keeps a rule's effect (rules live in Redis)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.approver import ApprovalRequest, canonical_json, digest_of

from bot.core.allow_rules import (
    Condition,
    Match,
    Rule,
    condition_from_text,
    exact_match,
    problems,
)
from bot.core.rule_suggestions import PastCall, past_calls, replay, suggest
from bot.devslack.server import SlackStandIn
from bot.runs.email_tool import Email
from bot.store import Opening, Store
from tests.conftest import ALICE, BOB, SALES, find_header, has_buttons, texts, thread_of
from tests.support.cluster import (
    Cluster,
    card_now,
    click_on,
    command_on,
    is_tool_call,
    open_form_on,
    pending_cards,
    run_status,
    worker_id,
)
from tests.support.flow import start_run
from tests.support.hitl import until
from tests.support.records import approval

EMAIL_SCHEMA: dict[str, Any] = Email.model_json_schema()
EMAIL_TASK = "--team email Email our vendor asking for a 10% discount on the Q2 order"


def email(to: str, subject: str = "Q2 order", body: str = "Hello") -> dict[str, Any]:
    return {"to": to, "subject": subject, "body": body}


def ends_with_example(tool: str = "send_email") -> Match:
    return Match(tool=tool, where=(("to", Condition("ends_with", "@example.com")),))


def rule(match: Match, *, scope: str = "channel", run: str = "", expires_in: float = 3600, by: str = ALICE) -> Rule:
    now = time.time()
    return Rule(
        id="",
        scope=scope,  # type: ignore[arg-type]
        channel=SALES,
        run=run,
        match=match,
        created_by=by,
        created_at=now,
        expires_at=now + expires_in,
    )


# ---------------------------------------------------------------------------------------------- matching


def test_conditions_match_as_written_and_nothing_else() -> None:
    match = Match(
        tool="pay",
        where=(
            ("amount", Condition("at_most", 50)),
            ("currency", Condition("one_of", ("EUR", "USD"))),
            ("memo", Condition("starts_with", "INV-")),
            ("to", Condition("ends_with", "@example.com")),
            ("urgent", Condition("equals", False)),
        ),
    )
    good = {"amount": 50, "currency": "EUR", "memo": "INV-7", "to": "ap@example.com", "urgent": False, "x": [1]}
    assert match.matches("pay", good, digest_of(good))
    for change in (
        {"amount": 50.01},
        {"amount": "10"},  # a string is not a number
        {"amount": True},  # nor is a boolean
        {"currency": "GBP"},
        {"memo": "inv-7"},  # case counts
        {"to": "ap@example.com.evil.org"},
        {"to": "ap@EXAMPLE.COM"},
        {"urgent": 0},  # JSON equality: false is not 0
    ):
        assert not match.matches("pay", {**good, **change}, ""), change
    missing = dict(good)
    del missing["memo"]
    assert not match.matches("pay", missing, "")
    assert not match.matches("refund", good, "")  # another tool
    assert not match.matches("pay", [good], "")  # not an object


def test_an_exact_rule_matches_only_its_digest_and_round_trips() -> None:
    arguments = email("a@example.com")
    exact = exact_match("send_email", arguments)
    assert exact.matches("send_email", arguments, digest_of(arguments))
    other = email("a@example.com", body="Hello!")
    assert not exact.matches("send_email", other, digest_of(other))
    for match in (exact, ends_with_example(), Match("t", where=(("v", Condition("one_of", (1, "1", None))),))):
        assert Match.from_json(match.to_json()) == match
    stored = rule(ends_with_example())
    assert Rule.from_fields({**stored.to_fields(), "id": "R3"}).match == stored.match
    with pytest.raises(ValueError):
        Match.from_json('{"tool": "t", "where": {"v": {"op": "regex", "value": ".*"}}}')


def test_a_rule_must_pass_the_tools_schema() -> None:
    assert problems(ends_with_example(), EMAIL_SCHEMA) == []
    assert problems(exact_match("send_email", email("a@example.com")), EMAIL_SCHEMA) == []
    bad = {
        "equals not an email": Match("send_email", where=(("to", Condition("equals", "not-an-email")),)),
        "one of with a bad one": Match("send_email", where=(("to", Condition("one_of", ("a@example.com", "nope"))),)),
        "at most on text": Match("send_email", where=(("subject", Condition("at_most", 3)),)),
        "no such argument": Match("send_email", where=(("cc", Condition("equals", "a@example.com")),)),
        "empty suffix": Match("send_email", where=(("to", Condition("ends_with", "")),)),
        "exact failing": exact_match("send_email", email("not-an-email")),
    }
    for name, match in bad.items():
        assert problems(match, EMAIL_SCHEMA), name


def test_a_tool_schema_whose_ref_index_is_not_ascii_digits_is_a_clean_problem() -> None:
    """#63.8: a tool's schema with `"$ref": "#/anyOf/²"` raised ValueError out of the rule form's check (the
    pointer took `isdigit` for a number); it is a problem said in words, as every unusable schema is."""
    for index in ("²", "١", "１", "01"):
        schema = {"type": "object", "anyOf": [{"type": "object"}],
                  "properties": {"to": {"$ref": f"#/anyOf/{index}"}, "n": {"type": "integer"}}}
        exact = problems(exact_match("send_email", {"to": {}, "n": 1}), schema)
        assert exact and "the tool's schema cannot be used: $ref" in exact[0] and "points at nothing" in exact[0]
        where = problems(Match("send_email", where=(("to", Condition("equals", "x")),)), schema)
        assert where and "points at nothing" in where[0], where
    fine = {"type": "object", "anyOf": [{"type": "object"}], "properties": {"to": {"$ref": "#/anyOf/0"}}}
    assert problems(exact_match("send_email", {"to": {}}), fine) == []


def test_form_values_are_read_by_the_arguments_type() -> None:
    text = {"type": "string"}
    number = {"type": "number"}
    assert condition_from_text("equals", "42", text) == Condition("equals", "42")
    assert condition_from_text("equals", "42", number) == Condition("equals", 42)
    assert condition_from_text("at_most", "2.5", number) == Condition("at_most", 2.5)
    assert condition_from_text("one_of", "a\n\n b \na", text) == Condition("one_of", ("a", "b"))
    assert isinstance(condition_from_text("equals", "many", number), str)
    assert isinstance(condition_from_text("at_most", "lots", number), str)
    assert isinstance(condition_from_text("at_most", "inf", number), str)
    assert isinstance(condition_from_text("starts_with", "", text), str)
    assert isinstance(condition_from_text("one_of", "\n", text), str)


# -------------------------------------------------------------------------------------------- suggestions


def history() -> list[PastCall]:
    calls = []
    for i, to in enumerate(["a@example.com", "b@example.com", "a@example.com", "c@example.com"]):
        arguments = email(to, subject=f"Order {i}")
        calls.append(PastCall(f"approval-{i:04}", "send_email", arguments, digest_of(arguments), "approved", i))
    rejected = email("boss@evil.org")
    calls.append(PastCall("approval-9999", "send_email", rejected, digest_of(rejected), "rejected", 9))
    same = email("ops@example.com", subject="Daily", body="All good")
    for i in range(3):
        calls.append(PastCall(f"approval-1{i:03}", "send_email", same, digest_of(same), "approved", 10 + i))
    return calls


def test_suggestions_approve_what_people_approved_and_nothing_they_refused() -> None:
    calls = history()
    found = suggest(calls, min_approved=3)
    assert found, "no suggestion"
    for suggestion in found:
        hits = replay(suggestion.match, calls)
        assert (suggestion.approved_hits, suggestion.approved_total) == hits[:2]
        assert suggestion.refused_hits == 0 and suggestion.refused_total == 1
        assert suggestion.approved_hits >= 3
    general = next(s for s in found if not s.match.exact)
    assert dict(general.match.where)["to"] == Condition("ends_with", "@example.com")
    assert general.approved_hits == 7 and general.approved_total == 7
    assert "would have auto-approved 7 of 7 approved calls, 0 of 1 rejected or revised" == general.replay()
    exact = next(s for s in found if s.match.exact)
    assert exact.approved_hits == 3 and json.loads(exact.match.arguments)["to"] == "ops@example.com"
    # a refusal the generalisation would match: no general suggestion
    refused = email("d@example.com", subject="Order 1")
    calls.append(PastCall("approval-8888", "send_email", refused, digest_of(refused), "revised", 20))
    assert all(s.match.exact for s in suggest(calls, min_approved=3))
    assert suggest(calls, min_approved=4) == []


def test_past_calls_are_read_from_audit_entries() -> None:
    arguments = email("a@example.com")
    entries = [
        {"event": "requested", "approval": "a1-000000", "kind": "tool_call", "tool": "send_email",
         "arguments": canonical_json(arguments), "digest": digest_of(arguments)},
        {"event": "decision", "approval": "a1-000000", "outcome": "approved", "by": BOB, "at": "5"},
        {"event": "requested", "approval": "a2-000000", "kind": "tool_call", "tool": "send_email",
         "arguments": canonical_json(arguments)},
        {"event": "decision", "approval": "a2-000000", "outcome": "timed_out", "by": "timeout", "at": "6"},
        {"event": "requested", "approval": "a3-000000", "kind": "message", "tool": ""},
        {"event": "decision", "approval": "a3-000000", "outcome": "approved", "by": BOB, "at": "7"},
    ]  # fmt: skip
    assert past_calls(entries) == [
        PastCall("a1-000000", "send_email", arguments, digest_of(arguments), "approved", 5.0)
    ]


def test_a_triage_models_decisions_are_no_past_call() -> None:
    """Only people's decisions teach a rule (#92): a triage model's approvals are not replayed."""
    arguments = email("a@example.com")
    entries = [entry for n in range(3) for entry in (
        {"event": "requested", "approval": f"m{n}-000000", "kind": "tool_call", "tool": "send_email",
         "arguments": canonical_json(arguments)},
        {"event": "decision", "approval": f"m{n}-000000", "outcome": "approved", "by": "model:llama3.1"})]
    assert past_calls(entries) == []
    assert suggest(past_calls(entries), min_approved=1) == []


# ---------------------------------------------------------------------------------------------- the store


async def test_the_store_keeps_uses_and_forgets_revoked_and_expired_rules(store: Store) -> None:
    first = await store.rules.create(rule(ends_with_example()))
    second = await store.rules.create(rule(exact_match("send_email", email("a@example.com")), expires_in=0.2))
    assert first.startswith("R") and second == f"R{int(first[1:]) + 1}"
    kept = await store.rules.get(SALES, first)
    assert kept is not None and kept.match == ends_with_example() and kept.created_by == ALICE

    async def used_by(made: Rule, approval_id: str) -> str:
        """A call the rule approves: opened decided, only while the rule stands (the one step, as
        ApprovalService opens it)."""
        decided = replace(approval(approval_id), status="approved", decided_by="rule", decided_at=time.time(),
                          rule_id=made.id, deadline=0.0)
        entry = {"event": "auto_approved", "approval": approval_id, "rule_id": made.id, "origin_channel": SALES}
        status, _ = await store.approvals.open(Opening(decided, audit=entry, rule=(SALES, made.id), now=time.time()))
        return status

    assert await used_by(kept, "rule-use-0001") == "ok"
    assert await used_by(kept, "rule-use-0002") == "ok"
    expired = await store.rules.get(SALES, second)
    assert expired is not None  # (its expiry, not the first's creation: a loaded machine may part them by more)
    await until(lambda: time.time() > expired.expires_at + 0.05, what="the second rule's expiry")
    live = await store.rules.of_channel(SALES, now=time.time())
    assert [(r.id, r.uses) for r in live] == [(first, 2)]
    assert await used_by(expired, "rule-use-0003") == "gone"
    assert await store.approvals.get("rule-use-0003") is None  # a person is asked instead: nothing was stored
    removed = await store.rules.remove(SALES, first, event="rule_revoked", by=BOB)
    assert removed is not None and removed.id == first
    assert await used_by(kept, "rule-use-0004") == "gone"
    assert await store.rules.remove(SALES, first, event="rule_revoked", by=BOB) is None
    events = [e for e in await store.audit.entries() if e.get("rule_id") in (first, second)]
    assert [e["event"] for e in events] == [
        "rule_created", "rule_created", "auto_approved", "auto_approved", "rule_revoked",
    ]  # fmt: skip
    assert events[-1]["rule_uses"] == "2" and events[-1]["by"] == BOB


async def test_a_channel_holds_at_most_the_limit_of_live_rules(store: Store) -> None:
    made = [await store.rules.create(rule(ends_with_example()), limit=3) for _ in range(4)]
    assert made[-1] == "full" and all(m.startswith("R") for m in made[:3])


def test_a_rule_never_decides_what_only_a_person_may() -> None:
    from bot.approvals.deciders.rules import rule_may_decide

    call = ApprovalRequest("a-00000001", "{}", "drafter", kind="tool_call", tool_name="t", arguments="{}")
    assert rule_may_decide(call)
    assert not rule_may_decide(ApprovalRequest("a-00000001", "{}", "drafter", kind="code", arguments="{}"))
    assert not rule_may_decide(ApprovalRequest("a-00000001", "hi", "drafter"))
    from dataclasses import replace

    assert not rule_may_decide(replace(call, schema_error="to: not an email"))
    assert not rule_may_decide(replace(call, maybe_ran=True))


# --------------------------------------------------------------------------------- real worker processes


def outbox_files(outbox: Path) -> list[Path]:
    return sorted(outbox.glob("*.eml"))


async def auto_approvals(store: Store, run_id: str) -> list[dict[str, str]]:
    """The run's automatic approvals made by a rule."""
    entries = await store.audit.entries(count=10_000)
    return [e for e in entries if e["event"] == "auto_approved" and e["run"] == run_id and "rule_id" in e]


def tool_card(slack: SlackStandIn, run_id: str) -> dict[str, Any] | None:
    return next((c for c in pending_cards(slack, run_id) if is_tool_call(c)), None)


@pytest.mark.slow
async def test_a_rule_approves_on_every_worker_and_revoke_and_expiry_stop_it_at_once(
    cluster: Cluster, slack: SlackStandIn, store: Store, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    first = await cluster.start(OUTBOX_DIR=str(outbox), MAX_RUNS_PER_USER="10")
    second = await cluster.start(OUTBOX_DIR=str(outbox), MAX_RUNS_PER_USER="10")
    rule_id = await store.rules.create(rule(ends_with_example()))
    # a run on the first worker: its email is sent with no card, audited with the rule, told in the thread
    slack.events_url = first.events
    run_id = await start_run(slack, task=EMAIL_TASK)
    await until(lambda: len(outbox_files(outbox)) == 1, within=20, what="the email sent by the rule")
    used = await until(lambda: auto_approvals(store, run_id), within=10, what="the audit entry")
    assert used[0]["rule_id"] == rule_id and used[0]["tool"] == "send_email" and used[0]["by"] == "rule"
    header = await slack.wait_for(lambda: find_header(slack, SALES, run_id))
    await slack.wait_for(
        lambda: f"auto-approved by rule {rule_id}" in texts(thread_of(slack, SALES, header["ts"])), timeout=10
    )
    assert tool_card(slack, run_id) is None
    # revoked (here, in Redis): a run on the other worker gets a card at once
    assert await store.rules.remove(SALES, rule_id, event="rule_revoked", by=ALICE) is not None
    slack.events_url = second.events
    run_two = await start_run(slack, task=EMAIL_TASK)
    await slack.wait_for(lambda: tool_card(slack, run_two), timeout=20)
    assert len(outbox_files(outbox)) == 1 and await auto_approvals(store, run_two) == []
    # a rule that expires in 3 s approves on the second worker; once expired, the first worker asks
    short = await store.rules.create(rule(ends_with_example(), expires_in=3.0))
    run_three = await start_run(slack, task=EMAIL_TASK)
    await until(lambda: len(outbox_files(outbox)) == 2, within=20, what="the email sent by the short rule")
    assert [e["rule_id"] for e in await auto_approvals(store, run_three)] == [short]
    kept = await store.rules.get(SALES, short)
    assert kept is not None
    await until(lambda: time.time() > kept.expires_at, within=5, what="the rule's expiry")
    slack.events_url = first.events
    run_four = await start_run(slack, task=EMAIL_TASK)
    await slack.wait_for(lambda: tool_card(slack, run_four), timeout=20)
    assert len(outbox_files(outbox)) == 2 and await auto_approvals(store, run_four) == []


@pytest.mark.slow
async def test_an_adoption_after_kill_9_keeps_a_rules_effect(
    cluster: Cluster, slack: SlackStandIn, store: Store, tmp_path: Path
) -> None:
    """A person approves the first email on the owner; a channel rule is made; the owner is killed (-9)
    while the outcome waits for a person. A revision there, on the other worker, adopts the run: the
    drafter sends again, and the rule approves that call on the adopter (no card): two emails, once each."""
    outbox = tmp_path / "outbox"
    owner = await cluster.start(OUTBOX_DIR=str(outbox), MAX_RUNS_PER_USER="10")
    other = await cluster.start(OUTBOX_DIR=str(outbox), MAX_RUNS_PER_USER="10")
    slack.events_url = owner.events
    run_id = await start_run(slack, task=EMAIL_TASK)
    send = await slack.wait_for(lambda: tool_card(slack, run_id), timeout=20)
    await click_on(slack, owner, send)
    await until(lambda: len(outbox_files(outbox)) == 1, within=20, what="the first email")
    outcome = await slack.wait_for(
        lambda: next((c for c in pending_cards(slack, run_id) if c["ts"] != send["ts"]), None), timeout=20
    )
    rule_id = await store.rules.create(rule(ends_with_example()))
    owner.kill()
    view = await open_form_on(slack, other, outcome, user=BOB)
    await slack.submit_view(
        user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": "Send it once more, shorter"}}
    )
    await until(lambda: len(outbox_files(outbox)) == 2, within=30, what="the second email, approved by the rule")
    used = await until(lambda: auto_approvals(store, run_id), within=10, what="the rule's audit entry")
    assert [e["rule_id"] for e in used] == [rule_id]
    run = await store.runs.get(run_id)
    assert run is not None and run.owner == await worker_id(other)  # adopted
    # no card for the second email (the first's may still show its buttons: the owner was killed before its redraw,
    # which waits for the run's next step, and the outbox has it for another worker)
    assert [c for c in pending_cards(slack, run_id) if is_tool_call(c) and c["ts"] != send["ts"]] == []
    final = await slack.wait_for(
        lambda: next((c for c in pending_cards(slack, run_id) if c["ts"] not in (send["ts"], outcome["ts"])), None),
        timeout=20,
    )
    await click_on(slack, other, final)
    await run_status(store, run_id, "completed", within=30)
    assert len(outbox_files(outbox)) == 2
    # redrawn approved: by the owner before it was killed, else from the outbox by the other (after its grace)
    await slack.wait_for(lambda: not has_buttons(card_now(slack, send)), timeout=30)


@pytest.mark.slow
async def test_a_run_rule_ends_with_its_run(
    cluster: Cluster, slack: SlackStandIn, store: Store, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    worker = await cluster.start(OUTBOX_DIR=str(outbox), MAX_RUNS_PER_USER="10")
    slack.events_url = worker.events
    run_id = await start_run(slack, task=EMAIL_TASK)
    send = await slack.wait_for(lambda: tool_card(slack, run_id), timeout=20)
    rule_id = await store.rules.create(rule(ends_with_example(), scope="run", run=run_id))
    other_run = await start_run(slack, task=EMAIL_TASK)  # another run in the channel: not its rule
    await slack.wait_for(lambda: tool_card(slack, other_run), timeout=20)
    assert await auto_approvals(store, other_run) == []
    await command_on(slack, worker, f"cancel {run_id}")
    await run_status(store, run_id, "cancelled")
    assert await store.rules.get(SALES, rule_id) is None
    ended = [e for e in await store.audit.entries(count=10_000) if e["event"] == "rule_ended"]
    assert [(e["rule_id"], e["run"]) for e in ended] == [(rule_id, run_id)]
    await slack.wait_for(lambda: not has_buttons(card_now(slack, send)))  # redrawn cancelled


@pytest.mark.slow
async def test_mode_never_refuses_a_call_a_rule_matches_and_policy_lets_the_rule_approve_a_risky_one(
    cluster: Cluster, slack: SlackStandIn, store: Store, tmp_path: Path
) -> None:
    """A rule is consulted only where a person would be asked: in `never` nobody is (the call is refused
    as every tool call is there); in `policy` the risk word "send email" would ask, and the rule approves."""
    outbox = tmp_path / "outbox"
    worker = await cluster.start(OUTBOX_DIR=str(outbox), MAX_RUNS_PER_USER="10")
    rule_id = await store.rules.create(rule(ends_with_example()))
    slack.events_url = worker.events
    never = await start_run(slack, task="--mode never " + EMAIL_TASK)
    await run_status(store, never, "rejected", within=30)
    assert outbox_files(outbox) == [] and await auto_approvals(store, never) == []
    entries = await store.audit.entries(count=10_000)
    refused = [e for e in entries if e["event"] == "auto_rejected" and e["run"] == never]
    assert refused and refused[0]["rule"].startswith("mode never")
    policy = await start_run(slack, task="--mode policy " + EMAIL_TASK)
    await until(lambda: len(outbox_files(outbox)) == 1, within=20, what="the email the rule approved")
    assert [e["rule_id"] for e in await auto_approvals(store, policy)] == [rule_id]
    kept = await store.rules.get(SALES, rule_id)
    assert kept is not None and kept.uses == 1
