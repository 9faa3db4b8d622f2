"""Approve & always allow in a real browser (Debian's Chromium, headless) on the local Slack page of
`python -m bot dev`, with the offline demo model and the `email` team.

Alice makes Bob an admin of #general and starts an email run; Bob, on its card, clicks "Approve & always
allow", chooses every run in #general, "By the conditions below", `to` ends with "@example.com", subject and
body "any value", expiring after a day, and submits: the form shows the rule, the card is approved and the
email sent. Alice's next such email (a second run: the demo sends one email a run) is sent without a card,
and its run's thread says which rule approved it. Screenshots: artifacts/rule-form.png, rule-created.png,
rule-used.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.support.browser import (
    be,
    cards_of,
    dev_mode,
    go,
    header_of,
    screenshot,
    start_run,
    type_in_box,
    workspace_page,
)
from tests.support.dev import BOB, Dev

pytestmark = pytest.mark.slow  # `python -m bot dev` and Chromium

FIRST = "--team email Tell bob@example.com about the price change"
SECOND = "--team email Tell carol@example.com about the new prices"

expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def dev() -> Iterator[Dev]:
    with dev_mode("test-rules-browser-") as process:
        yield process


@pytest.fixture
def page(browser: Browser, dev: Dev) -> Iterator[Page]:
    with workspace_page(browser, dev, height=1000) as opened:
        yield opened


def rule_form_of(dev: Dev, user: str) -> dict[str, Any]:
    """The rule modal open for `user`, as the stand-in holds it."""
    views = [v for v in dev.state()["views"] if v["user"] == user and v["view"]["callback_id"] == "rule_modal"]
    assert len(views) == 1, views
    view: dict[str, Any] = views[0]["view"]
    return view


def argument_index(view: dict[str, Any], name: str) -> int:
    for block in view["blocks"]:
        if str(block.get("block_id", "")).startswith("rule_op_") and block["label"]["text"].startswith(f"{name} ("):
            return int(block["block_id"].removeprefix("rule_op_"))
    raise AssertionError(f"no condition for {name} in {view['blocks']}")


def choose(modal: Locator, block_id: str, action_id: str, value: str) -> None:
    """Pick option `value` of a radio group or select of the modal."""
    option = modal.get_by_test_id(f"input-{block_id}-{action_id}").get_by_test_id(f"option-{value}")
    option.check()
    expect(option).to_be_checked()


def test_approve_and_always_allow_then_the_next_email_needs_no_card(page: Page, dev: Dev) -> None:
    be(page, "alice")
    go(page, "general")
    type_in_box(page, "/agent config admins @bob")
    expect(page.get_by_test_id("ephemeral").filter(has_text="now @bob")).to_have_count(1)
    first = start_run(page, FIRST)

    go(page, "approvals")
    be(page, "bob")
    asked = cards_of(page, first)
    expect(asked).to_have_count(1)
    card = page.locator(f'[data-testid="message"][data-ts="{asked.first.get_attribute("data-ts")}"]')  # this card
    expect(card).to_contain_text("Tool call needs approval")
    expect(card).to_contain_text("bob@example.com")
    card.get_by_test_id("button-approve_always").click()

    modal = page.get_by_test_id("modal")
    expect(modal).to_have_attribute("data-callback-id", "rule_modal")
    expect(modal).to_contain_text("Always allow")
    expect(modal).to_contain_text("Every run in #general (admins only)")
    view = rule_form_of(dev, BOB)
    to, subject, body = (argument_index(view, name) for name in ("to", "subject", "body"))
    choose(modal, "rule_scope", "rule_scope_input", "channel")
    choose(modal, "rule_match", "rule_match_input", "conditions")
    choose(modal, f"rule_op_{to}", "rule_op_input", "ends_with")
    value = modal.get_by_test_id(f"input-rule_value_{to}-rule_value_input")
    expect(value).to_have_value("@example.com")  # the likely rule is proposed: the address's domain
    selects = [b for b in view["blocks"] if str(b.get("block_id", "")).startswith("rule_op_")]
    ops = {b["block_id"]: b["element"]["initial_option"]["value"] for b in selects}
    assert ops == {f"rule_op_{to}": "ends_with", f"rule_op_{subject}": "equals", f"rule_op_{body}": "equals"}, ops
    choose(modal, f"rule_op_{subject}", "rule_op_input", "any")
    choose(modal, f"rule_op_{body}", "rule_op_input", "any")
    choose(modal, "rule_expiry", "rule_expiry_input", "86400")
    expect(modal.get_by_test_id(f"input-rule_op_{to}-rule_op_input").get_by_test_id("option-at_most")).to_have_count(0)
    screenshot(page, "rule-form.png")
    modal.get_by_test_id("modal-submit").click()

    expect(modal).to_contain_text("Rule R1 created")
    expect(modal).to_contain_text("send_email where to ends with")
    expect(modal).to_contain_text("every run in #general")
    expect(modal).to_contain_text("The card is approved.")
    screenshot(page, "rule-created.png")
    modal.get_by_test_id("modal-close").click()
    expect(modal).to_have_count(0)
    expect(card).to_contain_text("Approved by @bob")
    expect(card).to_contain_text("always allowed by rule R1")
    expect(card.get_by_test_id("button-approve_always")).to_have_count(0)
    turn = asked.filter(has_text="written to the outbox")  # the human's turn, after the send
    expect(turn).to_have_count(1)
    expect(turn).to_contain_text("not a tool call")  # why a rule did not answer it
    turn.get_by_test_id("button-approval_approve").click()
    expect(turn).to_contain_text("Approved by @bob")

    # the next email to an @example.com address: sent with no card, and the thread says which rule approved it
    be(page, "alice")
    go(page, "general")
    expect(header_of(page, first)).to_contain_text("completed")
    second = start_run(page, SECOND)
    header = header_of(page, second)
    header.get_by_test_id("replies").click()
    thread = page.get_by_test_id("thread-pane")
    expect(thread).to_contain_text("auto-approved by rule R1")
    expect(thread).to_contain_text(re.compile(r"by @bob, expires"))
    screenshot(page, "rule-used.png")
    go(page, "approvals")
    be(page, "bob")
    asked = cards_of(page, second)
    expect(asked.filter(has_text="carol@example.com written to the outbox")).to_have_count(1)  # sent
    expect(asked).to_have_count(1)  # only the human's turn: no card for the email
    expect(asked).not_to_contain_text("Tool call needs approval")
    assert [m for m in dev.messages("C0GENERAL") if "auto-approved by rule R1" in str(m)]
