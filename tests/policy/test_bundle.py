"""Bundles and verdicts without a worker: what does not load is named by file and line, the four outcomes and their
order, shadow policies beside, reasons filled in, an agent's arguments never made into Cedar entities, and an
evaluation error that asks a person, never allows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from agent_approvals.approver import ApprovalRequest
from agent_approvals.modes import DEFAULT_RISK_WORDS, RISK_WORD_REASON, InputPolicy, verdict

from bot.policy.bundle import PolicyError, load_bundle
from bot.policy.decide import Evaluator, PolicyRequest, cedar_value, render_reason, usd
from tests.support.policies import REFUND_WINDOWS, REFUNDS, write_bundle

RULES = '''
@id("reads")
permit (principal, action in [Action::"read_file", Action::"search"], resource);

@id("no-rm")
@reason("refused: {args.command} deletes files")
forbid (principal, action == Action::"bash", resource) when { context.args.command like "*rm -rf*" };

@id("bash-asks")
@outcome("ask")
@approvers("U0BOB, S0OPS")
@channel("C0OPS")
@timeout("30m")
forbid (principal, action == Action::"bash", resource);

@id("trial-deny-reads")
@mode("shadow")
forbid (principal, action == Action::"read_file", resource)
when { context.args has path && context.args.path like "/etc/*" };
'''


def ask(action: str, args: dict[str, object] | None = None, **kw: object) -> PolicyRequest:
    return PolicyRequest(principal_type="Agent", principal="support-bot", action=action, channel="C0SALES",
                         kind="tool_call", args=args or {}, **kw)  # type: ignore[arg-type]


def test_each_outcome_with_its_ids_reason_and_routing(tmp_path: Path) -> None:
    evaluator = Evaluator(load_bundle(write_bundle(tmp_path, {"rules.cedar": RULES})))
    allowed = evaluator.evaluate(ask("search", {"q": "prices"}))
    assert (allowed.outcome, allowed.ids) == ("allow", ("reads",))
    denied = evaluator.evaluate(ask("bash", {"command": "rm -rf /srv"}))
    assert (denied.outcome, denied.ids, denied.reason) == ("deny", ("no-rm",), "refused: rm -rf /srv deletes files")
    asked = evaluator.evaluate(ask("bash", {"command": "ls"}))
    assert (asked.outcome, asked.ids) == ("ask", ("bash-asks",))
    assert (asked.approvers, asked.channel, asked.timeout) == (("U0BOB", "S0OPS"), "C0OPS", 1800)
    assert evaluator.evaluate(ask("send_email")).outcome == "none"
    shadowed = evaluator.evaluate(ask("read_file", {"path": "/etc/passwd"}))
    assert shadowed.outcome == "allow" and shadowed.shadow is not None
    assert (shadowed.shadow.outcome, shadowed.shadow.ids) == ("deny", ("trial-deny-reads",))
    assert evaluator.evaluate(ask("read_file", {"path": "/srv/a"})).shadow is None


def test_the_whole_bundle_in_shadow_decides_nothing_but_says_what_it_would(tmp_path: Path) -> None:
    evaluator = Evaluator(load_bundle(write_bundle(tmp_path, {"rules.cedar": RULES})), shadow_all=True)
    verdict = evaluator.evaluate(ask("bash", {"command": "rm -rf /"}))
    assert verdict.outcome == "none" and verdict.shadow is not None and verdict.shadow.outcome == "deny"


def test_the_risk_words_are_the_shipped_default_and_come_after_the_bundle(tmp_path: Path) -> None:
    evaluator = Evaluator(load_bundle(None))
    verdict = evaluator.evaluate(ask("deploy", {"env": "prod"}, mode="policy", risk_word="deploy"))
    assert verdict.outcome == "none" and verdict.fallback is not None
    assert (verdict.fallback.outcome, verdict.fallback.ids) == ("ask", ("default:risk-words",))
    assert verdict.fallback.reason == "matched the risk word “deploy”"
    assert evaluator.evaluate(ask("deploy", mode="always", risk_word="")).fallback is None
    permit = '@id("deploys-ok")\npermit (principal, action == Action::"deploy", resource);'
    mine = Evaluator(load_bundle(write_bundle(tmp_path, {"deploys.cedar": permit})))
    decided = mine.evaluate(ask("deploy", mode="policy", risk_word="deploy"))
    assert decided.outcome == "allow" and decided.fallback is None  # the bundle's own word comes first


def test_the_risk_words_sentence_is_the_modes_own() -> None:
    """The agent side's input mode (a `ModeGate` outside the bot) says why it asks in the same sentence as the
    shipped policy: one sentence, `agent_approvals.modes.RISK_WORD_REASON`, which the loader gives the shipped policy
    (written nowhere else in the code)."""
    shipped = load_bundle(None).policies["default:risk-words"]
    assert shipped.reason == RISK_WORD_REASON
    root = Path(__file__).resolve().parents[2]
    written = [str(path.relative_to(root)) for folder in ("bot", "agents/agent_approvals")
               for path in sorted((root / folder).rglob("*")) if path.suffix in (".py", ".cedar", ".lua", ".yaml")
               and "matched the risk word" in path.read_text(encoding="utf-8")]
    assert written == ["agents/agent_approvals/modes.py"]
    request = ApprovalRequest("a1", "", "", kind="tool_call", tool_name="deploy_app", arguments='{"env":"prod"}')
    said = verdict(request, InputPolicy(mode="policy", risk_words=DEFAULT_RISK_WORDS)).rule
    assert said == render_reason(shipped.reason, {"risk_word": "deploy"}) == "matched the risk word “deploy”"


def test_an_evaluation_error_asks_a_person_never_allows(tmp_path: Path) -> None:
    bundle = load_bundle(write_bundle(tmp_path, {"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS}))
    evaluator = Evaluator(bundle)
    verdict = evaluator.evaluate(ask("refund", {"order": "A-1"}), {"refunds_24h": 0})  # no amount_cents
    assert verdict.outcome == "ask" and verdict.error and "could not be evaluated" in verdict.reason
    floats = evaluator.evaluate(ask("refund", {"amount_cents": 12.5}), {"refunds_24h": 0})
    assert floats.outcome == "ask"  # a float is text to Cedar: compared with a number, it errs, so a person decides


def test_an_agents_arguments_never_become_entities_or_escapes() -> None:
    forged = {"owner": {"__entity": {"type": "Agent", "id": "admin"}}, "n": 2**70, "x": None, "f": 1.5}
    assert cedar_value(forged) == {"owner": {}, "n": str(2**70), "f": "1.5"}


def test_reasons_fill_in_windows_arguments_and_dollars() -> None:
    context = {"window": {"refunds_24h": 35000}, "args": {"order": "A-1"}}
    assert render_reason("spent {window.refunds_24h|usd} on {args.order}, {args.missing}", context) == (
        "spent $350 on A-1, {args.missing}")
    assert (usd(125050), usd(-5), usd(0)) == ("$1,250.50", "-$0.05", "$0")


@pytest.mark.parametrize(("files", "named"), [
    ({"a.cedar": '@id("ok")\npermit (principal, action, resource);\n\n@id("bad")\n'
      'forbid (principal, action, resource)\n  when { context.args.x > };'}, "a.cedar:4:"),
    ({"a.cedar": 'permit (principal, action, resource);'}, "a.cedar:1: every policy needs an @id"),
    ({"a.cedar": '@id("x")\npermit (principal, action, resource);\n@id("x")\npermit (principal, action, resource);'},
     "a.cedar:3: @id 'x' is used already (a.cedar:1)"),
    ({"a.cedar": '@id("x")\n@outcome("ask")\npermit (principal, action, resource);'}, "a.cedar:1: @outcome(\"ask\")"),
    ({"a.cedar": '@id("x")\n@outcome("ask")\n@quorum("11")\nforbid (principal, action, resource);'}, "@quorum('11')"),
    ({"a.cedar": '@id("x")\n@outcome("ask")\n@approvers("bob")\nforbid (principal, action, resource);'},
     "'bob' is not a Slack user"),
    ({"a.cedar": '@id("x")\npermit (principal, action, resource) when { context.window.spend < 3 };'},
     "context.window.spend is not declared in policy.yaml"),
    ({"a.cedar": '@id("x")\npermit (principal, action, resource) when { context.amount < 3 };'},
     "context.amount is not part of a request"),
    ({"a.cedar": '// a comment\n\n// another\n@id("x")\n'
      'permit (principal, action, resource) when { principal is User };'},
     "a.cedar:4: entity type User"),
    ({"policy.yaml": "windows:\n  spend:\n    sum: amount\n    over: 1d\n"},
     "policy.yaml:2: spend: sum is an argument"),
    ({"policy.yaml": "windows: [\n"}, "policy.yaml:2: not YAML"),
])
def test_what_does_not_load_is_named_by_file_and_line(tmp_path: Path, files: dict[str, str], named: str) -> None:
    with pytest.raises(PolicyError) as refused:
        load_bundle(write_bundle(tmp_path, files))
    assert named in str(refused.value)


def test_a_bundles_hash_changes_with_any_file(tmp_path: Path) -> None:
    folder = write_bundle(tmp_path, {"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS})
    first = load_bundle(folder)
    (folder / "policy.yaml").write_text(REFUND_WINDOWS.replace("over: 24h", "over: 12h"))
    second = load_bundle(folder)
    assert first.hash != second.hash and len(first.hash) == 64
    assert [w.over for w in second.windows] == [12 * 3600]
    assert Evaluator(second).evaluate(ask("refund", {"amount_cents": 100}), {"refunds_24h": 0}).outcome == "allow"


SCHEMA = """entity Agent;
entity Run { requester: String };
entity Channel;
type Context = { args: { amount_cents: Long }, kind: String, requester: String, window: {},
                 time: { hour_utc: Long, weekday: Long }, mode: String, risk_word: String };
