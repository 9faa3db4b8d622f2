"""What detection costs per ask (#68, tests/benchmarks/redaction.py), made cheap without changing what is found: the
operator's paths compiled once into an automaton moved while the arguments are walked (bot/core/arg_paths.py
`PathMatcher`), matching exactly as each path read on its own (`ArgPath.matches`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import detectors
from bot.core.arg_paths import JSON_TEXT, ArgPath, PathMatcher, compiled, parse_path, parse_redact
from bot.core.detectors import Finding
from bot.core.sensitive import find_hidden

rule_steps = st.lists(st.sampled_from(["*", "**", "a", "b", "cvc", 0, 1, "*"]), min_size=1, max_size=5)
value_paths = st.lists(st.sampled_from(["a", "b", "cvc", "x", 0, 1, 7, JSON_TEXT, "*"]), max_size=7)


def matched(matcher: PathMatcher, path: list[Any]) -> bool:
    at = matcher.start
    for step in path:
        at = matcher.step(at, step)
    return matcher.accepts(at)


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
@settings(max_examples=400)
@given(st.lists(rule_steps, max_size=4), value_paths)
def test_the_compiled_paths_match_exactly_as_each_path_does(rules: list[list[Any]], path: list[Any]) -> None:
    paths = tuple(ArgPath(repr(steps), tuple(steps)) for steps in rules)
    assert matched(PathMatcher(paths), path) == any(rule.matches(tuple(path)) for rule in paths)


def test_the_paths_are_compiled_once_per_set_of_paths() -> None:
    paths = (parse_path("card.number"), parse_path("**.cvc"))
    assert compiled(paths) is compiled((parse_path("card.number"), parse_path("**.cvc")))


def test_many_deep_wildcards_over_many_lines_find_what_each_path_finds() -> None:
    lines = [{"sku": f"S{i}", "card": {"cvc": str(i)}, "n": i} for i in range(200)]
    rules = parse_redact({"*": ["**.cvc", "**.card.**.cvc", "*.*.*.cvc", "lines[*].**.nothing"]})
    found = find_hidden("order", {"lines": lines}, rules=rules, detectors=())
    assert [h.where for h in found] == [f"lines[{i}].card.cvc" for i in range(200)]


def test_a_text_without_digits_or_a_secrets_marker_runs_no_detector(monkeypatch: Any) -> None:
    """One pass for a digit and one for every secret's marker, instead of each detector's own."""
    ran: list[str] = []

    def counted(name: str, finder: Callable[[str], Iterator[Finding]]) -> Callable[[str], Iterator[Finding]]:
        def run(text: str) -> Iterator[Finding]:
            ran.append(name)
            return finder(text)
        return run

    for name, finder in list(detectors._FINDERS.items()):
        monkeypatch.setitem(detectors._FINDERS, name, counted(name, finder))
    assert detectors.scan("a long note with no number in it, only words", frozenset(detectors.DETECTORS)) == []
    assert ran == []
    assert [f.kind for f in detectors.scan("pay 4111 1111 1111 1111 now", frozenset(detectors.DETECTORS))] == ["card"]
    assert ran == ["card", "iban"]
    ran.clear()
    assert [f.kind for f in detectors.scan("key sk_live_abcdefghijklmnopqrstuv", frozenset({"card", "stripe"}))] == [
        "Stripe secret key"]
    assert ran == ["stripe"]
