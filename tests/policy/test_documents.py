"""A policy file and policy.yaml are documents read by models (bot/policy/bundle.py `_Annotations`,
bot/policy/windows.py `_Window`): whatever is wrong in one is refused in the project's words, naming the file and
line, never in pydantic's."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.policy.bundle import PolicyError, load_bundle
from tests.support.policies import write_bundle

FORBID = "forbid (principal, action, resource);"


@pytest.mark.parametrize(("files", "said"), [
    ({"a.cedar": f'@id("x")\n@colour("red")\n{FORBID}'},
     "a.cedar:1: unknown annotation @colour (known: id, reason, outcome, approvers, quorum, channel, timeout, mode,"
     " step_up, require_attestation, require_details, sla, triage, triage_may_approve, triage_mode, ticket, reach)"),
    ({"a.cedar": f'@id("x")\n@outcome("ask")\n@require_attestation("Refunds!")\n{FORBID}'},
     "a.cedar:1: @require_attestation('Refunds!'): name a brief, 1 to 40 lowercase letters"),
    ({"a.cedar": f'@id("x")\n@require_attestation("refunds")\n{FORBID}'},
     "a.cedar:1: @require_attestation routes an ask: it needs @outcome(\"ask\")"),
    ({"a.cedar": f'@id("  ")\n{FORBID}'}, "a.cedar:1: every policy needs an @id"),
    ({"a.cedar": f'@id("x")\n@outcome("maybe")\n{FORBID}'}, "a.cedar:1: @outcome('maybe'): use \"ask\""),
    ({"a.cedar": f'@id("x")\n@outcome("allow")\n{FORBID}'}, "a.cedar:1: @outcome('allow') contradicts its effect"),
    ({"a.cedar": f'@id("x")\n@mode("loud")\n{FORBID}'}, "a.cedar:1: @mode('loud'): use \"shadow\" or \"enforce\""),
    ({"a.cedar": f'@id("x")\n@quorum("2")\n{FORBID}'}, "a.cedar:1: @quorum routes an ask: it needs @outcome(\"ask\")"),
    ({"a.cedar": f'@id("x")\n@step_up\n{FORBID}'}, "a.cedar:1: @step_up routes an ask"),
    ({"a.cedar": f'@id("x")\n@outcome("ask")\n@quorum("²")\n{FORBID}'}, "@quorum('²'): use a number from 1 to 10"),
    ({"a.cedar": f'@id("x")\n@outcome("ask")\n@channel("#ops")\n{FORBID}'}, "@channel('#ops') is not a channel id"),
    ({"a.cedar": f'@id("x")\n@outcome("ask")\n@timeout("soon")\n{FORBID}'}, "@timeout('soon'): use a duration"),
    ({"a.cedar": f'@id("x")\n@outcome("ask")\n@step_up("yes")\n{FORBID}'}, "@step_up takes no value"),
    ({"a.cedar": f'@id("x")\n@sla("15m")\n{FORBID}'}, "a.cedar:1: @sla routes an ask: it needs @outcome(\"ask\")"),
    ({"a.cedar": f'@id("x")\n@reach("slack")\n{FORBID}'}, "a.cedar:1: @reach routes an ask: it needs @outcome"),
    ({"a.cedar": f'@id("x")\n@outcome("ask")\n@reach("slack; pager after 2m")\n{FORBID}'},
     "a.cedar:1: @reach('slack; pager after 2m'): step 2: 'pager' is not a surface"),
    ({"a.cedar": f'@id("x")\n@outcome("ask")\n@reach("email after 1h; slack")\n{FORBID}'},
     "a.cedar:1: @reach('email after 1h; slack'): step 2 (slack) comes before the step before it"),
    ({"a.cedar": f'@id("x")\n@outcome("ask")\n@sla("soon")\n{FORBID}'}, "@sla('soon'): use a duration"),
    ({"a.cedar": f'@id("x")\n@ticket("jira")\n{FORBID}'}, "a.cedar:1: @ticket routes an ask: it needs"),
    ({"a.cedar": f'@id("x")\n@outcome("ask")\n@ticket("github")\n{FORBID}'}, "@ticket('github'): use \"jira\" or"),
    ({"policy.yaml": "windows: [spend]\n"}, "policy.yaml:1: windows: a mapping of name: {sum|count, per, over}"),
    ({"policy.yaml": "windows:\n  1st: {count: true, over: 1h}\n"}, "1st: a window's name is a word"),
    ({"policy.yaml": "windows:\n  spend: [count]\n"}, "policy.yaml:2: spend: {sum: args.x | count: true,"),
    ({"policy.yaml": "windows:\n  spend: {count: true, over: 1h, colour: red}\n"},
     "policy.yaml:2: spend: unknown key 'colour' (known: sum, count, per, over, actions)"),
    ({"policy.yaml": "windows:\n  spend: {over: 1h}\n"}, "spend: give either sum: args.<field> or count: true"),
    ({"policy.yaml": "windows:\n  spend: {count: true, over: {a: {b: [1]}}}\n"}, "spend: over is a duration"),
    ({"policy.yaml": "windows:\n  spend: {count: true, over: 1h, per: [[principal]]}\n"}, "spend: per is a list of"),
    ({"policy.yaml": "windows:\n  spend: {count: true, over: 1h, actions: [{a: 1}]}\n"},
     "spend: actions is a list of tool names"),
])
def test_a_malformed_policy_document_is_refused_in_the_projects_words(
        tmp_path: Path, files: dict[str, str], said: str) -> None:
    with pytest.raises(PolicyError) as refused:
        load_bundle(write_bundle(tmp_path, files))
    assert said in str(refused.value)
    assert "validation error" not in str(refused.value) and "pydantic" not in str(refused.value)


def test_a_count_that_is_not_true_or_false_is_refused(tmp_path: Path) -> None:
    """`count: "no"` read as a count window (a word is true to Python) before the model: now said to be wrong."""
    with pytest.raises(PolicyError) as refused:
        load_bundle(write_bundle(tmp_path, {"policy.yaml": 'windows:\n  spend: {count: "no", over: 1h}\n'}))
    assert str(refused.value) == "policy.yaml:2: spend: count is true (a sum window leaves it out)"
