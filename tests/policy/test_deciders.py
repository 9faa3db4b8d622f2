"""Policies about who decides (`principal is Person`), without a worker: which policies they are and what does not
load as one (a permit, an ask's annotations, an ask policy naming a Person), the two kinds never asked each other's
requests, and a vote's verdict by its surface, vote, arguments and workspace, an evaluation error (an Approve refused,
a Reject not), and shadow ones that refuse nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.policy.bundle import PolicyError, load_bundle
from bot.policy.decide import DeciderRequest, Evaluator, PolicyRequest
from bot.slack.refusals import refusal_text
from bot.store import DecideResult
from tests.support.policies import BIG_REFUNDS_IN_SLACK, write_bundle

NO_CODE = '''
@id("no-code")
@reason("no code runs here")
forbid (principal, action, resource) when { context.kind == "code" };
'''
OWN_WORKSPACE = '''
@id("payments-decided-in-their-workspace")
@reason("a payment is approved by people of the workspace that asked for it ({args.invoice})")
forbid (principal is Person, action == Action::"pay_invoice", resource)
when { context.vote != "reject" && context.team != "" && principal.team != context.team };
'''
VOTE = DeciderRequest(person="teams:0d9c3b54-0000-4000-8000-000000000001", surface="teams", action="refund",
                      channel="C0SALES", vote="approve", kind="tool_call", args={"amount_cents": 2_000_000},
                      person_team="T0HOME", requester="U0ALICE", asker="support-bot", team="T0HOME")


def evaluator(tmp_path: Path, *texts: str, shadow_all: bool = False) -> Evaluator:
    files = {f"p{i}.cedar": text for i, text in enumerate(texts)}
    return Evaluator(load_bundle(write_bundle(tmp_path, files)), shadow_all=shadow_all)


def test_a_policy_whose_principal_is_a_person_is_asked_only_at_a_vote(tmp_path: Path) -> None:
    scoped = '@id("bob-never")\nforbid (principal == Person::"U0BOB", action, resource);\n'
    within = '@id("in")\nforbid (principal is Person in Person::"U0BOB", action, resource);\n'
    bundle = load_bundle(write_bundle(tmp_path, {"a.cedar": BIG_REFUNDS_IN_SLACK + NO_CODE + scoped + within}))
    deciders = {i for i, p in bundle.policies.items() if p.decider}
    assert deciders == {"big-refunds-decided-in-slack", "bob-never", "in"}
    judge = Evaluator(bundle)
    # an unscoped ask policy never refuses a vote, even one on code
    assert judge.evaluate_vote(replace(VOTE, person="U0CAROL", kind="code", action="code")).outcome == "none"
    # ... and a decider policy never decides an ask (not even Bob's own run, nor a big refund)
    ask = PolicyRequest(principal_type="Agent", principal="support-bot", action="refund", channel="C0SALES",
                        kind="tool_call", args={"amount_cents": 2_000_000}, requester="U0BOB")
    asked = judge.evaluate(ask)
    assert (asked.outcome, asked.error) == ("none", "")
    assert judge.evaluate(replace(ask, kind="code", action="code")).ids == ("no-code",)
    refused = judge.evaluate_vote(replace(VOTE, person="U0BOB", surface="slack"))
    assert refused.outcome == "deny" and set(refused.ids) == {"bob-never", "in"}


@pytest.mark.parametrize(("text", "said"), [
    ('@id("x")\npermit (principal is Person, action, resource);', "may only forbid a vote"),
    ('@id("x")\n@outcome("ask")\n@approvers("U0BOB")\nforbid (principal is Person, action, resource);',
     "@approvers is not for a policy about who decides"),
    ('@id("x")\n@step_up\nforbid (principal == Person::"U0BOB", action, resource);', "@step_up is not for"),
    ('@id("x")\n@outcome("ask")\nforbid (principal is Person, action, resource);', "@outcome is not for"),
    ('@id("x")\nforbid (principal, action, resource) when { principal is Person };',
     "Person is the principal of a vote"),
    ('@id("x")\nforbid (principal is Person, action, resource) when { context.window.spend > 1 };',
     "context.window is not part of a vote"),
    ('@id("x")\nforbid (principal is Person, action, resource) when { context.mode == "policy" };',
     "context.mode is not part of a vote"),
    ('@id("x")\nforbid (principal is Person, action, resource) when { principal == Agent::"a" };',
     "where the principal is a Person, never Agent"),
    ('@id("x")\nforbid (principal, action, resource) when { context.vote == "approve" };',
     "context.vote is not part of a request"),
])
def test_what_does_not_load_as_a_decider_policy_is_named_by_file_and_line(tmp_path: Path, text: str,
                                                                          said: str) -> None:
    with pytest.raises(PolicyError) as refused:
        load_bundle(write_bundle(tmp_path, {"who.cedar": "// who decides\n" + text}))
    assert str(refused.value).startswith("who.cedar:2: ") and said in str(refused.value)


def test_a_big_refund_approved_in_teams_is_refused_with_the_policy_s_words(tmp_path: Path) -> None:
    judge = evaluator(tmp_path, BIG_REFUNDS_IN_SLACK)
    refused = judge.evaluate_vote(VOTE)
    assert (refused.outcome, refused.ids, refused.error) == ("deny", ("big-refunds-decided-in-slack",), "")
    assert refused.reason == ("Policy big-refunds-decided-in-slack: a refund over $10,000 is approved in Slack, where"
                              " step-up and attestations are")
    for counts in (replace(VOTE, surface="slack"), replace(VOTE, vote="reject"), replace(VOTE, vote="revise"),
                   replace(VOTE, args={"amount_cents": 999_999}), replace(VOTE, action="send_email")):
        assert judge.evaluate_vote(counts).outcome == "none", counts


def test_another_workspace_of_the_grid_may_not_approve(tmp_path: Path) -> None:
    judge = evaluator(tmp_path, OWN_WORKSPACE)
    payment = replace(VOTE, person="W0EVE", surface="slack", action="pay_invoice", args={"invoice": "INV-7"},
                      team="T0EU", enterprise="E0ORG", person_team="T0US", person_enterprise="E0ORG")
    refused = judge.evaluate_vote(payment)
    assert refused.ids == ("payments-decided-in-their-workspace",) and "(INV-7)" in refused.reason
    assert judge.evaluate_vote(replace(payment, person_team="T0EU")).outcome == "none"
    assert judge.evaluate_vote(replace(payment, vote="reject")).outcome == "none"


def test_an_evaluation_error_refuses_an_approve_or_revise_never_only_a_reject(tmp_path: Path) -> None:
    reads = ('@id("limit")\n@reason("over the limit")\nforbid (principal is Person, action == Action::"refund",'
             ' resource) when { context.args.amount_cents > 100 };\n')
    judge = evaluator(tmp_path, reads)
    for vote in ("approve", "revise"):
        refused = judge.evaluate_vote(replace(VOTE, vote=vote, args={"order": "A-1"}))  # no amount_cents
        assert refused.outcome == "deny" and refused.ids == ("limit",) and "amount_cents" in refused.error
        assert refused.reason.startswith("Policy limit: could not be evaluated (") and "refused" in refused.reason
    assert judge.evaluate_vote(replace(VOTE, vote="reject", args={"order": "A-1"})).outcome == "none"
    assert judge.evaluate_vote(replace(VOTE, vote="reject")).ids == ("limit",)  # a Reject a policy matched: refused


def test_shadow_decider_policies_refuse_nothing_and_say_what_they_would(tmp_path: Path) -> None:
    trial = BIG_REFUNDS_IN_SLACK.replace('@id("big-refunds-decided-in-slack")', '@id("trial")\n@mode("shadow")')
    everything = evaluator(tmp_path / "all", BIG_REFUNDS_IN_SLACK, shadow_all=True)  # POLICY_MODE=shadow
    for judge in (evaluator(tmp_path / "one", trial), everything):
        verdict = judge.evaluate_vote(VOTE)
        assert verdict.outcome == "none" and verdict.shadow is not None
        assert verdict.shadow.outcome == "deny" and len(verdict.shadow.ids) == 1
        assert judge.evaluate_vote(replace(VOTE, surface="slack")).shadow is None


def test_a_policy_refusal_is_said_inert_in_slack(tmp_path: Path) -> None:
    said = refusal_text(DecideResult("policy", None, refused="Policy x: not <!channel> for *you*"))
    assert said == "Policy x: not &lt;!channel&gt; for *you*. Nothing changed."


def test_a_cedar_schema_declaring_person_validates_a_decider_policy(tmp_path: Path) -> None:
    schema = """entity Agent;
entity Run { requester: String };
entity Person { surface: String, team: String, enterprise: String };
entity Channel;
type Context = { args: { amount_cents: Long }, kind: String, requester: String, window: {},
                 time: { hour_utc: Long, weekday: Long }, mode: String, risk_word: String, vote: String };
action refund appliesTo { principal: [Agent, Run, Person], resource: Channel, context: Context };
"""
    folder = write_bundle(tmp_path, {"schema.cedarschema": schema, "who.cedar": BIG_REFUNDS_IN_SLACK})
    assert load_bundle(folder).policies["big-refunds-decided-in-slack"].decider
    (folder / "schema.cedarschema").write_text(schema.replace("Person];", "];").replace("Run, Person", "Run"))
    with pytest.raises(PolicyError) as refused:
        load_bundle(folder)
    assert str(refused.value).startswith("who.cedar:2:")
