"""The reviewer's card in a real browser (Debian's Chromium, headless) on the local
Slack page of `python -m bot dev`, with the offline demo model and the `email` team.

Alice starts an email run. While it waits, its header says "waiting for approval" as `/agent status` does, and
its thread links to the card itself. Bob sees each argument under its own name, the body as its lines (no
`\\n`), rejects with a reason: the card's title says "Tool call rejected", and the run's thread tells @alice who
rejected what and why. Screenshots: artifacts/card-arguments.png, card-rejected-thread.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

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
from tests.support.dev import Dev

pytestmark = pytest.mark.slow  # `python -m bot dev` and Chromium

TASK = "--team email Tell bob@example.com about the price change"
REASON = "Wrong customer <b>list</b>"

expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def dev() -> Iterator[Dev]:
    with dev_mode("test-card-browser-") as process:
        yield process


@pytest.fixture
def page(browser: Browser, dev: Dev) -> Iterator[Page]:
    with workspace_page(browser, dev, height=1100) as opened:
        yield opened


def test_arguments_by_name_waiting_words_card_link_and_the_requester_told(page: Page, dev: Dev) -> None:
    be(page, "alice")
    go(page, "general")
    run_id = start_run(page, TASK)
    header = header_of(page, run_id)
    expect(header).to_contain_text("waiting for approval")  # the header agrees with /agent status
    type_in_box(page, "/agent status")
    status = page.get_by_test_id("ephemeral").filter(has_text="Runs in")
    expect(status.last).to_contain_text(re.compile(f"{run_id}.*waiting for approval"))
    header.get_by_test_id("replies").click()
    thread = page.get_by_test_id("thread-pane")
    # in a session, the plan's pending task is the thread's record of the wait (no separate line)
    waiting = thread.get_by_test_id("session-task").filter(has_text=re.compile("Waiting for approval"))
    expect(waiting).to_have_count(1)
    card_link = waiting.locator("a", has_text="its card")
    expect(card_link).to_have_attribute("href", re.compile(r"/archives/C0APPROVALS/p[0-9]{16}$"))

    be(page, "bob")
    go(page, "approvals")
    card = cards_of(page, run_id).last
    expect(card).to_contain_text("Tool call needs approval")
    arguments = card.locator(".content").filter(has_text="Arguments").last
    expect(arguments).to_contain_text("to")
    expect(arguments).to_contain_text("bob@example.com")
    expect(card).not_to_contain_text('\\n')  # no JSON escapes: the body shows as its lines
    expect(card).not_to_contain_text('{"')
    stored = [m for m in dev.messages("C0APPROVALS") if f"Run `{run_id}`" in str(m)][-1]
    texts = [str(b.get("text", {}).get("text", "")) for b in stored["blocks"]]
    shown = next(t for t in texts if t.startswith("*Arguments*"))
    assert "*to*\nbob@example.com" in shown and "*body*\n```" in shown, shown  # each argument under its own name
    card.scroll_into_view_if_needed()
    screenshot(page, "card-arguments.png")

    card.get_by_test_id("button-approval_reject").click()
    modal = page.get_by_test_id("modal")
    modal.get_by_test_id("input-reason-reason_input").fill(REASON)
    modal.get_by_test_id("modal-submit").click()
    expect(modal).to_have_count(0)
    rejected = page.locator(f'[data-testid="message"][data-ts="{card.get_attribute("data-ts")}"]')
    expect(rejected).to_contain_text("Tool call rejected")
    expect(rejected).to_contain_text("Rejected by @bob")

    be(page, "alice")
    go(page, "general")
    header.get_by_test_id("replies").click()
    # in a session, the decision is the plan's task (who decided, and why), not a separate line in the thread
    told = page.get_by_test_id("thread-pane").get_by_test_id("session-task").filter(
        has_text=re.compile("send_email: rejected by"))
    expect(told).to_have_count(1)  # once per decision
    expect(told).to_have_attribute("data-status", "error")
    expect(told).to_contain_text("Wrong customer")  # the reason, inert
    expect(told.locator("b")).to_have_count(0)
    screenshot(page, "card-rejected-thread.png")


def test_edit_one_field_and_save_and_approve(page: Page, dev: Dev) -> None:
    be(page, "alice")
    go(page, "general")
    run_id = start_run(page, TASK)
    be(page, "bob")
    go(page, "approvals")
    asked = cards_of(page, run_id).last
    expect(asked).to_contain_text("Tool call needs approval")
    card = page.locator(f'[data-testid="message"][data-ts="{asked.get_attribute("data-ts")}"]')  # this card
    card.get_by_test_id("button-approval_revise").click()
    modal = page.get_by_test_id("modal")
    expect(modal).to_contain_text("one field each")
    to = modal.get_by_test_id("input-arg_0-arg_input")
    expect(to).to_have_value("bob@example.com")  # the value itself, not JSON
    body = modal.get_by_test_id("input-arg_2-arg_input")
    expect(body).to_have_value(re.compile("^Hello,\n"))  # its lines, no escapes
    expect(modal.get_by_test_id("input-then-then_input").get_by_test_id("option-approve")).to_be_checked()
    to.fill("carol@example.com")
    screenshot(page, "edit-fields.png")
    modal.get_by_test_id("modal-submit").click()
    expect(modal).to_have_count(0)

    edited = cards_of(page, run_id).filter(has_text="Changed: to: bob@example.com → carol@example.com")  # old → new
    expect(edited).to_have_count(1)
    expect(edited).to_contain_text("Tool call approved")
    expect(edited).to_contain_text("Arguments edited by @bob")
    expect(edited).to_contain_text("Approved by @bob")  # saved and approved: no second click
    expect(edited.get_by_test_id("button-approval_approve")).to_have_count(0)
    expect(card).to_contain_text("Arguments edited by @bob")  # the first card: revised by the edit
    turn = cards_of(page, run_id).filter(has_text="carol@example.com written to the outbox")  # sent: the edited call
    expect(turn).to_have_count(1)
    edited.scroll_into_view_if_needed()
    screenshot(page, "edit-saved-and-approved.png")


def test_short_help_and_decide_several_names_the_requester(page: Page, dev: Dev) -> None:
    be(page, "alice")
    go(page, "general")
    type_in_box(page, "/agent help")
    helped = page.get_by_test_id("ephemeral").filter(has_text="Start a run").last
    expect(helped).to_contain_text("/agent help config")
    expect(helped).to_contain_text("/agent cancel <run id>")
    assert helped.inner_text().count("\n") < 16, helped.inner_text()  # a short list, not a wall
    screenshot(page, "help-short.png")
    type_in_box(page, "/agent help keys")
    expect(page.get_by_test_id("ephemeral").filter(has_text="/agent keys create <name> [#channel]")).to_have_count(1)

    first = start_run(page, TASK)
    second = start_run(page, "--team email Tell carol@example.com about the new prices")
    be(page, "bob")
    go(page, "approvals")
    expect(cards_of(page, first)).to_have_count(1)
    expect(cards_of(page, second)).to_have_count(1)
    page.get_by_test_id("sidebar-home").click()
    home = page.get_by_test_id("home")
    home.get_by_test_id("button-home_batch").click()
    modal = page.get_by_test_id("modal")
    expect(modal).to_have_attribute("data-callback-id", "home_batch_modal")
    choices = modal.get_by_test_id("input-batch_select-batch_select_input")
    expect(choices).to_contain_text("send_email: Tell bob@example.com about the price")  # the tool, the task
    expect(choices).to_contain_text(re.compile(r" · alice · \d+s ago"))  # who asked, by name, and the age
    expect(choices).not_to_contain_text("U0ALICE")
    screenshot(page, "decide-several-options.png")
