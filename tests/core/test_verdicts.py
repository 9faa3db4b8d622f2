"""A decision in words, said once by the bot for every client (bot/core/verdicts.py): who decided, and what an
agent's model reads when its call does not run; the API's approval answers carry both (tests/api/test_api.py)."""

from __future__ import annotations

import pytest
from agent_approvals.approver import Decision, encode_revision

from bot.core.verdicts import who_decided, worded


@pytest.mark.parametrize(("decided_by", "name", "who"), [
    ("U0BOB", "bob", "@bob"),
    ("U0BOB", "@bob ", "@bob"),
    ("U0BOB", "", "U0BOB"),  # no name known: the id
    ("rule R1", "", "rule R1"),
    ("auto", "", "the input mode"),
    ("policy", "", "policy"),
    ("timeout", "", "timeout"),
    ("system", "", "the bot"),
    ("", "", ""),
])
def test_who_decided(decided_by: str, name: str, who: str) -> None:
    assert who_decided(Decision("a-1", "rejected", decided_by), name=name) == who


def said(outcome: str, decided_by: str = "U0BOB", feedback: str = "", *, name: str = "bob", **more: str) -> str | None:
    return worded(Decision("a-1", outcome, decided_by, feedback, **more), name=name).refusal  # type: ignore[arg-type]


def test_the_refusal_says_who_refused_and_why() -> None:
    assert said("rejected", feedback="not yet") == "Not run: rejected by @bob: not yet"
    assert said("rejected", name="") == "Not run: rejected by U0BOB: no reason given"
    assert said("rejected", "auto", "mode never") == "Not run: rejected by the input mode: mode never"
    assert said("rejected", "", name="") == "Not run: rejected by a reviewer: no reason given"
    assert said("revised", feedback="shorter") == "Not run: @bob asked for a revision. shorter"
    edit = encode_revision({"to": "carol@example.com", "body": "Prix: 6 €"}, note=" to Carol ")
    assert said("revised", feedback=edit) == ("Not run: @bob asked for a revision. to Carol Edited arguments to use"
                                              ' instead: {"to": "carol@example.com", "body": "Prix: 6 \\u20ac"}.')
    assert said("timed_out", "timeout", "no decision within 1s") == \
        "Not run: nobody decided in time (no decision within 1s)."
    assert said("cancelled", "system") == "Not run: cancelled (cancelled)."


def test_a_call_that_may_run_has_no_refusal() -> None:
    assert said("approved") is None
    assert said("timed_out", "timeout", timeout_outcome="approve") is None
    assert worded(Decision("a-1", "approved", "rule R1")).who == "rule R1"
