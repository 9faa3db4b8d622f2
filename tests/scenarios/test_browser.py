"""The local Slack page in a real browser (Debian's Chromium, headless) against `python -m bot dev`.

A person types `/agent ...`, sees the header, its thread and the card, switches to another person, clicks
Approve / Reject (through its reason modal) / Revise (through the modal) and watches the run finish; decides
from their App Home, one approval or several at once (choose, confirm, result).
Screenshots go to artifacts/ (approved.png, revised.png, home.png, batch-decided.png).
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
    open_home,
    screenshot,
    start_run,
    type_in_box,
    workspace_page,
)
from tests.support.dev import APPROVALS, BOB, Dev, block_text, has_button

pytestmark = pytest.mark.slow  # `python -m bot dev` and Chromium

TASK = "Draft an email to our top 10 customers about the price change"
REASON = "Wrong list <b>again</b> & <!channel> cc <@U0CAROL>"  # typed in a reject modal: shown as typed, inert



# --------------------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def dev() -> Iterator[Dev]:
    with dev_mode("test-browser-") as process:
        yield process


@pytest.fixture
def page(browser: Browser, dev: Dev) -> Iterator[Page]:
    with workspace_page(browser, dev) as opened:
        yield opened


def approval_id_on(card: Locator) -> str:
    """The approval a pending card decides: its buttons' value."""
    value = card.get_by_test_id("button-approval_approve").get_attribute("data-value")
    assert value, card.inner_text()
    return value


def home_button(home: Locator, action_id: str, approval_id: str) -> Locator:
    """The button `action_id` of one waiting approval in a Home (every item has the same action ids)."""
    return home.locator(f'[data-testid="button-{action_id}"][data-value="{approval_id}"]')


def stored_message(dev: Dev, channel: str, ts: str) -> dict[str, Any]:
    """The message at `ts` of `channel` as the stand-in holds it."""
    found = [m for m in dev.messages(channel) if m["ts"] == ts]
    assert len(found) == 1, (channel, ts, found)
    return found[0]


# --------------------------------------------------------------------------------------------------- the flows


def test_approve_from_the_browser(page: Page) -> None:
    be(page, "alice")
    go(page, "general")
    run_id = start_run(page, TASK)
    header = header_of(page, run_id)
    expect(header).to_contain_text("Task")
    expect(header).to_contain_text(TASK)
    expect(header).to_contain_text("started by @alice")
    expect(header.get_by_test_id("replies")).to_be_visible()  # its thread: progress so far
    expect(page.get_by_test_id("unread-approvals")).to_be_visible()  # the card arrived in #approvals

    be(page, "bob")  # ephemeral answers are only for alice
    expect(page.get_by_test_id("ephemeral")).to_have_count(0)

    go(page, "approvals")
    card = cards_of(page, run_id).last
    expect(card).to_contain_text("Approval needed")
    expect(card).to_contain_text("requested by @alice in #general")
    approve = card.get_by_test_id("button-approval_approve")
    expect(approve).to_have_class(re.compile("sk-primary"))
    expect(card.get_by_test_id("button-approval_reject")).to_have_class(re.compile("sk-danger"))
    approve.click()

    expect(card).to_contain_text("Approved by @bob")
    expect(card.get_by_test_id("button-approval_approve")).to_have_count(0)
    expect(card).to_contain_text("(edited)")

    go(page, "general")
    expect(header).to_contain_text("completed")
    header.get_by_test_id("replies").click()
    thread = page.get_by_test_id("thread-pane")
    expect(thread).to_be_visible()
    expect(thread).to_contain_text("Run completed")  # (a session: the plan's last task is the run's result)
    expect(thread).to_contain_text("Subject: An email to our top 10 customers")
    go(page, "approvals")  # the thread pane stays open beside the decided card
    expect(card).to_contain_text("Approved by @bob")
    screenshot(page, "approved.png")


