"""The core's refusal words (bot/approvals/refusals.py) as each surface writes them (issue 88): Slack's mrkdwn
(bot/slack/refusals.py: mentions, `<url|words>`, bold, inert untrusted text), and plain text for Teams' card notice
(`TeamsWriting`) and the e-mail page (`PlainWriting`): people by name, no Slack markup at all, whatever the refusal."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bot.approvals.refusals import refusal_text, step_up_text
from bot.core.attestations import refusal_words
from bot.core.writing import PlainWriting
from bot.msteams.cards import TeamsWriting
from bot.slack import refusals as slack
from bot.store import DecideResult
from tests.support.approver import record

TEAMS_ANA = "teams:0a1b2c3d-0000-4000-8000-000000000001"
NAMES = {"U0BOB": "Bob", "S0OPS": "ops", TEAMS_ANA: "Ana", "U0CAROL": "Carol"}
# what Slack reads as markup: a mention, a group, a channel, a link, bold, code, an escaped character
SLACK_MARKUP = re.compile(r"<[@#!][^>]*>|<https?://[^>]*>|\*[^*\s][^*]*\*|`|&(amp|lt|gt);")
ASKED = record(approvers=["U0BOB", "S0OPS", TEAMS_ANA])
DECIDED = record(status="cancelled", decided_by="U0CAROL", feedback="not now")
TYPED = "not <now> & *never*"  # untrusted: as typed in plain words (the card, the page escape it), inert in Slack's
REFUSED = [
    DecideResult("not_allowed", ASKED),
    DecideResult("already", DECIDED),
    DecideResult("already", record(status="approved", decided_by=TEAMS_ANA)),
    DecideResult("frozen", ASKED),
    DecideResult("policy", ASKED, refused="Policy x: not for you"),
    DecideResult("attestation", ASKED, attest="channel:C0SALES", page="https://bot.example/briefs/C0SALES"),
    DecideResult("attestation", ASKED, attest="tool:refunds"),
]


def plain_words(result: DecideResult, writing: PlainWriting) -> list[str]:
    return [refusal_text(result, writing=writing), step_up_text(None, writing=writing),
            step_up_text("https://bot.example/step-up/vote/t0k", writing=writing)]


@pytest.mark.parametrize("writing", [TeamsWriting(NAMES), PlainWriting(NAMES)], ids=["teams", "email"])
@pytest.mark.parametrize("result", REFUSED, ids=lambda r: r.status)
def test_teams_and_the_email_page_say_the_refusals_with_no_slack_markup(result: DecideResult,
                                                                        writing: PlainWriting) -> None:
    for said in plain_words(result, writing):
        assert SLACK_MARKUP.search(said) is None, said
        assert said.endswith(("Nothing changed.", "nothing changed yet.", "timed out.")), said


def test_the_plain_words_name_people_and_keep_the_link() -> None:
    teams = TeamsWriting(NAMES)
    assert refusal_text(REFUSED[0], writing=teams) == "Only Bob, ops or Ana may decide this approval. Nothing changed."
    assert refusal_text(REFUSED[1], writing=teams) == (
        "This approval was already cancelled by Carol (not now). Nothing changed.")
    assert f"by Carol ({TYPED})." in refusal_text(DecideResult("already", replace(DECIDED, feedback=TYPED)),
                                                  writing=PlainWriting(NAMES))
    assert "already approved by Ana." in refusal_text(REFUSED[2], writing=PlainWriting(NAMES))
    assert "confirm it with your passkey: https://bot.example/step-up/vote/t0k." in step_up_text(
        "https://bot.example/step-up/vote/t0k", writing=PlainWriting())
    assert "Home, Passkeys → Set up a passkey, then" in step_up_text(None, writing=teams)
    assert "Only U0DAN may decide" in refusal_text(DecideResult("not_allowed", record(approvers=["U0DAN"])),
                                                  writing=PlainWriting())  # (no name known: the id)


def test_slack_writes_the_same_words_in_mrkdwn() -> None:
    assert slack.refusal_text(REFUSED[0], names=NAMES) == (
        "Only <@U0BOB>, <!subteam^S0OPS> or Ana (Teams) may decide this approval. Nothing changed.")
    assert slack.refusal_text(DecideResult("already", replace(DECIDED, feedback=TYPED))) == (
        "This approval was already cancelled by <@U0CAROL> (not &lt;now&gt; &amp; *never*). Nothing changed.")
    assert "<https://bot.example/step-up/vote/t0k|confirm it with your passkey>" in slack.step_up_text(
        "https://bot.example/step-up/vote/t0k")
    assert "Home, *Passkeys* → *Set up a passkey*, then" in slack.step_up_text(None)
    for result in REFUSED[-2:]:  # the audit keeps the attestation refusal's words (mrkdwn): the same as Slack's
        assert slack.refusal_text(result) == refusal_words(result.attest, page=result.page)
