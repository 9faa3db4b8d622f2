"""The local Teams' page (bot/devmsteams/page.py) and dev mode's Teams (`python -m bot dev --teams`), as a newcomer
uses them: in Chromium, a card the bot posted is drawn by the `adaptivecards` renderer, an approver (named in the
card's `refresh.userIds`) gets their own card with buttons while everyone else sees the read-only one, and a click
(with the inputs of its form) reaches the bot as a signed invoke from the member picked in "who am I"; the local
Slack's page frames the Teams page in its "Teams" pane; and with a real worker and both stand-ins, a program's ask
shows in both panes and an Approve in the Teams pane decides it in Slack too. The page's refusals (another site,
another host name, a bad click) are checked without a browser."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agent_approvals import ApprovalsClient
from playwright.async_api import async_playwright
from playwright.async_api import expect as expect_async
from playwright.sync_api import expect

from bot.core.msteams_settings import TeamsSettings
from bot.devmsteams import TeamsStandIn
from bot.devmsteams.local import LocalTeams
from bot.devmsteams.page import TeamsPage
from bot.devslack.server import SlackStandIn
from tests.devmsteams.conftest import SdkBot
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, be, chromium, dev_mode, go, screenshot, workspace_page
from tests.support.dev import wait_until
from tests.support.teams import ADAPTIVE_CARD

APPROVAL = "ap_0042"
SHOWN = "Send the Q2 prices to <b>bob@example.com</b> @here"  # untrusted text: shown as it is, never as markup


@pytest.fixture
def teams() -> Iterator[TeamsStandIn]:
    """The local Teams with its page (this module's own `teams`: the page's routes are added before it serves)."""
    standin = TeamsStandIn()
    TeamsPage(standin).add_routes(standin.app)
    standin.start()
    yield standin
    standin.stop()


def card(*, actions: bool, refresh_users: Sequence[str] = (), notice: str = "") -> dict[str, Any]:
    """An approval card as the bot sends it: read-only with a refresh for the approvers, or an approver's own with
    Approve and a Reject form (its `reason` input)."""
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": notice, "weight": "Bolder", "wrap": True}] if notice \
        else []
    body.append({"type": "TextBlock", "text": SHOWN, "wrap": True})
    built: dict[str, Any] = {"type": "AdaptiveCard", "version": "1.5", "body": body}
    if actions:
        data = {"approval": APPROVAL}
        built["actions"] = [
            {"type": "Action.Execute", "title": "Approve", "verb": "approve", "data": data},
            {"type": "Action.ShowCard", "title": "Reject…", "card": {"type": "AdaptiveCard", "body": [
                {"type": "Input.Text", "id": "reason", "label": "Why?", "isMultiline": True}], "actions": [
                {"type": "Action.Execute", "title": "Reject", "verb": "reject", "data": data}]}},
        ]
    if refresh_users:
        built["refresh"] = {"action": {"type": "Action.Execute", "verb": "refresh", "data": {"approval": APPROVAL}},
                            "userIds": list(refresh_users)}
    return built


def answered(content: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The bot's answer to an invoke: this card, for the person who sent it."""
    return 200, {"statusCode": 200, "type": ADAPTIVE_CARD, "value": content}