def test_revise_through_the_modal(page: Page) -> None:
    be(page, "alice")
    go(page, "sales")
    run_id = start_run(page, TASK + " <b>now</b> & later")
    go(page, "approvals")
    be(page, "bob")
    card = cards_of(page, run_id).last
    expect(card).to_contain_text("price change <b>now</b> & later")  # escaped text shows as typed, inert
    expect(card.locator(".content b")).to_have_count(0)
    card.get_by_test_id("button-approval_revise").click()

    modal = page.get_by_test_id("modal")
    expect(modal).to_be_visible()
    expect(modal).to_contain_text("Request a revision")
    expect(modal).to_contain_text("Current proposal")
    field = modal.get_by_test_id("input-feedback-feedback_input")
    field.fill("   ")  # not empty for the browser, empty for the bot: it answers with errors for the field
    modal.get_by_test_id("modal-submit").click()
    expect(modal.get_by_test_id("input-error-feedback")).to_be_visible()
    expect(modal.get_by_test_id("input-error-feedback")).not_to_be_empty()

    feedback = "Make it more formal & mention our 5-year partnership <@U0CAROL>"
    field.fill(feedback)
    modal.get_by_test_id("modal-submit").click()
    expect(modal).to_have_count(0)

    expect(cards_of(page, run_id)).to_have_count(2)
    old, revised = cards_of(page, run_id).first, cards_of(page, run_id).last
    expect(old).to_contain_text("Sent back for revision by @bob")
    expect(old).to_contain_text(feedback)  # literally: no mention of carol was made
    expect(revised).to_contain_text("Dear valued partner")
    expect(revised).to_contain_text(feedback)
    expect(revised.locator(".mention", has_text="carol")).to_have_count(0)
    expect(revised.get_by_test_id("button-approval_approve")).to_be_visible()
    revised.scroll_into_view_if_needed()
    screenshot(page, "revised.png")

    be(page, "carol")
    revised.get_by_test_id("button-approval_approve").click()
    expect(revised).to_contain_text("Approved by @carol")
    go(page, "sales")
    expect(header_of(page, run_id)).to_contain_text("completed")


def test_reject_asks_for_a_reason_first_and_settings_replies_stay_private(page: Page, dev: Dev) -> None:
    be(page, "alice")
    go(page, "random")
    type_in_box(page, "/agent config timeout 30s")
    reply = page.get_by_test_id("ephemeral").filter(has_text="now 30s")
    expect(reply).to_have_count(1)
    be(page, "carol")
    expect(reply).to_have_count(0)
    be(page, "alice")
    expect(reply).to_have_count(1)

    type_in_box(page, "hello team, starting a run")  # a plain message, from alice
    expect(page.get_by_test_id("message").filter(has_text="hello team, starting a run")).to_have_attribute(
        "data-author", "alice"
    )
    run_id = start_run(page, TASK)
    go(page, "approvals")
    be(page, "bob")
    card = cards_of(page, run_id).last
    expect(card).to_contain_text("after 30s")
    ts = card.get_attribute("data-ts")
    assert ts
    before = stored_message(dev, APPROVALS, ts)

    # Reject opens a modal asking for an optional reason; cancelling it sends nothing
    reject = card.get_by_test_id("button-approval_reject")
    reject.click()
    modal = page.get_by_test_id("modal")
    expect(modal).to_have_attribute("data-callback-id", "approval_reject_modal")
    expect(modal).to_contain_text("You are rejecting")
    expect(modal).to_contain_text(run_id)
    expect(modal.get_by_test_id("input-reason-reason_input")).to_be_visible()
    modal.get_by_test_id("input-reason-reason_input").fill("typed, then cancelled")
    modal.get_by_test_id("modal-close").click()
    expect(modal).to_have_count(0)
    assert not [v for v in dev.state()["views"] if v["user"] == BOB]  # closed in the stand-in too
    expect(card.get_by_test_id("button-approval_reject")).to_be_visible()  # nothing was sent
    expect(card.get_by_test_id("button-approval_approve")).to_be_visible()
    expect(card).not_to_contain_text("Rejected")
    expect(card).not_to_contain_text("typed, then cancelled")
    assert stored_message(dev, APPROVALS, ts) == before  # the card was not touched

    # Reject again, with a reason: the modal closes, the card says who rejected it and why, inert
    reject.click()
    expect(modal).to_have_attribute("data-callback-id", "approval_reject_modal")
    field = modal.get_by_test_id("input-reason-reason_input")
    expect(field).to_have_value("")  # a new modal: the cancelled text is gone
    field.fill(REASON)
    modal.get_by_test_id("modal-submit").click()
    expect(modal).to_have_count(0)
    expect(card).to_contain_text("Rejected by @bob")
    expect(card).to_contain_text(REASON)  # literally, as typed
    expect(card.get_by_test_id("button-approval_reject")).to_have_count(0)
    expect(card.get_by_test_id("button-approval_approve")).to_have_count(0)
    expect(card.locator(".content b")).to_have_count(0)  # no markup made of the reason
    expect(card.locator(".mention", has_text="carol")).to_have_count(0)  # no mention either
    expect(card.locator(".mention", has_text="channel")).to_have_count(0)
    go(page, "random")
    expect(header_of(page, run_id)).to_contain_text("rejected")
    be(page, "alice")
    type_in_box(page, "/agent status")
    status = page.get_by_test_id("ephemeral").filter(has_text="Runs in #random")
    expect(status).to_contain_text(run_id)
    expect(page.get_by_test_id("toast")).to_be_hidden()


