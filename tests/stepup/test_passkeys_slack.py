"""Passkeys from Slack, through the stand-in: the App Home's "Passkeys" section (valid Block Kit, names inert), "Set up
a passkey" answered with a one-time link in a modal, Remove of one's own, and `/agent passkeys revoke @person` for
admins only (refused and audited for anyone else)."""

from __future__ import annotations

import copy
import json
import re

import aiohttp
import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.core.passkeys import Passkey, credential_digest
from bot.dev import passkey_url
from bot.devslack.blockkit import validate_view
from bot.devslack.server import SlackStandIn
from bot.slack.blocks import HomeContent, build_home_view
from bot.slack.blocks.passkeys import (
    ACTION_PASSKEY_REMOVE,
    ACTION_PASSKEY_SETUP,
    build_passkey_link_modal,
    passkey_added_text,
    passkey_removed_text,
    passkeys_revoked_text,
)
from bot.slackapp.command_parser import Invalid, RevokePasskeys, parse_command
from tests.conftest import ALICE, BOB, CAROL, SALES, Worker, block_texts
from tests.support.blockkit import EVIL, NOW, assert_inert
from tests.support.homes import home_text, open_homes, say
from tests.support.passkeys import registration
from tests.support.stepup import ORIGIN

LINK = re.compile(r"<(http://localhost:8999/step-up/enrol/[A-Za-z0-9_-]+)\|")


def valid(view: dict[str, object]) -> None:
    View(**copy.deepcopy(view)).to_dict()  # type: ignore[arg-type]
    for block in view["blocks"]:  # type: ignore[attr-defined]
        parsed = Block.parse(copy.deepcopy(block))
        assert parsed is not None
        parsed.to_dict()
    assert validate_view(view) is None, validate_view(view)


def test_the_home_lists_passkeys_by_name_with_remove_valid_and_inert() -> None:
    keys = [Passkey(f"cred{i:04d}-AAAAAAAAAAAAAAAA", "pk", 0, EVIL[:40] if i == 0 else f"key {i}", NOW - 86400 + i)
            for i in range(12)]
    for shown in ([], keys[:1], keys):
        view = build_home_view(HomeContent(user=ALICE, now=NOW, waiting=[], waiting_total=0, page=0, runs=[],
                                           recent=[], passkeys=shown))
        valid(view)
        assert_inert(view)
        text = block_texts(view)
        assert "Passkeys" in text and ("no passkey yet" in text) == (not shown)
        buttons = [b["accessory"] for b in view["blocks"] if b.get("accessory", {}).get("type") == "button"]
        assert [b["action_id"] for b in buttons].count(ACTION_PASSKEY_SETUP) == 1
        removes = [b["value"] for b in buttons if b["action_id"] == ACTION_PASSKEY_REMOVE]
        assert removes == [k.credential_id for k in shown[:10]]
    modal = build_passkey_link_modal(f"{ORIGIN}/step-up/enrol/{'A' * 43}")
    valid(modal)
    assert "works once, for 10 minutes" in json.dumps(modal)
    assert "asks for it first" not in json.dumps(modal)
    modal = build_passkey_link_modal(f"{ORIGIN}/step-up/enrol/{'A' * 43}", confirm_first=True)
    valid(modal)
    assert "You have a passkey already: the page asks for it first" in json.dumps(modal)
    for told in (passkey_added_text(keys[0], usable_at=NOW), passkey_removed_text(keys[:2], by=CAROL, person=BOB)):
        assert "&lt;!channel&gt;" in told and "<!channel>" not in told
    assert "&lt;!channel&gt;" in passkeys_revoked_text(BOB, keys[:1]) and "<!channel>" not in passkeys_revoked_text(
        BOB, keys[:1])


