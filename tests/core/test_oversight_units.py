"""Service levels and fatigue (#80), pure: the shorter service level wins, at risk at 80 %, the steps the nudger
tells, the inbox's order, the approvers passed over, and per-person series bounded (top N and "other")."""

from __future__ import annotations

from dataclasses import replace

from bot.core.fatigue import held_for, held_until, passed_over, routed
from bot.core.metrics import top_people
from bot.core.service_levels import (
    at_risk_after,
    effective_sla,
    escalate_after,
    state_at,
    state_counts,
    state_of,
    urgency,
)
from tests.support.blockkit import approval

ANA, BOB, CAROL, REQUESTER = "U0ANA", "U0BOB", "U0CAROL", "U0ALICE"


def test_the_shorter_service_level_wins_and_at_risk_is_80_percent() -> None:
    assert effective_sla(3600, 300) == 300 and effective_sla(300, 3600) == 300
    assert effective_sla(0, 300) == 300 and effective_sla(900, None) == 900 and effective_sla(0, None) == 0
    assert at_risk_after(600) == 480 and at_risk_after(5) == 4 and at_risk_after(0) == 0
    assert [state_at(created_at=0, sla_seconds=600, now=t) for t in (0, 479, 480, 599, 600, 9999)] == [
        "within", "within", "at_risk", "at_risk", "breached", "breached"]
    assert state_at(created_at=0, sla_seconds=0, now=10**9) == "within"


def test_escalation_at_risk_comes_then_unless_escalate_after_is_sooner() -> None:
    assert escalate_after(escalate_after=1800, escalate_at="at_risk", sla_seconds=600) == 480
    assert escalate_after(escalate_after=60, escalate_at="at_risk", sla_seconds=600) == 60
    assert escalate_after(escalate_after=0, escalate_at="at_risk", sla_seconds=600) == 480
    assert escalate_after(escalate_after=1800, escalate_at="request", sla_seconds=600) == 1800
    assert escalate_after(escalate_after=1800, escalate_at="at_risk", sla_seconds=0) == 1800


def test_the_service_levels_changes_are_steps_in_time_order_and_none_after_the_deadline() -> None:
    record = approval(created_at=1000.0, deadline=1000.0 + 3600, timeout_seconds=3600, sla_seconds=600,
                      remind=("300", "540"), escalate_after=480, escalate_to=(CAROL,))
    assert [(s.at - 1000, s.kind) for s in record.steps()] == [
        (300, "remind"), (480, "escalate"), (480, "at_risk"), (540, "remind"), (600, "breached")]
    late = replace(record, deadline=1000.0 + 600, timeout_seconds=600)
    assert "breached" not in [s.kind for s in late.steps()]  # it times out first
    assert [s.kind for s in replace(record, sla_seconds=0).steps()] == ["remind", "escalate", "remind"]


def test_the_inbox_lists_breached_then_at_risk_then_within_and_states_are_counted() -> None:
    assert sorted(["", "breached", "at_risk"], key=urgency) == ["breached", "at_risk", ""]
    assert state_of("") == "within" and state_of("nonsense") == "within"
    assert state_counts([(600, ""), (600, "at_risk"), (60, "breached"), (0, "breached")]) == {
        "within": 1, "at_risk": 1, "breached": 1}  # one without a service level is not counted


def test_per_person_series_are_the_top_n_and_the_rest_as_other() -> None:
    assert top_people({"U1": 5, "U2": 3, "U3": 1, "U4": 1}, 2) == {"U1": 5, "U2": 3, "other": 2}
    assert top_people({"U2": 3, "U1": 3}, 1) == {"U1": 3, "other": 3}  # ties by name: the same on every worker
    assert top_people({"U1": 1}, 20) == {"U1": 1} and top_people({}, 20) == {}
    assert len(top_people({f"U{n}": n for n in range(500)}, 20)) == 21


def test_an_approver_over_budget_is_passed_over_when_enough_others_remain() -> None:
    two = approval(approvers=(ANA, BOB), requester=REQUESTER)
    sent = routed(two, {ANA: 30, BOB: 3}, 30)
    assert sent.approvers == (BOB,) and passed_over(sent.fatigue) == ("rerouted", {ANA: 30})
    assert routed(two, {ANA: 29}, 30) == two and routed(two, {ANA: 99}, 0) == two  # under it, or off
    waits = routed(two, {ANA: 30, BOB: 31}, 30)
    assert waits.approvers == (ANA, BOB) and passed_over(waits.fatigue) == ("waiting", {ANA: 30, BOB: 31})
    quorum = routed(replace(two, required_approvals=2), {ANA: 30}, 30)  # one left cannot make a quorum of 2
    assert quorum.approvers == (ANA, BOB) and passed_over(quorum.fatigue)[0] == "waiting"
    own = routed(approval(approvers=(ANA, REQUESTER), requester=REQUESTER), {ANA: 30}, 30)
    assert passed_over(own.fatigue)[0] == "waiting"  # the requester may not decide their own
    group = routed(approval(approvers=(ANA, "S0OPS"), requester=REQUESTER), {ANA: 30}, 30)
    assert group.approvers == ("S0OPS",)
    assert routed(approval(approvers=(), requester=REQUESTER), {}, 30).fatigue == ""  # anyone: nobody counted
    assert passed_over("rerouted:U0ANA=x") == ("", {}) and passed_over("") == ("", {})


def test_an_approval_held_for_the_next_hour_is_sent_then_to_those_over_budget_alone() -> None:
    two = approval(approvers=(ANA, BOB), requester=REQUESTER)
    waits = replace(routed(two, {ANA: 30, BOB: 31}, 30), created_at=7200 + 1799.5)
    assert held_until(waits) == 3 * 3600 and held_for(waits) == (ANA, BOB)  # the hour after it opened (HH:00)
    assert held_until(replace(waits, created_at=3 * 3600)) == 4 * 3600  # opened at the hour: the next one
    quorum = routed(replace(two, required_approvals=2), {ANA: 30}, 30)
    assert held_for(quorum) == (ANA,)  # bob, under budget, was asked at once
    own = routed(approval(approvers=(ANA, REQUESTER), requester=REQUESTER), {ANA: 30, REQUESTER: 30}, 30)
    assert held_for(own) == (ANA,)  # never to the requester
    assert held_for(routed(two, {ANA: 30}, 30)) == ()  # rerouted, not held