def test_approve_from_the_home(page: Page, dev: Dev) -> None:
    be(page, "alice")
    go(page, "general")
    run_id = start_run(page, TASK)
    go(page, "approvals")
    card = cards_of(page, run_id).last
    expect(card.get_by_test_id("button-approval_approve")).to_be_visible()
    approval_id = approval_id_on(card)

    home = open_home(page)  # alice's own Home lists her run, but not the approval: no self-approval
    expect(home).to_contain_text("Your runs")
    expect(home).to_contain_text(run_id)
    expect(home_button(home, "approval_approve", approval_id)).to_have_count(0)

    be(page, "bob")  # the Home tab stays open, now bob's
    expect(page.get_by_test_id("sidebar-home")).to_have_attribute("aria-current", "page")
    approve = home_button(home, "approval_approve", approval_id)
    expect(approve).to_be_visible()
    expect(approve).to_have_class(re.compile("sk-primary"))
    expect(home_button(home, "approval_reject", approval_id)).to_be_visible()
    expect(home_button(home, "approval_revise", approval_id)).to_be_visible()
    expect(home).to_contain_text(f"run {run_id} · asked by @alice in #general")
    expect(home).to_contain_text(TASK)
    expect(home).to_contain_text("Times out")
    expect(home).not_to_contain_text(f"run {run_id}: ")  # not among what bob decided, yet
    screenshot(page, "home.png")
    approve.click()

    expect(approve).to_have_count(0)  # no longer waiting for bob ...
    expect(home).to_contain_text(re.compile(rf"run {run_id}: \W*Approved by @bob"))  # ... decided by him
    expect(page.get_by_test_id("toast")).to_be_hidden()
    card_ts = card.get_attribute("data-ts")
    assert card_ts
    go(page, "approvals")
    expect(card).to_contain_text("Approved by @bob")
    expect(card.get_by_test_id("button-approval_approve")).to_have_count(0)
    expect(card.get_by_test_id("button-approval_reject")).to_have_count(0)
    expect(card).to_contain_text("(edited)")
    assert "*Approved* by <@U0BOB>" in block_text(stored_message(dev, APPROVALS, card_ts))
    go(page, "general")
    expect(header_of(page, run_id)).to_contain_text("completed")  # the agent resumed and finished