action refund appliesTo { principal: [Agent, Run], resource: Channel, context: Context };
"""


def test_a_cedar_schema_in_the_folder_validates_every_policy_against_it(tmp_path: Path) -> None:
    good = ('@id("small")\npermit (principal, action == Action::"refund", resource)\n'
            'when { context.args.amount_cents < 100 };')
    folder = write_bundle(tmp_path, {"schema.cedarschema": SCHEMA, "refunds.cedar": good})
    assert list(load_bundle(folder).policies) == ["default:risk-words", "small"]
    (folder / "typo.cedar").write_text('@id("typo")\npermit (principal, action == Action::"refund", resource)\n'
                                       'when { context.args.amount < 100 };')
    with pytest.raises(PolicyError) as refused:
        load_bundle(folder)
    assert str(refused.value).startswith("typo.cedar:1:") and "args.amount" in str(refused.value)


TRIAGED = '''
@id("small-refunds")
@outcome("ask")
@triage("llama3.1")
@triage_may_approve("medium")
forbid (principal, action == Action::"refund", resource);

@id("refunds-read-by-the-model")
@outcome("ask")
@triage("llama3.1")
@triage_may_approve("low")
forbid (principal, action == Action::"refund", resource)
when { context.args.amount_cents > 100 };

@id("refunds-people-read")
@outcome("ask")
forbid (principal, action == Action::"refund", resource)
when { context.args.amount_cents > 1000 };
'''


def test_triage_is_an_ask_policys_and_its_model_one_of_model_config(tmp_path: Path) -> None:
    """#92: @triage names a model of MODEL_CONFIG (a bundle naming another is refused at load), on an ask only;
    @triage_may_approve is a risk level, with @triage; every asking policy must let the model in, and the lowest
    limit wins."""
    folder = write_bundle(tmp_path / "ok", {"refunds.cedar": TRIAGED})
    evaluator = Evaluator(load_bundle(folder, models={"llama3.1", "gpt-4o"}))
    read = [evaluator.evaluate(ask("refund", {"amount_cents": cents}), {}) for cents in (50, 500, 5000)]
    assert [(v.outcome, v.triage, v.triage_may_approve) for v in read] == [
        ("ask", "llama3.1", "medium"), ("ask", "llama3.1", "low"), ("ask", "", "")]
    with pytest.raises(PolicyError, match=r"refunds.cedar:2: @triage\('llama3.1'\) names no model of MODEL_CONFIG"
                                          r" \(its models: gpt-4o\)"):
        load_bundle(folder, models={"gpt-4o"})
    for notes, refused in (
        ('@outcome("ask") @triage_may_approve("lowest") @triage("m")', 'use "low", "medium" or "high"'),
        ('@outcome("ask") @triage_may_approve("low")', "@triage_may_approve needs @triage"),
        ('@triage("m")', '@triage routes an ask: it needs @outcome("ask")'),
        ('@outcome("ask") @triage("two words")', "name a model of MODEL_CONFIG"),
        ('@outcome("ask") @triage_mode("shadow")', "@triage_mode needs @triage"),
        ('@outcome("ask") @triage("m") @triage_mode("quiet")', 'use "shadow"'),
        ('@triage_mode("shadow")', '@triage_mode routes an ask: it needs @outcome("ask")'),
    ):
        bad = write_bundle(tmp_path / str(len(refused)), {
            "bad.cedar": f'@id("bad") {notes} forbid (principal, action, resource);'})
        with pytest.raises(PolicyError, match=re.escape(refused)):
            load_bundle(bad)


def test_a_shadow_triage_is_the_verdicts_when_one_asking_policy_says_so(tmp_path: Path) -> None:
    """#92 shadow first: @triage_mode("shadow") on any asking policy makes the model's reading only audited."""
    shadowed = TRIAGED.replace('@triage_may_approve("low")', '@triage_may_approve("low")\n@triage_mode("shadow")', 1)
    assert shadowed != TRIAGED
    for text, expected in ((TRIAGED, False), (shadowed, True)):
        folder = write_bundle(tmp_path / str(expected), {"refunds.cedar": text})
        verdict = Evaluator(load_bundle(folder)).evaluate(ask("refund", {"amount_cents": 500}), {})
        assert (verdict.triage, verdict.triage_shadow) == ("llama3.1", expected), verdict
