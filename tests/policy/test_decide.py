"""Cedar is given only what of a request's context a policy set reads (bot/policy/decide.py, `_Set.read`), and
decides exactly as it would given all of it: the same outcome, policies, reason and errors, for policies that read
arguments by name, nested, by presence (`has`), a whole record, or the whole context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.policy import decide
from bot.policy.bundle import load_bundle
from bot.policy.decide import Evaluator, PolicyRequest
from tests.support.policies import write_bundle

READS = '''
@id("small-refunds")
permit (principal, action == Action::"refund", resource)
when { context.args has amount_cents && context.args.amount_cents + context.window.spent <= 500 };

@id("gold-customers")
@outcome("ask")
@reason("{args.customer.name} is a gold customer")
forbid (principal, action == Action::"refund", resource)
when { context.args has customer && context.args.customer has tier && context.args.customer.tier == "gold" };

@id("the-odd-amount")
@reason("{args.amount_cents} cents is the odd amount")
forbid (principal, action == Action::"refund", resource) when { context.args.amount_cents == 101 };

@id("with-a-note")
@outcome("ask")
forbid (principal, action == Action::"refund", resource) when { context.args has note };

@id("a-known-order")
permit (principal, action == Action::"ship", resource) when { context.args == {"order": "A-1"} };

@id("an-empty-context")
forbid (principal, action == Action::"wipe", resource) when { context == {} };

@id("nested-has")
@outcome("ask")
forbid (principal, action == Action::"ship", resource) when { context.args.order has id };
'''
WINDOWS = "windows:\n  spent: {sum: args.amount_cents, per: [principal], over: 24h, actions: [refund]}\n"
ARGS: list[Any] = [
    {}, {"amount_cents": 100}, {"amount_cents": 101}, {"amount_cents": 900, "note": "x"},
    {"amount_cents": 100, "customer": {"tier": "gold", "name": "Jo"}}, {"customer": {"tier": "silver"}},
    {"customer": "gold"}, {"order": "A-1"}, {"order": "A-1", "note": "x"}, {"order": {"id": 1}}, {"order": 7},
]


def verdicts(evaluator: Evaluator) -> list[Any]:
    return [evaluator.evaluate(PolicyRequest("Agent", "bot", action, "C1", "tool_call", args), windows)
            for action in ("refund", "ship", "wipe", "other")
            for args in ARGS for windows in ({"spent": 0}, {"spent": 450})]


def test_cedar_decides_on_what_the_policies_read_as_on_the_whole_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = load_bundle(write_bundle(tmp_path, {"reads.cedar": READS, "policy.yaml": WINDOWS}))
    given = verdicts(Evaluator(bundle))
    monkeypatch.setattr(decide._Set, "read", lambda self, context: context)
    assert given == verdicts(Evaluator(bundle))
    assert {v.outcome for v in given} == {"allow", "deny", "ask", "none"} and any(v.error for v in given)


def test_what_a_set_reads() -> None:
    evaluator = Evaluator(load_bundle(None))
    assert evaluator._set("refund", "defaults").reads == {"mode": None, "risk_word": None}  # type: ignore[union-attr]
    forms = {"p": {"effect": "permit", "principal": {"op": "All"}, "action": {"op": "All"},
                   "resource": {"op": "All"}, "conditions": []}}
    assert decide._Set.of(forms).reads == {}  # reads nothing of the context