def test_decide_several_from_the_home(page: Page, dev: Dev) -> None:
    be(page, "alice")
    go(page, "sales")
    runs = [start_run(page, f"{TASK}, part {n}") for n in (1, 2, 3)]
    go(page, "approvals")
    cards = [cards_of(page, run_id).last for run_id in runs]
    for card in cards:
        expect(card.get_by_test_id("button-approval_approve")).to_be_visible()
    ids = [approval_id_on(card) for card in cards]
    card_ts = [card.get_attribute("data-ts") or "" for card in cards]
    assert len(set(ids)) == 3 and all(card_ts), (ids, card_ts)

    be(page, "bob")
    home = open_home(page)
    for approval_id in ids:
        expect(home_button(home, "approval_approve", approval_id)).to_be_visible()
    home.get_by_test_id("button-home_batch").click()

    # 1. choose the approvals and the decision
    modal = page.get_by_test_id("modal")
    expect(modal).to_have_attribute("data-callback-id", "home_batch_modal")
    expect(modal).to_contain_text("Decide several")
    choices = modal.get_by_test_id("input-batch_select-batch_select_input")
    for approval_id in ids:
        option = choices.get_by_test_id(f"option-{approval_id}")
        expect(option).not_to_be_checked()
        option.check()
    for approval_id in ids:
        expect(choices.get_by_test_id(f"option-{approval_id}")).to_be_checked()
    outcome = modal.get_by_test_id("input-batch_outcome-batch_outcome_input")
    outcome.get_by_test_id("option-approved").check()
    expect(outcome.get_by_test_id("option-rejected")).not_to_be_checked()
    expect(modal.get_by_test_id("modal-submit")).to_have_text("Review")
    modal.get_by_test_id("modal-submit").click()

    # 2. the confirmation lists exactly what will be decided; nothing is decided yet
    expect(modal).to_have_attribute("data-callback-id", "home_batch_confirm")
    expect(modal).to_contain_text("Approve these 3 approvals?")
    for run_id in runs:
        expect(modal).to_contain_text(f"run {run_id} · asked by @alice in #sales")
    expect(modal.locator("strong", has_text=re.compile(r"^\d+\.$"))).to_have_text(["1.", "2.", "3."])
    expect(modal).not_to_contain_text("Not included")
    expect(modal.get_by_test_id("modal-submit")).to_have_text("Approve 3")
    for ts in card_ts:
        assert has_button(stored_message(dev, APPROVALS, ts), "approval_approve"), ts
    for approval_id in ids:
        expect(home_button(home, "approval_approve", approval_id)).to_have_count(1)
    modal.get_by_test_id("modal-submit").click()

    # 3. what was decided
    expect(modal).to_have_attribute("data-callback-id", "")
    expect(modal.locator(".modal-title")).to_have_text("Batch decided")
    expect(modal).to_contain_text("Approved 3")
    for run_id in runs:
        expect(modal).to_contain_text(f"run {run_id}")
    expect(modal).not_to_contain_text("Not decided")
    expect(modal.get_by_test_id("modal-submit")).to_have_count(0)
    screenshot(page, "batch-decided.png")
    modal.get_by_test_id("modal-close").click()
    expect(modal).to_have_count(0)
    for approval_id in ids:
        expect(home_button(home, "approval_approve", approval_id)).to_have_count(0)
    expect(page.get_by_test_id("toast")).to_be_hidden()

    go(page, "approvals")
    for card in cards:
        expect(card).to_contain_text("Approved by @bob")
        expect(card.get_by_test_id("button-approval_approve")).to_have_count(0)
        expect(card.get_by_test_id("button-approval_reject")).to_have_count(0)
    go(page, "sales")
    for run_id in runs:
        expect(header_of(page, run_id)).to_contain_text("completed")