async def post_card(teams: TeamsStandIn, channel: str, content: dict[str, Any]) -> str:
    """The bot posts `content` in `channel`, with its access token, as the worker does: the activity's id."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{teams.url}/{teams.tenant_id}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": teams.app_id, "client_secret": teams.app_password,
                "scope": "https://api.botframework.com/.default"}) as token:
            bearer = (await token.json())["access_token"]
        async with session.post(f"{teams.url}/v3/conversations/{channel}/activities", json={
                "type": "message", "attachments": [{"contentType": ADAPTIVE_CARD, "content": content}]},
                headers={"Authorization": f"Bearer {bearer}"}) as posted:
            assert posted.status == 201, await posted.text()
            return str((await posted.json())["id"])


@pytest.mark.slow  # Chromium
async def test_the_page_draws_each_members_card_and_sends_their_click_with_its_form(
        teams: TeamsStandIn, sdk_bot: SdkBot) -> None:
    ana = teams.add_member(name="Ana Lima", email="ana@example.com")
    bo = teams.add_member(name="Bo Berg", email="bo@example.com")
    channel = teams.add_conversation("channel", "Approvals", [ana, bo])
    assert await teams.install(channel) == 200
    activity = await post_card(teams, channel, card(actions=False, refresh_users=[ana]))
    sdk_bot.answer = answered(card(actions=True))  # what the bot answers Ana's refresh: her card, with buttons
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = await browser.new_page(viewport={"width": 1200, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        await page.goto(f"{teams.url}/teams?user={bo}")
        shown = page.get_by_test_id("activity").filter(has_text="Send the Q2 prices")
        await expect_async(shown).to_contain_text(SHOWN)  # the text as it is: no <b>, no mention
        assert await shown.locator("b").count() == 0
        await expect_async(page.get_by_test_id("conversation-title")).to_have_text("Approvals")
        assert await shown.get_by_role("button").count() == 0  # Bo is no approver: no refresh, the read-only card
        assert [a for a in sdk_bot.raw if a["type"] == "invoke"] == []

        await page.get_by_test_id("who").select_option(ana)  # now Ana: Teams refreshes the card for her
        await expect_async(shown.get_by_role("button", name="Approve")).to_be_visible()
        refresh = [a for a in sdk_bot.raw if a["type"] == "invoke"]
        assert [(a["value"]["action"]["verb"], a["value"]["trigger"], a["from"]["id"]) for a in refresh] == [
            ("refresh", "automatic", ana)]

        sdk_bot.answer = answered(card(actions=False, notice="Rejected by Ana Lima: not before May"))
        await shown.get_by_role("button", name="Reject…").click()
        await shown.get_by_label("Why?").fill("not before May")
        await shown.get_by_role("button", name="Reject", exact=True).click()
        await expect_async(shown).to_contain_text("Rejected by Ana Lima: not before May")
        click = [a for a in sdk_bot.raw if a["type"] == "invoke"][-1]
        assert click["value"] == {"action": {"type": "Action.Execute", "verb": "reject", "data": {
            "approval": APPROVAL, "reason": "not before May"}}, "trigger": "manual"}
        assert click["from"]["id"] == ana and click["from"]["aadObjectId"] == teams.member(ana).object_id
        assert click["replyToId"] == activity
        await expect_async(shown.get_by_role("button")).to_have_count(0)

        await page.get_by_test_id("who").select_option(bo)  # Ana's answer was hers: Bo still sees the posted card
        await expect_async(shown).not_to_contain_text("Rejected by")
        await browser.close()
    assert errors == []


@pytest.mark.slow  # Chromium
def test_the_local_slacks_teams_pane_frames_the_teams_page(teams: TeamsStandIn) -> None:
    async def serve(slack: SlackStandIn) -> str:
        return await slack.start()

    loop = asyncio.new_event_loop()
    slack = SlackStandIn(signing_secret="s" * 32, bot_token="xoxb-pane")
    try:
        url = loop.run_until_complete(serve(slack))
        alice = teams.add_member(name="Alice Example", email="alice@example.com")
        teams.add_conversation("channel", "Approvals", [alice])
        slack.teams_url = f"{teams.url}/teams"
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url + "/")
            page.get_by_test_id("teams-toggle").click()
            expect(page.get_by_test_id("teams-pane")).to_be_visible()
            framed = page.frame_locator("[data-testid=teams-frame]")
            expect(framed.get_by_test_id("conversation-title")).to_have_text("Approvals")
            expect(framed.get_by_test_id("who")).to_contain_text("Alice Example (alice@example.com)")
            page.get_by_test_id("teams-toggle").click()
            expect(page.get_by_test_id("teams-pane")).to_be_hidden()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    finally:
        loop.run_until_complete(slack.stop())
        loop.close()


@pytest.mark.slow  # python -m bot dev --teams, Chromium
def test_dev_teams_an_ask_in_both_panes_approved_in_teams_is_decided_in_slack() -> None:
    with dev_mode("test-devpane-", args=("--teams",)) as dev:
        found = wait_until(lambda: re.search(r"^Local Teams: (http://127\.0\.0\.1:\d+/teams) ", dev.stdout(), re.M),
                           what="dev's Local Teams line")
        teams_url = found.group(1)
        shell = dev.exported()

        async def ask() -> str:
            async with ApprovalsClient(shell["AGENT_APPROVALS_URL"], shell["AGENT_APPROVALS_KEY"],
                                       title="mailer") as client:
                asked = await client.request_tool("send_email", {"to": "bob@example.com", "subject": "Q2 prices"})
                return asked.id

        approval_id = asyncio.run(ask())
        with chromium() as browser, workspace_page(browser, dev) as page:
            be(page, "bob")
            go(page, "approvals")
            slack_card = page.get_by_test_id("messages").get_by_test_id("message").filter(has_text="Q2 prices")
            expect(slack_card).to_have_count(1)
            expect(slack_card.get_by_test_id("button-approval_approve")).to_be_visible()

            page.get_by_test_id("teams-toggle").click()
            framed = page.frame_locator("[data-testid=teams-frame]")
            expect(framed.get_by_test_id("conversation-title")).to_have_text("Approvals")
            framed.get_by_test_id("who").select_option(label="Bob Example (bob@example.com)")
            teams_card = framed.get_by_test_id("activity").filter(has_text="Q2 prices")
            expect(teams_card).to_have_count(1)
            expect(teams_card).to_contain_text("bob@example.com")  # Teams' markdown escapes read as Teams reads them
            screenshot(page, "devpane-teams-pane.png")
            teams_card.get_by_role("button", name="Approve").click()

            expect(slack_card).to_contain_text("Approved")
            expect(slack_card).to_contain_text("bob")
            expect(slack_card.get_by_test_id("button-approval_approve")).to_have_count(0)
            expect(teams_card.get_by_role("button", name="Approve")).to_have_count(0)  # every copy redrawn
            expect(teams_card).to_contain_text("Approved")
            screenshot(page, "devpane-decided.png")
        assert approval_id and teams_url.endswith("/teams")


# --------------------------------------------------------------------------------------------------- refusals


async def test_the_page_refuses_another_site_another_host_and_a_bad_click(teams: TeamsStandIn) -> None:
    ana = teams.add_member(name="Ana Lima", email="ana@example.com")
    channel = teams.add_conversation("channel", "Approvals", [ana])
    click = {"conversation": channel, "activity": "1", "user": ana, "verb": "approve", "data": {}}
    async with aiohttp.ClientSession() as http:
        async def post(body: Any, **headers: str) -> tuple[int, dict[str, Any]]:
            async with http.post(f"{teams.url}/_teams/execute", json=body, headers=headers) as answer:
                return answer.status, await answer.json()

        assert (await post(click, Origin="http://evil.example"))[0] == 403
        assert (await post(click, **{"Sec-Fetch-Site": "cross-site"}))[0] == 403
        async with http.get(f"{teams.url}/_teams/state", headers={"Host": "rebound.example"}) as rebound:
            assert rebound.status == 403
        status, said = await post({k: v for k, v in click.items() if k != "verb"})
        assert (status, said["error"]) == (400, "missing field 'verb'")
        assert (await post(["not", "an", "object"]))[0] == 400
        assert (await post({**click, "data": "x"}))[0] == 400
        status, said = await post(click)  # no such activity: nothing sent to any bot
        assert status == 400 and "no activity 1" in said["error"]
        assert (await post({**click, "conversation": "19:nothing@thread.tacv2"}))[0] == 404
        async with http.get(f"{teams.url}/_teams/state", params={"user": "29:nobody"}) as unknown:
            assert unknown.status == 400
        async with http.get(f"{teams.url}/teams/static/..%2Fpage.py") as traversal:
            assert traversal.status == 404
        async with http.get(f"{teams.url}/teams") as page:
            assert page.status == 200
            policy = page.headers["Content-Security-Policy"]
            assert "script-src 'self'" in policy and "frame-ancestors 'self' http://127.0.0.1:*" in policy
    assert teams.delivered == []


async def test_the_local_slack_frames_only_the_teams_page_it_was_given() -> None:
    slack = SlackStandIn(signing_secret="s" * 32, bot_token="xoxb-pane")
    url = await slack.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/") as page, http.get(url + "/_control/state") as state:
                assert "frame-src" not in page.headers["Content-Security-Policy"]
                assert (await state.json())["teams_url"] == ""
            slack.teams_url = "http://127.0.0.1:4321/teams"
            async with http.get(url + "/") as page, http.get(url + "/_control/state") as state:
                assert page.headers["Content-Security-Policy"].endswith("; frame-src http://127.0.0.1:4321")
                assert (await state.json())["teams_url"] == "http://127.0.0.1:4321/teams"
    finally:
        await slack.stop()


def test_dev_modes_teams_gives_the_worker_its_local_teams_and_routes_every_channel(tmp_path: Path) -> None:
    """`python -m bot dev --teams`' setup (bot/devmsteams/local.py) before the worker starts: the same people by email
    in one channel, settings a worker accepts (the local Bot Connector on loopback), every channel routed there."""
    local = LocalTeams([("Alice Example", "alice@example.com"), ("Bob Example", "bob@example.com")],
                       ["C0GENERAL", "C0APPROVALS"])
    try:
        env = local.start(tmp_path)
        settings = TeamsSettings.model_validate(env)
        assert (settings.teams_app_id, settings.teams_tenant_id) == (local.standin.app_id, local.standin.tenant_id)
        assert settings.teams_connector_url == local.standin.url and local.standin.url.startswith("http://127.0.0.1:")
        assert json.loads(Path(env["TEAMS_FILE"]).read_text()) == {"routes": {
            "C0GENERAL": {"conversation": local.channel}, "C0APPROVALS": {"conversation": local.channel}}}
        (channel,) = local.standin.conversations()
        assert (channel["id"], channel["kind"], channel["name"]) == (local.channel, "channel", "Approvals")
        people = {m.email: (m.name, m.tenant_id, m.role) for m in local.standin.members()}
        assert people == {"alice@example.com": ("Alice Example", local.standin.tenant_id, "user"),
                          "bob@example.com": ("Bob Example", local.standin.tenant_id, "user")}
        assert sorted(channel["members"]) == sorted(local.members.values())
        assert local.page_url == local.standin.url + "/teams"
    finally:
        local.stop()
