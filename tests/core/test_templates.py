"""#78 item 7: the bot's pages are jinja2 templates (bot/templates/) rendered through one Environment that escapes
every value (bot/core/templates.py). Untrusted text put on each page (a title, a person's name, an approval's
arguments, a policy's reason, a hidden value, the audit log's words) is text, never markup. Each page is rendered
again through an Environment that does not escape, to show that the check fails on a page that would not escape."""

from __future__ import annotations

from dataclasses import replace

import pytest
from jinja2 import Environment, StrictUndefined

from bot.core.templates import page_templates, render
from bot.report.evidence import summary_page
from bot.signin import LOGOUT
from bot.signin.gate import refusal_page
from bot.stepup.pages import Page, _enrol_page, _message_page, _vote_page, page_text
from bot.stepup.reveal import Revealed, Shown
from bot.stepup.reveal_page import CONFIRM, message_page, values_page
from bot.stepup.votes import Action
from tests.support.blockkit import tool_call

EVIL = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
APPROVAL = replace(tool_call(1), task=f"Refund {EVIL}", tool_name=f"refund{EVIL}", policy_reason=f"large {EVIL}",
                   arguments=f"note: {EVIL}")


def pages() -> dict[str, tuple[Page, int]]:
    """Each page with untrusted text in every field it shows, and how many times that text is on it."""
    row = {"outcome": EVIL, "decided_how": "rule", "approval": EVIL, "tool": EVIL, "title": EVIL, "requester": EVIL,
           "decided_by": EVIL}
    return {
        "sign-in refusal": (refusal_page(f"Sign in {EVIL}", f"This page is for {EVIL}", link=f"/signin?{EVIL}"), 4),
        "step-up message": (_message_page(f"Refused: {EVIL}"), 1),
        "enrolment": (_enrol_page(f"Eve {EVIL}", confirm_first=True), 1),
        "step-up vote": (_vote_page(Action(person=f"Bob {EVIL}", approval=APPROVAL, arguments=APPROVAL.arguments,
                                           amounts=((f"args.{EVIL}", 5),))), 6),
        "reveal message": (message_page(f"Gone: {EVIL}"), 1),
        "reveal values": (values_page(Revealed(APPROVAL, (Shown(f"card.{EVIL}", f"card {EVIL}", EVIL),))), 5),
        "evidence summary": (summary_page(rows=[row], exceptions=[(row, f"why {EVIL}")], said=EVIL, archive=EVIL,
                                          checked=EVIL, period=(EVIL, EVIL)), 12),
    }


def rendered(page: Page, environment: Environment) -> str:
    template, context = page
    return environment.get_template(template).render({"nonce": "n0nce", "sign_out": LOGOUT, **context})


@pytest.mark.parametrize("name", sorted(pages()))
def test_untrusted_text_on_each_page_is_escaped(name: str) -> None:
    page, shown = pages()[name]
    text = rendered(page, page_templates())
    assert "<script>alert" not in text and text.count(ESCAPED) == shown, text
    not_escaping = Environment(loader=page_templates().loader, autoescape=False, undefined=StrictUndefined)
    unsafe = rendered(page, not_escaping)  # the same page, were autoescape off: the check above would fail
    assert unsafe.count(EVIL) == shown and ESCAPED not in unsafe


def test_the_pages_are_rendered_through_the_escaping_environment() -> None:
    """What the routes send: the step-up and reveal pages (`page_text`), the sign-in pages (`render`)."""
    for page in (_enrol_page(EVIL), values_page(Revealed(APPROVAL, (Shown("card.number", "card", EVIL),))), CONFIRM):
        text = page_text(page, nonce="n0nce")
        assert "<script>alert" not in text and 'action="/signin/logout"' in text and 'nonce="n0nce"' in text
    template, context = refusal_page("Sign in", EVIL)
    assert ESCAPED in render(template, **context) and "<script>alert" not in render(template, **context)


def test_the_environment_is_one_strict_and_escaping() -> None:
    environment = page_templates()
    assert environment is page_templates() and environment.autoescape is True
    with pytest.raises(Exception, match="'message' is undefined"):
        render("stepup/message.html", nonce="n0nce", sign_out=LOGOUT)


def test_the_passkey_helpers_are_written_once_and_shared() -> None:
    """The step-up pages and the reveal page include one script of helpers (`post`, `toBytes`, ...)."""
    enrol, confirm = page_text(_enrol_page("Eve"), nonce="n"), page_text(CONFIRM, nonce="n")
    for text in (enrol, confirm):
        assert text.count("async function post(") == 1 and text.count("const toBytes") == 1
        assert text.count("async function asserted(") == 1