MRKDWN_CASES: dict[str, str] = {
    "*Approved* by <@U0BOB>, 3s": (
        '<strong>Approved</strong> by <span class="mention mention-me" data-user-id="U0BOB">@bob</span>, 3s'
    ),
    "&lt;b&gt;hi&lt;/b&gt; &amp;amp; <script>": "&lt;b&gt;hi&lt;/b&gt; &amp;amp; &lt;script&gt;",
    "<javascript:alert(1)|click me>": "&lt;javascript:alert(1)|click me&gt;",
    "<https://example.com/?a=1&amp;b=2|the &lt;site&gt;>": (
        '<a class="link" href="https://example.com/?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">'
        "the &lt;site&gt;</a>"
    ),
    "_it_ ~gone~ `co*de* &lt;x&gt;` snake_case_word 2*3*4": (
        "<em>it</em> <del>gone</del> <code>co*de* &lt;x&gt;</code> snake_case_word 2*3*4"
    ),
    "before\n```\npre *x* &lt;y&gt;\n```\nafter": 'before<pre class="pre">pre *x* &lt;y&gt;\n</pre>after',
    "&gt; quoted *line*\n&gt; second\nplain": (
        '<blockquote class="quote">quoted <strong>line</strong>\nsecond</blockquote>plain'
    ),
    "<!date^1700000000^{date_short_pretty}|Nov 14, 2023> <!here> <!subteam^S1|@approvers>": (
        'Nov 14, 2023 <span class="mention">@here</span> <span class="mention">@approvers</span>'
    ),
    "<#C0SALES> <#C0GONE|old-name> <@U0NOBODY>": (
        '<a class="channel-link" href="#sales" data-channel-id="C0SALES">#sales</a> '
        '<a class="channel-link" href="#old-name" data-channel-id="C0GONE">#old-name</a> '
        '<span class="mention" data-user-id="U0NOBODY">@U0NOBODY</span>'
    ),
    ":white_check_mark: done :no_such_emoji:": "\u2705 done :no_such_emoji:",
}


def test_reminders_and_an_escalation_show_in_the_card_thread(page: Page) -> None:
    be(page, "alice")
    go(page, "sales")
    for setting, shown in (
        ("remind 1s,2s", "now 1s, 2s"),
        ("escalate_to @carol", "now @carol"),
        ("escalate_after 3s", "now 3s"),
    ):
        type_in_box(page, f"/agent config {setting}")
        expect(page.get_by_test_id("ephemeral").filter(has_text=shown)).to_have_count(1)
    run_id = start_run(page, TASK)
    go(page, "approvals")
    card = cards_of(page, run_id).last
    expect(card.get_by_test_id("replies")).to_have_text("3 replies")  # two reminders and the escalation
    expect(card).to_contain_text("Escalated to @carol after 3s")  # the card says so too
    card.get_by_test_id("replies").click()
    thread = page.get_by_test_id("thread-pane")
    expect(thread).to_contain_text("Reminder 1 of 2: this approval has waited")
    expect(thread).to_contain_text("Reminder 2 of 2")
    expect(thread).to_contain_text("Escalated to @carol after 3s: nobody has decided yet")
    be(page, "carol")
    card.get_by_test_id("button-approval_approve").click()
    expect(card).to_contain_text("Approved by @carol")
    screenshot(page, "reminders.png")
    be(page, "alice")
    go(page, "sales")
    for setting in ("remind off", "escalate_after off", "escalate_to none"):  # the channel as it was
        type_in_box(page, f"/agent config {setting}")


def test_mrkdwn_renders_slack_formatting_and_never_markup(page: Page) -> None:
    """The page's mrkdwn renderer, run in the browser on strings the bot could send."""
    rendered = page.evaluate(
        """async (cases) => {
            const { renderMrkdwn } = await import("/static/mrkdwn.js");
            const ctx = {
                me: "U0BOB",
                userName: (id) => ({ U0BOB: "bob" })[id] || "",
                channelName: (id) => ({ C0SALES: "sales" })[id] || "",
                openChannel: () => {},
            };
            return cases.map((text) => renderMrkdwn(text, ctx).innerHTML);
        }""",
        list(MRKDWN_CASES),
    )
    assert dict(zip(MRKDWN_CASES, rendered, strict=True)) == MRKDWN_CASES