async def link_from_home(slack: SlackStandIn, user: str) -> str:
    """`user` clicks "Set up a passkey" in their Home; the link the modal gives."""
    await open_homes(slack, user)
    assert "Set up a passkey" in home_text(slack, user)
    result = await slack.click_view(user=user, action_id=ACTION_PASSKEY_SETUP)
    assert result.status == 200
    modal = await slack.wait_for(lambda: slack.open_views(user), description="the passkey link modal")
    found = LINK.search(json.dumps(modal))
    assert found, modal
    return found.group(1)


@pytest.mark.slow
async def test_set_up_from_the_home_then_remove(stepup: Worker, slack: SlackStandIn,
                                                http: aiohttp.ClientSession) -> None:
    url = await link_from_home(slack, ALICE)
    path = stepup.url + url.removeprefix(ORIGIN)
    async with http.post(path + "/options", json={}) as answer:
        options = await answer.json()
    credential = registration(options, origin=ORIGIN)
    async with http.post(path, json={"name": "laptop", "credential": credential}) as answer:
        assert answer.status == 200
    await slack.wait_for(lambda: "laptop" in home_text(slack, ALICE), description="the passkey in the Home")
    result = await slack.click_view(user=ALICE, action_id=ACTION_PASSKEY_REMOVE, value=credential["id"])
    assert result.status == 200
    await slack.wait_for(lambda: "laptop" not in home_text(slack, ALICE), description="the passkey gone")
    assert await stepup.services.store.passkeys.of(ALICE) == []
    [entry] = [e for e in await stepup.services.store.audit.entries() if e["event"] == "passkey_removed"]
    assert entry["by"] == ALICE and entry["passkey"] == credential_digest(credential["id"])


async def test_only_an_admin_revokes_someones_passkeys(stepup: Worker, slack: SlackStandIn) -> None:
    store = stepup.services.store
    token = await store.passkeys.issue_token(BOB)
    found = await store.passkeys.token(token)
    assert found is not None
    assert await store.passkeys.enrol(found, Passkey("credBOB0-AAAAAAAAAAAAAAAA", "pk", 0, "lost phone", NOW),
                                      most=10) == "stored"
    said = await say(slack, "passkeys revoke @bob", user=ALICE, channel=SALES)
    assert "Only an admin" in said and "Nothing changed" in said
    assert len(await store.passkeys.of(BOB)) == 1
    refused = [e for e in await store.audit.entries() if e["event"] == "refused" and e.get("person") == BOB]
    assert refused and refused[0]["by"] == ALICE and refused[0]["action"] == "passkeys revoke"
    said = await say(slack, "passkeys revoke @bob", user=CAROL, channel=SALES)  # one of ADMIN_USERS
    assert "Revoked 1 passkey" in said and "lost phone" in said
    assert await store.passkeys.of(BOB) == []
    [entry] = [e for e in await store.audit.entries() if e["event"] == "passkey_revoked"]
    assert (entry["by"], entry["person"]) == (CAROL, BOB) and entry["passkey"] == credential_digest(
        "credBOB0-AAAAAAAAAAAAAAAA")
    said = await say(slack, "passkeys revoke", user=CAROL, channel=SALES)
    assert "Usage: `/agent passkeys revoke @person`" in said


def test_the_revoke_command_names_one_person() -> None:
    assert parse_command("passkeys revoke <@U0BOB|bob>") == RevokePasskeys(BOB)
    assert parse_command("PASSKEYS Revoke <@U0BOB>") == RevokePasskeys(BOB)
    for text in ("passkeys", "passkeys revoke", "passkeys revoke bob", "passkeys revoke <@U0BOB> <@U0CAROL>",
                 "passkeys remove <@U0BOB>", "passkeys revoke <#C0SALES|sales>"):
        said = parse_command(text)
        assert isinstance(said, Invalid) and "/agent passkeys revoke @person" in said.message, text


def test_dev_mode_links_use_localhost() -> None:
    assert passkey_url("http://127.0.0.1:8765") == "http://localhost:8765"
    assert passkey_url("http://[::1]:8765") == "http://localhost:8765"
    assert passkey_url("http://localhost:8765") == "http://localhost:8765"
