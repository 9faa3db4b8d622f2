"""The local Slack stand-in (bot/devslack): real HTTP, slack-sdk as the client, a signature-checking receiver."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from playwright.sync_api import Page, expect, sync_playwright
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.devslack.server import DevChannel, DevUser, SlackStandIn
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"

T = TypeVar("T")
Reply = Callable[[dict[str, Any]], web.Response]
Values = dict[str, dict[str, str | list[str] | None]]  # what a person entered in a modal: {block_id: {action_id: ...}}


@dataclass
class Receiver:
    """A tiny bot endpoint: verifies Slack's signature with slack-sdk, records bodies, answers with `reply`.
    Commands and interactions come form-encoded (in `received`), Events API callbacks as JSON (in `events`)."""

    secret: str = SECRET
    received: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    reply: Reply = field(default=lambda body: web.Response(status=200))
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = (await request.read()).decode()
        verifier = SignatureVerifier(self.secret)
        if request.content_type not in ("application/x-www-form-urlencoded", "application/json") or not (
            verifier.is_valid(
                body=raw,
                timestamp=request.headers.get("X-Slack-Request-Timestamp", ""),
                signature=request.headers.get("X-Slack-Signature", ""),
            )
        ):
            self.rejected += 1
            return web.json_response({"error": "invalid request"}, status=401)
        if request.content_type == "application/json":
            self.events.append(json.loads(raw))
            return web.Response(status=200)
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        body = json.loads(form["payload"]) if "payload" in form else form
        self.received.append(body)
        return self.reply(body)


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    s = SlackStandIn(signing_secret=SECRET, bot_token=TOKEN)
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def bot(standin: SlackStandIn) -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/slack/events", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    receiver.url = f"http://{host}:{port}/slack/events"
    standin.events_url = receiver.url
    yield receiver
    await runner.cleanup()


@pytest.fixture
def client(standin: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=standin.api_url)


def actions_card(value: str = "apr-1") -> list[dict[str, Any]]:
    return [
        {"type": "section", "block_id": "summary", "text": {"type": "mrkdwn", "text": "*Send the email?*"}},
        {
            "type": "actions",
            "block_id": "decide",
            "elements": [
                {
                    "type": "button",
                    "action_id": "approval_approve",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": value,
                },
                {
                    "type": "button",
                    "action_id": "approval_reject",
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Reject"},
                    "value": value,
                },
            ],
        },
    ]


def revise_modal() -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "approval_revise_modal",
        "private_metadata": "apr-1",
        "title": {"type": "plain_text", "text": "Revise"},
        "submit": {"type": "plain_text", "text": "Send"},
        "blocks": [
            {
                "type": "input",
                "block_id": "feedback",
                "label": {"type": "plain_text", "text": "Feedback"},
                "element": {"type": "plain_text_input", "action_id": "text", "multiline": True},
            },
        ],
    }


async def api_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


# ------------------------------------------------------------------------------------------------ Web API


async def test_auth_test_and_token_checks(standin: SlackStandIn, client: AsyncWebClient) -> None:
    resp = await client.auth_test()
    assert resp["ok"] is True
    assert (resp["team_id"], resp["user_id"], resp["bot_id"]) == ("T0DEV", "U0BOT", "B0BOT")
    assert resp["url"].startswith(standin.base_url)

    wrong = AsyncWebClient(token="xoxb-wrong", base_url=standin.api_url)
    assert (await api_error(wrong.auth_test())).response["error"] == "invalid_auth"
    assert (await api_error(client.api_call("nonexistent.method"))).response["error"] == "unknown_method"

    async with aiohttp.ClientSession() as http, http.post(f"{standin.api_url}auth.test") as raw:
        assert raw.status == 200
        assert await raw.json() == {"ok": False, "error": "not_authed"}
    assert [c.ok for c in standin.calls("auth.test")] == [True, False, False]
    assert standin.calls("nonexistent.method")[0].ok is False


async def test_post_message_shapes_and_records(standin: SlackStandIn, client: AsyncWebClient) -> None:
    first = await client.chat_postMessage(channel="C0APPROVALS", text="card", blocks=actions_card())
    second = await client.chat_postMessage(channel="#sales", text="hello sales")
    assert first["channel"] == "C0APPROVALS" and second["channel"] == "C0SALES"
    assert first["ts"] < second["ts"] and first["ts"].count(".") == 1
    assert first["message"]["bot_id"] == "B0BOT" and first["message"]["user"] == "U0BOT"
    assert first["message"]["blocks"][1]["elements"][0]["action_id"] == "approval_approve"

    call = standin.calls("chat.postMessage")[0]
    assert call.ok and call.args["channel"] == "C0APPROVALS" and call.args["blocks"] == actions_card()
    assert "token" not in call.args

    (msg,) = standin.messages("C0APPROVALS")
    assert msg["ts"] == first["ts"] and msg["text"] == "card" and msg["thread_ts"] is None
    assert msg["blocks"][0]["block_id"] == "summary" and msg["edited"] is False
    assert [m["text"] for m in standin.messages("C0SALES")] == ["hello sales"]

    dm = await client.chat_postMessage(channel="U0BOB", text="you have a request")  # a user id posts to the DM
    assert dm["channel"] == "D0BOB" and standin.messages("D0BOB")[0]["text"] == "you have a request"


async def test_form_encoded_body_with_json_string_blocks(standin: SlackStandIn) -> None:
    form = {"token": TOKEN, "channel": "C0GENERAL", "text": "via form", "blocks": json.dumps(actions_card())}
    async with aiohttp.ClientSession() as http, http.post(f"{standin.api_url}chat.postMessage", data=form) as raw:
        body = await raw.json()
    assert body["ok"] is True and body["channel"] == "C0GENERAL"
    assert standin.calls("chat.postMessage")[0].args["blocks"] == actions_card()
    assert standin.messages("C0GENERAL")[0]["blocks"][1]["block_id"] == "decide"


async def test_post_message_errors(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin_private = SlackStandIn(
        signing_secret=SECRET, bot_token=TOKEN, channels=[DevChannel(id="C0SECRET", name="secret", is_private=True)]
    )
    base = await standin_private.start()
    try:
        private_client = AsyncWebClient(token=TOKEN, base_url=f"{base}/api/")
        assert (await api_error(private_client.chat_postMessage(channel="#secret", text="x"))).response[
            "error"
        ] == "channel_not_found"
        assert (await private_client.chat_postMessage(channel="C0SECRET", text="x"))["ok"] is True
    finally:
        await standin_private.stop()

    assert (await api_error(client.chat_postMessage(channel="C0NOPE", text="x"))).response["error"] == (
        "channel_not_found"
    )
    no_text = await api_error(client.api_call("chat.postMessage", json={"channel": "C0GENERAL"}))
    assert no_text.response["error"] == "no_text"
    divider = {"type": "divider"}
    too_many = await api_error(client.chat_postMessage(channel="C0GENERAL", text="x", blocks=[divider] * 51))
    assert too_many.response["error"] == "invalid_blocks"
    long_text = [{"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}]
    too_long = await api_error(client.chat_postMessage(channel="C0GENERAL", text="x", blocks=long_text))
    assert too_long.response["error"] == "invalid_blocks"
    assert "/blocks/0/text/text" in too_long.response["errors"][0]
    many_sections = [{"type": "section", "text": {"type": "mrkdwn", "text": "b" * 2900}} for _ in range(5)]
    total = await api_error(client.chat_postMessage(channel="C0GENERAL", text="x", blocks=many_sections))
    assert total.response["error"] == "msg_blocks_too_long"
    missing = await api_error(client.chat_postMessage(channel="C0GENERAL", text="x", thread_ts="1.000001"))
    assert missing.response["error"] == "thread_not_found"
    assert standin.messages("C0GENERAL") == []
    assert [c.ok for c in standin.calls("chat.postMessage")] == [False] * 6


async def test_threads_and_permalinks(standin: SlackStandIn, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C0GENERAL", text="run started")
    reply = await client.chat_postMessage(channel="C0GENERAL", text="result", thread_ts=parent["ts"])
    nested = await client.chat_postMessage(channel="C0GENERAL", text="more", thread_ts=reply["ts"])
    msgs = standin.messages("C0GENERAL")
    assert [(m["text"], m["thread_ts"]) for m in msgs] == [
        ("run started", None),
        ("result", parent["ts"]),
        ("more", parent["ts"]),
    ]
    assert msgs[0]["reply_count"] == 2
    assert nested["message"]["thread_ts"] == parent["ts"]

    link = await client.chat_getPermalink(channel="C0GENERAL", message_ts=parent["ts"])
    assert link["permalink"] == f"{standin.base_url}/archives/C0GENERAL/p{parent['ts'].replace('.', '')}"
    reply_link = await client.chat_getPermalink(channel="C0GENERAL", message_ts=reply["ts"])
    assert reply_link["permalink"].endswith(f"?thread_ts={parent['ts']}&cid=C0GENERAL")
    gone = await api_error(client.chat_getPermalink(channel="C0GENERAL", message_ts="1.000001"))
    assert gone.response["error"] == "message_not_found"


async def test_chat_update_marks_edited(standin: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0APPROVALS", text="pending", blocks=actions_card())
    done = [{"type": "section", "text": {"type": "mrkdwn", "text": "Approved by <@U0ALICE>"}}]
    resp = await client.chat_update(channel="C0APPROVALS", ts=posted["ts"], text="approved", blocks=done)
    assert (resp["channel"], resp["ts"], resp["text"]) == ("C0APPROVALS", posted["ts"], "approved")
    (msg,) = standin.messages("C0APPROVALS")
    assert msg["edited"] is True and msg["edit_count"] == 1 and msg["text"] == "approved"
    assert msg["blocks"][0]["text"]["text"] == "Approved by <@U0ALICE>"

    blocks_only = {"channel": "C0APPROVALS", "ts": posted["ts"], "blocks": actions_card("apr-2")}
    await client.api_call("chat.update", json=blocks_only)  # (chat_update() would warn about the missing text)
    (msg,) = standin.messages("C0APPROVALS")
    assert msg["text"] == "approved" and msg["edit_count"] == 2  # text kept when only blocks change

    assert (await api_error(client.chat_update(channel="C0APPROVALS", ts="1.000001", text="x"))).response[
        "error"
    ] == "message_not_found"
    assert (await api_error(client.chat_update(channel="C0NOPE", ts=posted["ts"], text="x"))).response[
        "error"
    ] == "channel_not_found"


async def test_post_ephemeral(standin: SlackStandIn, client: AsyncWebClient) -> None:
    resp = await client.chat_postEphemeral(channel="C0GENERAL", user="U0BOB", text="only for bob")
    assert resp["ok"] is True and resp["message_ts"]
    assert standin.messages("C0GENERAL") == []
    (eph,) = standin.ephemerals("U0BOB")
    assert (eph["channel"], eph["user"], eph["text"], eph["ts"]) == (
        "C0GENERAL",
        "U0BOB",
        "only for bob",
        resp["message_ts"],
    )
    assert standin.ephemerals("U0ALICE") == []
    missing = await api_error(client.chat_postEphemeral(channel="C0GENERAL", user="U0NOBODY", text="x"))
    assert missing.response["error"] == "user_not_found"


async def test_users_conversations_usergroups(client: AsyncWebClient) -> None:
    standin = SlackStandIn(
        signing_secret=SECRET,
        bot_token=TOKEN,
        users=[DevUser(id="U0ADA", name="ada", real_name="Ada Admin", is_admin=True)],
        usergroups={"S0REVIEW": ["U0ADA"]},
    )
    base = await standin.start()
    try:
        c = AsyncWebClient(token=TOKEN, base_url=f"{base}/api/")
        user = (await c.users_info(user="U0ADA"))["user"]
        assert (user["id"], user["name"], user["real_name"], user["is_admin"], user["is_bot"]) == (
            "U0ADA",
            "ada",
            "Ada Admin",
            True,
            False,
        )
        assert user["profile"] == {"display_name": "ada", "real_name": "Ada Admin"}
        assert (await api_error(c.users_info(user="U0ALICE"))).response["error"] == "user_not_found"
        channel = (await c.conversations_info(channel="C0APPROVALS"))["channel"]
        assert (channel["id"], channel["name"], channel["is_private"], channel["is_channel"]) == (
            "C0APPROVALS",
            "approvals",
            False,
            True,
        )
        assert (await api_error(c.conversations_info(channel="C0NOPE"))).response["error"] == "channel_not_found"
        assert (await c.usergroups_users_list(usergroup="S0REVIEW"))["users"] == ["U0ADA"]
        assert (await api_error(c.usergroups_users_list(usergroup="S0NOPE"))).response["error"] == "no_such_subteam"
    finally:
        await standin.stop()


async def test_file_upload_v2_lands_in_thread(standin: SlackStandIn, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C0GENERAL", text="run started")
    resp = await client.files_upload_v2(
        channel="C0GENERAL",
        thread_ts=parent["ts"],
        filename="result.md",
        title="Run result",
        content="# Done\nall good",
        initial_comment="finished",
    )
    assert resp["file"]["title"] == "Run result" and resp["file"]["name"] == "result.md"
    assert [c.method for c in standin.calls()][-2:] == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    reply = standin.messages("C0GENERAL")[1]
    assert reply["thread_ts"] == parent["ts"] and reply["text"] == "finished"
    assert reply["files"][0]["content"] == "# Done\nall good" and reply["files"][0]["title"] == "Run result"

    bad = await api_error(
        client.files_completeUploadExternal(files=[{"id": "F0NOPE", "title": "x"}], channel_id="C0GENERAL")
    )
    assert bad.response["error"] == "file_not_found"


async def test_fault_injection_429_and_500(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.fail(method="chat.postMessage", status=429, retry_after=7, count=2)
    for _ in range(2):
        err = await api_error(client.chat_postMessage(channel="C0GENERAL", text="x"))
        assert err.response.status_code == 429
        assert err.response.headers["Retry-After"] == "7"
        assert err.response["error"] == "ratelimited"
    assert (await client.chat_postMessage(channel="C0GENERAL", text="x"))["ok"] is True
    assert [c.ok for c in standin.calls("chat.postMessage")] == [False, False, True]
    assert len(standin.messages("C0GENERAL")) == 1

    standin.fail(method="views.open", status=503)
    err = await api_error(client.views_open(trigger_id="whatever", view=revise_modal()))
    assert err.response.status_code == 503 and err.response["error"] == "internal_error"
    assert (await client.auth_test())["ok"] is True  # other methods unaffected


# ------------------------------------------------------------------------------------------------ delivery


async def test_send_command_is_signed_escaped_and_ack_shown(standin: SlackStandIn, bot: Receiver) -> None:
    bot.reply = lambda body: web.json_response({"text": "Starting your run"})
    result = await standin.send_command(
        user="U0ALICE", channel="C0GENERAL", text="ask @bob about #sales & <stuff> mail x@bob.com @nobody"
    )
    assert result.status == 200 and result.json == {"text": "Starting your run"}
    assert bot.rejected == 0
    (cmd,) = bot.received
    assert cmd["text"] == ("ask <@U0BOB|bob> about <#C0SALES|sales> &amp; &lt;stuff&gt; mail x@bob.com @nobody")
    assert (cmd["command"], cmd["user_id"], cmd["user_name"], cmd["channel_id"], cmd["channel_name"]) == (
        "/agent",
        "U0ALICE",
        "alice",
        "C0GENERAL",
        "general",
    )
    assert (cmd["team_id"], cmd["api_app_id"], cmd["token"]) == ("T0DEV", "A0DEV", "deprecated-verification-token")
    assert cmd["response_url"].startswith(f"{standin.base_url}/_response/") and cmd["trigger_id"]
    assert [e["text"] for e in standin.ephemerals("U0ALICE")] == ["Starting your run"]
    assert standin.messages("C0GENERAL") == []

    bot.reply = lambda body: web.json_response({"response_type": "in_channel", "text": "Run r1 started"})
    await standin.send_command(user="U0BOB", channel="general", text="go")
    assert [m["text"] for m in standin.messages("C0GENERAL")] == ["Run r1 started"]

    bot.reply = lambda body: web.Response(text="plain reply")
    await standin.send_command(user="U0CAROL", channel="C0GENERAL", text="help")
    assert [e["text"] for e in standin.ephemerals("U0CAROL")] == ["plain reply"]

    with pytest.raises(ValueError, match="unknown user"):
        await standin.send_command(user="U0NOBODY", channel="C0GENERAL", text="x")


async def test_wrong_signing_secret_is_rejected_by_bot(standin: SlackStandIn, bot: Receiver) -> None:
    bot.secret = "another-secret"
    result = await standin.send_command(user="U0ALICE", channel="C0GENERAL", text="hi")
    assert result.status == 401 and bot.rejected == 1 and bot.received == []
    assert result.json == {"error": "invalid request"}
    assert standin.ephemerals() == []


async def test_response_url_ephemeral_in_channel_and_use_limit(standin: SlackStandIn, bot: Receiver) -> None:
    await standin.send_command(user="U0ALICE", channel="C0GENERAL", text="status")
    hook = AsyncWebhookClient(bot.received[0]["response_url"])
    assert (await hook.send(text="just for you")).status_code == 200
    assert (await hook.send(text="for everyone", response_type="in_channel")).status_code == 200
    assert [e["text"] for e in standin.ephemerals("U0ALICE")] == ["just for you"]
    assert [m["text"] for m in standin.messages("C0GENERAL")] == ["for everyone"]
    for _ in range(3):
        assert (await hook.send(text="again")).status_code == 200
    sixth = await hook.send(text="too many")
    assert sixth.status_code == 404 and sixth.body == "used_url"
    assert [c.ok for c in standin.calls("response_url")] == [True] * 5 + [False]


async def test_trigger_opens_view_once(standin: SlackStandIn, bot: Receiver, client: AsyncWebClient) -> None:
    await standin.send_command(user="U0BOB", channel="C0GENERAL", text="config")
    trigger = bot.received[0]["trigger_id"]
    opened = await client.views_open(trigger_id=trigger, view=revise_modal())
    view = opened["view"]
    assert view["id"].startswith("V") and view["hash"] and view["callback_id"] == "approval_revise_modal"
    assert view["blocks"][0]["block_id"] == "feedback"
    (open_view,) = standin.open_views("U0BOB")
    assert open_view["id"] == view["id"] and open_view["user"] == "U0BOB"
    assert open_view["view"]["private_metadata"] == "apr-1"
    assert standin.open_views("U0ALICE") == []

    reused = await api_error(client.views_open(trigger_id=trigger, view=revise_modal()))
    assert reused.response["error"] == "exchanged_trigger_id"
    made_up = await api_error(client.views_open(trigger_id="123.456.abc", view=revise_modal()))
    assert made_up.response["error"] == "invalid_trigger_id"


async def test_trigger_expires_after_ttl(bot: Receiver) -> None:
    standin = SlackStandIn(signing_secret=SECRET, bot_token=TOKEN, events_url=bot.url, trigger_ttl=0.05)
    base = await standin.start()
    try:
        received_at = time.monotonic()
        await standin.send_command(user="U0ALICE", channel="C0GENERAL", text="config")
        trigger = bot.received[-1]["trigger_id"]
        await standin.wait_for(lambda: time.monotonic() - received_at > 0.1, timeout=2)
        c = AsyncWebClient(token=TOKEN, base_url=f"{base}/api/")
        expired = await api_error(c.views_open(trigger_id=trigger, view=revise_modal()))
        assert expired.response["error"] == "expired_trigger_id"
        assert standin.open_views() == []
    finally:
        await standin.stop()


async def test_invalid_view_is_rejected(standin: SlackStandIn, bot: Receiver, client: AsyncWebClient) -> None:
    await standin.send_command(user="U0BOB", channel="C0GENERAL", text="config")
    view = revise_modal()
    del view["submit"]
    view["title"]["text"] = "A title much longer than twenty-four chars"
    err = await api_error(client.views_open(trigger_id=bot.received[0]["trigger_id"], view=view))
    assert err.response["error"] == "invalid_arguments"
    messages = " ".join(err.response["response_metadata"]["messages"])
    assert "/view/title" in messages and "/view/submit" in messages


async def test_click_builds_block_actions_payload(standin: SlackStandIn, bot: Receiver, client: AsyncWebClient) -> None:
    card = await client.chat_postMessage(channel="C0APPROVALS", text="approve?", blocks=actions_card("apr-9"))
    result = await standin.click(user="U0ALICE", channel="C0APPROVALS", ts=card["ts"], action_id="approval_approve")
    assert result.status == 200 and result.body == ""
    (payload,) = bot.received
    assert payload["type"] == "block_actions" and payload["api_app_id"] == "A0DEV"
    assert payload["user"] == {"id": "U0ALICE", "username": "alice", "name": "alice", "team_id": "T0DEV"}
    assert payload["team"] == {"id": "T0DEV", "domain": "dev-workspace"}
    assert payload["container"] == {
        "type": "message",
        "message_ts": card["ts"],
        "channel_id": "C0APPROVALS",
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": "C0APPROVALS", "name": "approvals"}
    assert payload["message"]["ts"] == card["ts"] and payload["message"]["blocks"][1]["block_id"] == "decide"
    (action,) = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "approval_approve",
        "decide",
        "apr-9",
        "button",
    )
    assert action["text"] == {"type": "plain_text", "text": "Approve"} and float(action["action_ts"]) > 0
    assert payload["trigger_id"] and payload["response_url"] and payload["state"] == {"values": {}}

    await standin.click(
        user="U0BOB", channel="C0APPROVALS", ts=card["ts"], action_id="approval_reject", value="apr-forged"
    )
    assert bot.received[1]["actions"][0]["value"] == "apr-forged"

    with pytest.raises(ValueError, match="approval_revise"):
        await standin.click(user="U0ALICE", channel="C0APPROVALS", ts=card["ts"], action_id="approval_revise")
    with pytest.raises(ValueError, match="no message"):
        await standin.click(user="U0ALICE", channel="C0APPROVALS", ts="1.000001", action_id="approval_approve")

    # a click racing an update: the button is gone from the card, but the user's client still showed it
    seen = standin.messages("C0APPROVALS")[0]
    await client.chat_update(channel="C0APPROVALS", ts=card["ts"], text="decided", blocks=[])
    with pytest.raises(ValueError, match="no button"):
        await standin.click(user="U0BOB", channel="C0APPROVALS", ts=card["ts"], action_id="approval_approve")
    await standin.click(user="U0BOB", channel="C0APPROVALS", ts=card["ts"], action_id="approval_approve", as_seen=seen)
    late = bot.received[-1]
    assert late["actions"][0]["value"] == "apr-9" and late["message"]["text"] == "decided"
    assert "blocks" not in late["message"]

    # response_url from the click replaces the card
    hook = AsyncWebhookClient(payload["response_url"])
    await hook.send(text="Approved by alice", replace_original=True)
    (msg,) = standin.messages("C0APPROVALS")
    assert msg["text"] == "Approved by alice" and msg["blocks"] == [] and msg["edited"] is True


async def test_click_on_ephemeral_message(standin: SlackStandIn, bot: Receiver, client: AsyncWebClient) -> None:
    eph = await client.chat_postEphemeral(channel="C0GENERAL", user="U0BOB", text="confirm?", blocks=actions_card())
    with pytest.raises(ValueError, match="no message"):  # only bob can see it
        await standin.click(user="U0ALICE", channel="C0GENERAL", ts=eph["message_ts"], action_id="approval_approve")
    await standin.click(user="U0BOB", channel="C0GENERAL", ts=eph["message_ts"], action_id="approval_approve")
    payload = bot.received[0]
    assert payload["container"]["is_ephemeral"] is True and "message" not in payload
    await AsyncWebhookClient(payload["response_url"]).send(delete_original=True)
    assert standin.ephemerals("U0BOB") == []


async def test_view_submission_errors_keep_view_open(
    standin: SlackStandIn, bot: Receiver, client: AsyncWebClient
) -> None:
    await standin.send_command(user="U0CAROL", channel="C0GENERAL", text="revise")
    view = (await client.views_open(trigger_id=bot.received[0]["trigger_id"], view=revise_modal()))["view"]

    bot.reply = lambda body: web.json_response(
        {"response_action": "errors", "errors": {"feedback": "Say what to change"}}
    )
    result = await standin.submit_view(user="U0CAROL", view_id=view["id"], values={"feedback": {"text": "  "}})
    assert result.json == {"response_action": "errors", "errors": {"feedback": "Say what to change"}}
    submitted = bot.received[-1]
    assert submitted["type"] == "view_submission" and submitted["user"]["id"] == "U0CAROL"
    assert submitted["view"]["id"] == view["id"] and submitted["view"]["callback_id"] == "approval_revise_modal"
    assert submitted["view"]["private_metadata"] == "apr-1" and submitted["view"]["hash"] == view["hash"]
    assert submitted["view"]["state"]["values"] == {"feedback": {"text": {"type": "plain_text_input", "value": "  "}}}
    (still_open,) = standin.open_views("U0CAROL")
    assert still_open["id"] == view["id"] and still_open["errors"] == {"feedback": "Say what to change"}

    with pytest.raises(ValueError, match="no input"):
        await standin.submit_view(user="U0CAROL", view_id=view["id"], values={"nope": {"text": "x"}})
    with pytest.raises(ValueError, match="required"):
        await standin.submit_view(user="U0CAROL", view_id=view["id"], values={})

    bot.reply = lambda body: web.Response(status=200)
    result = await standin.submit_view(
        user="U0CAROL", view_id=view["id"], values={"feedback": {"text": "shorter please"}}
    )
    assert result.status == 200 and result.body == ""
    assert standin.open_views("U0CAROL") == []
    assert bot.received[-1]["view"]["state"]["values"]["feedback"]["text"]["value"] == "shorter please"


async def test_view_submission_update_and_clear(standin: SlackStandIn, bot: Receiver, client: AsyncWebClient) -> None:
    await standin.send_command(user="U0ALICE", channel="C0GENERAL", text="revise")
    view = (await client.views_open(trigger_id=bot.received[0]["trigger_id"], view=revise_modal()))["view"]
    replacement = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Thanks"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Sent."}}],
    }
    bot.reply = lambda body: web.json_response({"response_action": "update", "view": replacement})
    await standin.submit_view(user="U0ALICE", view_id=view["id"], values={"feedback": {"text": "x"}})
    (updated,) = standin.open_views("U0ALICE")
    assert updated["id"] == view["id"] and updated["view"]["title"]["text"] == "Thanks"
    assert updated["hash"] != view["hash"]

    bot.reply = lambda body: web.json_response({"response_action": "clear"})
    await standin.submit_view(user="U0ALICE", view_id=view["id"], values={})
    assert standin.open_views() == []


async def test_views_update_hash_conflict_and_not_found(
    standin: SlackStandIn, bot: Receiver, client: AsyncWebClient
) -> None:
    await standin.send_command(user="U0ALICE", channel="C0GENERAL", text="revise")
    view = (await client.views_open(trigger_id=bot.received[0]["trigger_id"], view=revise_modal()))["view"]
    changed = revise_modal() | {"title": {"type": "plain_text", "text": "Revise (2)"}}
    resp = await client.views_update(view_id=view["id"], hash=view["hash"], view=changed)
    assert resp["view"]["title"]["text"] == "Revise (2)" and resp["view"]["hash"] != view["hash"]
    stale = await api_error(client.views_update(view_id=view["id"], hash=view["hash"], view=changed))
    assert stale.response["error"] == "hash_conflict"
    assert (await api_error(client.views_update(view_id="V0NOPE", view=changed))).response["error"] == "not_found"


def home_view(*texts: str) -> dict[str, Any]:
    return {
        "type": "home",
        "callback_id": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in texts],
    }


async def test_views_publish_keeps_each_users_home(standin: SlackStandIn, client: AsyncWebClient) -> None:
    assert standin.home_view("U0ALICE") is None
    first = (await client.views_publish(user_id="U0ALICE", view=home_view("*Your approvals*")))["view"]
    assert first["type"] == "home" and first["id"].startswith("V") and first["hash"]
    assert first["blocks"][0]["block_id"]  # filled in, as Slack does
    home = standin.home_view("U0ALICE")
    assert home is not None and home["id"] == first["id"] and home["blocks"][0]["text"]["text"] == "*Your approvals*"
    assert standin.home_view("U0BOB") is None and standin.open_views() == []  # a home tab is no modal

    second = await client.views_publish(user_id="U0ALICE", view=home_view("Nothing waiting"), hash=first["hash"])
    assert second["view"]["id"] == first["id"] and second["view"]["hash"] != first["hash"]
    stale = await api_error(client.views_publish(user_id="U0ALICE", view=home_view("late"), hash=first["hash"]))
    assert stale.response["error"] == "hash_conflict"
    assert (standin.home_view("U0ALICE") or {})["blocks"][0]["text"]["text"] == "Nothing waiting"

    modal = await api_error(client.views_publish(user_id="U0ALICE", view=revise_modal()))
    assert modal.response["error"] == "invalid_arguments"
    assert "/view/type" in " ".join(modal.response["response_metadata"]["messages"])
    too_big = await api_error(client.views_publish(user_id="U0BOB", view=home_view(*["x"] * 101)))
    assert too_big.response["error"] == "invalid_arguments"
    with_submit = home_view("x") | {"submit": {"type": "plain_text", "text": "Send"}}
    assert (await api_error(client.views_publish(user_id="U0BOB", view=with_submit))).response["error"] == (
        "invalid_arguments"
    )
    nobody = await api_error(client.views_publish(user_id="U0NOBODY", view=home_view("x")))
    assert nobody.response["error"] == "user_not_found"
    assert standin.home_view("U0BOB") is None
    assert [c.ok for c in standin.calls("views.publish")] == [True, True, False, False, False, False, False]

    async with aiohttp.ClientSession() as http, http.get(f"{standin.base_url}/_control/state") as r:
        assert (await r.json())["homes"]["U0ALICE"]["id"] == first["id"]
    standin.reset()
    assert standin.home_view("U0ALICE") is None


def button(**fields: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}} | fields


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "/blocks/0/text/text"),
        (
            [{"type": "actions", "elements": [button(text={"type": "plain_text", "text": "b" * 76})]}],
            "/blocks/0/elements/0/text/text",
        ),
        ([{"type": "actions", "elements": [button(style="green")]}], "/blocks/0/elements/0/style"),
        ([{"type": "actions", "elements": [button(value="v" * 2001)]}], "/blocks/0/elements/0/value"),
        ([{"type": "actions", "elements": [button(action_id=f"a{i}") for i in range(26)]}], "/blocks/0/elements"),
        (
            [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "accessory": button(url="u" * 3001)}],
            "/blocks/0/accessory/url",
        ),
        ([{"type": "section"}], "/blocks/0"),
        ([{"type": "divider", "block_id": "b" * 256}], "/blocks/0/block_id"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "/blocks/0/fields"),
        ([{"type": "divider", "block_id": "d"}, {"type": "divider", "block_id": "d"}], "/blocks/1/block_id"),
        ([{"type": "actions", "elements": [button(), button()]}], "/blocks/0/elements/1/action_id"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], "/blocks/0/text"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "/blocks/0/text/text"),
        ([{"type": "carousel"}], "/blocks/0/type"),
        ([{"type": {"not": "a type"}}], "/blocks/0/type"),
    ],
)
async def test_refused_blocks_answer_invalid_blocks_with_a_pointer(
    client: AsyncWebClient, blocks: list[dict[str, Any]], pointer: str
) -> None:
    err = await api_error(client.chat_postMessage(channel="C0GENERAL", text="x", blocks=blocks))
    assert err.response["error"] == "invalid_blocks"
    assert any(pointer in m and "[json-pointer:/blocks" in m for m in err.response["errors"]), err.response["errors"]
    assert err.response["response_metadata"]["messages"] == err.response["errors"]


async def test_signature_is_slacks_even_for_bytes_that_are_not_utf8(standin: SlackStandIn) -> None:
    verifier = SignatureVerifier(SECRET)
    text = b"command=%2Fagent&text=hi"
    headers = standin.sign(text, timestamp=1700000000)
    assert headers["X-Slack-Request-Timestamp"] == "1700000000"
    assert headers["X-Slack-Signature"] == verifier.generate_signature(timestamp="1700000000", body=text)
    raw = b"text=\xff\xfe"
    expected = "v0=" + hmac.new(SECRET.encode(), b"v0:1700000000:" + raw, hashlib.sha256).hexdigest()
    assert standin.sign(raw, timestamp=1700000000)["X-Slack-Signature"] == expected


# ------------------------------------------------------------------------------------------------ helpers / control


async def test_wait_for_wakes_on_change_and_reports_timeout(standin: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0GENERAL", text="hi")
    found = await standin.wait_for(lambda: [m for m in standin.messages("C0GENERAL") if m["ts"] == posted["ts"]])
    assert found[0]["text"] == "hi"
    with pytest.raises(TimeoutError, match=r"no such message.*chat\.postMessage\(ok\)"):
        await standin.wait_for(lambda: standin.messages("C0RANDOM"), timeout=0.05, description="no such message")


async def test_http_control_endpoints(standin: SlackStandIn, bot: Receiver, client: AsyncWebClient) -> None:
    bot.reply = lambda body: web.json_response({"text": "ok!"})
    base = standin.base_url
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/_control/command", json={"user": "U0ALICE", "channel": "C0GENERAL", "text": "hello @carol"}
        ) as r:
            assert r.status == 200
            assert (await r.json())["status"] == 200
        assert bot.received[-1]["text"] == "hello <@U0CAROL|carol>"

        card = await client.chat_postMessage(channel="C0APPROVALS", text="card", blocks=actions_card())
        async with http.post(
            f"{base}/_control/click",
            json={"user": "U0BOB", "channel": "C0APPROVALS", "ts": card["ts"], "action_id": "approval_reject"},
        ) as r:
            assert (await r.json())["status"] == 200
        assert bot.received[-1]["actions"][0]["action_id"] == "approval_reject"
        async with http.post(
            f"{base}/_control/click",
            json={"user": "U0BOB", "channel": "C0APPROVALS", "ts": card["ts"], "action_id": "missing"},
        ) as r:
            assert r.status == 400 and "missing" in (await r.json())["error"]

        async with http.post(f"{base}/_control/fail", json={"method": "users.info", "status": 500}) as r:
            assert r.status == 200
        assert (await api_error(client.users_info(user="U0ALICE"))).response.status_code == 500

        async with http.get(f"{base}/_control/calls", params={"method": "chat.postMessage"}) as r:
            calls = (await r.json())["calls"]
        assert [c["method"] for c in calls] == ["chat.postMessage"] and calls[0]["args"]["channel"] == "C0APPROVALS"

        async with http.get(f"{base}/_control/state") as r:
            state = await r.json()
        assert {c["id"] for c in state["channels"]} >= {"C0GENERAL", "C0RANDOM", "C0APPROVALS", "C0SALES"}
        assert {u["name"] for u in state["users"]} == {"alice", "bob", "carol"}
        assert state["messages"]["C0APPROVALS"][0]["ts"] == card["ts"]
        assert state["ephemerals"][0]["text"] == "ok!" and state["views"] == []

        async with http.post(f"{base}/_control/reset") as r:
            assert r.status == 200
    assert standin.calls() == [] and standin.messages("C0APPROVALS") == [] and standin.ephemerals() == []
    assert (await client.users_info(user="U0ALICE"))["ok"] is True


# ------------------------------------------------------------------------------------------------ DMs, App Home, views


def option(value: str, text: str | None = None) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text or value.title()}, "value": value}


def approvals_home(*ids: str) -> dict[str, Any]:
    """An App Home inbox: per approval a section and Approve / Reject buttons (the same action_ids, its id as
    value), and a batch button."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": "Waiting for you"}}]
    for approval in ids:
        blocks.append({"type": "section", "block_id": f"s-{approval}", "text": {"type": "mrkdwn", "text": approval}})
        blocks.append(
            {
                "type": "actions",
                "block_id": f"d-{approval}",
                "elements": [
                    button(action_id="home_approve", text={"type": "plain_text", "text": "Approve"}, value=approval)
                    | {"style": "primary"},
                    button(action_id="home_reject", text={"type": "plain_text", "text": "Reject"}, value=approval),
                ],
            }
        )
    blocks.append({"type": "actions", "block_id": "batch", "elements": [button(action_id="home_approve_all")]})
    return {"type": "home", "callback_id": "approvals_home", "private_metadata": "page=1", "blocks": blocks}


def reject_modal(approval: str = "apr-1") -> dict[str, Any]:
    """A modal with every input kind the stand-in fills in, and a button."""

    def field(block_id: str, element: dict[str, Any], *, optional: bool = True) -> dict[str, Any]:
        label = {"type": "plain_text", "text": block_id.title()}
        return {"type": "input", "block_id": block_id, "optional": optional, "label": label, "element": element}

    return {
        "type": "modal",
        "callback_id": "reject_reason",
        "private_metadata": approval,
        "title": {"type": "plain_text", "text": "Reject"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "blocks": [
            field("reason", {"type": "plain_text_input", "action_id": "text", "multiline": True}),
            field(
                "which",
                {"type": "checkboxes", "action_id": "ids", "options": [option("apr-1"), option("apr-2")]},
                optional=False,
            ),
            field(
                "tags",
                {
                    "type": "multi_static_select",
                    "action_id": "pick",
                    "placeholder": {"type": "plain_text", "text": "Tags"},
                    "options": [option("cost"), option("risk"), option("tone")],
                    "initial_options": [option("risk")],
                },
            ),
            field(
                "severity",
                {
                    "type": "radio_buttons",
                    "action_id": "level",
                    "options": [option("low"), option("high")],
                    "initial_option": option("low"),
                },
            ),
            field(
                "team",
                {
                    "type": "static_select",
                    "action_id": "choose",
                    "placeholder": {"type": "plain_text", "text": "Team"},
                    "options": [option("ops"), option("sales")],
                },
            ),
            {"type": "actions", "block_id": "tools", "elements": [button(action_id="select_all", value="all")]},
        ],
    }


async def test_conversations_open_gives_one_dm_per_person(
    standin: SlackStandIn, bot: Receiver, client: AsyncWebClient
) -> None:
    first = await client.conversations_open(users="U0ALICE")
    assert first["channel"] == {"id": "D0ALICE"} and "already_open" not in first.data
    again = await client.conversations_open(users="U0ALICE", return_im=True)
    assert again["already_open"] is True and again["channel"]["id"] == "D0ALICE"
    assert again["channel"]["is_im"] is True and again["channel"]["user"] == "U0ALICE"
    assert (await client.conversations_open(channel="D0ALICE"))["channel"]["id"] == "D0ALICE"
    assert standin.dm_channel("U0BOB") == "D0BOB"
    info = await client.conversations_info(channel="D0ALICE")
    assert info["channel"]["is_im"] is True and info["channel"]["user"] == "U0ALICE"

    nobody = await api_error(client.conversations_open(users="U0NOBODY"))
    assert nobody.response["error"] == "user_not_found"
    missing = await api_error(client.api_call("conversations.open", json={"return_im": True}))
    assert missing.response["error"] == "users_list_not_supplied"
    several = await api_error(client.conversations_open(users=["U0ALICE", "U0BOB"]))
    assert several.response["error"] == "not_implemented"
    assert "multi-person" in several.response["response_metadata"]["messages"][0]
    channel = await api_error(client.conversations_open(channel="C0GENERAL"))
    assert channel.response["error"] == "method_not_supported_for_channel_type"
    assert (await api_error(client.conversations_open(channel="D0NOPE"))).response["error"] == "channel_not_found"

    # the DM takes messages, updates and clicks like a channel, but only its own person sees and clicks there
    card = await client.chat_postMessage(channel="D0ALICE", text="approve?", blocks=actions_card("apr-7"))
    assert card["channel"] == "D0ALICE"
    await client.chat_update(channel="D0ALICE", ts=card["ts"], text="approve? (2)", blocks=actions_card("apr-7"))
    (shown,) = standin.messages("D0ALICE")
    assert shown["text"] == "approve? (2)" and shown["edited"] is True
    await standin.click(user="U0ALICE", channel="D0ALICE", ts=card["ts"], action_id="approval_approve")
    payload = bot.received[-1]
    assert payload["channel"] == {"id": "D0ALICE", "name": "directmessage"}
    assert payload["container"]["channel_id"] == "D0ALICE" and payload["actions"][0]["value"] == "apr-7"
    with pytest.raises(ValueError, match="no message"):
        await standin.click(user="U0BOB", channel="D0ALICE", ts=card["ts"], action_id="approval_approve")
    with pytest.raises(ValueError, match="not in D0ALICE"):
        await standin.send_command(user="U0BOB", channel="D0ALICE", text="status")
    with pytest.raises(ValueError, match="not in D0ALICE"):
        standin.post_user_message(user="U0BOB", channel="D0ALICE", text="hi")
    assert len(bot.received) == 1


async def test_open_home_delivers_app_home_opened(standin: SlackStandIn, bot: Receiver, client: AsyncWebClient) -> None:
    result = await standin.open_home(user="U0BOB")
    assert result.status == 200 and bot.rejected == 0 and bot.received == []
    (callback,) = bot.events  # JSON, signed like every request
    assert callback["type"] == "event_callback" and callback["team_id"] == "T0DEV" and callback["api_app_id"] == "A0DEV"
    assert callback["token"] and callback["event_id"].startswith("Ev") and isinstance(callback["event_time"], int)
    event = callback["event"]
    assert event["type"] == "app_home_opened" and event["user"] == "U0BOB" and event["tab"] == "home"
    assert event["channel"] == "D0BOB" and float(event["event_ts"]) > 0
    assert "view" not in event  # nothing published for bob yet

    published = (await client.views_publish(user_id="U0BOB", view=approvals_home("apr-1")))["view"]
    await standin.open_home(user="U0BOB")
    view = bot.events[-1]["event"]["view"]
    assert view["id"] == published["id"] and view["hash"] == published["hash"] and view["type"] == "home"
    assert bot.events[-1]["event_id"] != callback["event_id"]
    await standin.open_home(user="U0BOB", tab="messages")
    assert bot.events[-1]["event"]["tab"] == "messages" and "view" not in bot.events[-1]["event"]
    with pytest.raises(ValueError, match="tab"):
        await standin.open_home(user="U0BOB", tab="about")
    with pytest.raises(ValueError, match="unknown user"):
        await standin.open_home(user="U0NOBODY")

    headers = standin.sign(b"{}", timestamp=1700000000, content_type="application/json")
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Slack-Signature"] == standin.sign(b"{}", timestamp=1700000000)["X-Slack-Signature"]


async def test_click_view_in_home_and_modal(standin: SlackStandIn, bot: Receiver, client: AsyncWebClient) -> None:
    with pytest.raises(ValueError, match="no Home view"):
        await standin.click_view(user="U0CAROL", action_id="home_approve", value="apr-2")
    home = (await client.views_publish(user_id="U0CAROL", view=approvals_home("apr-1", "apr-2")))["view"]
    result = await standin.click_view(user="U0CAROL", action_id="home_approve", value="apr-2")
    assert result.status == 200
    payload = bot.received[-1]
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U0CAROL"
    assert payload["container"] == {"type": "view", "view_id": home["id"]}
    assert payload["team"] == {"id": "T0DEV", "domain": "dev-workspace"} and payload["api_app_id"] == "A0DEV"
    assert payload["token"] and payload["trigger_id"]
    assert not {"message", "channel", "response_url"} & set(payload)
    view = payload["view"]
    assert view["id"] == home["id"] and view["hash"] == home["hash"] and view["type"] == "home"
    assert view["callback_id"] == "approvals_home" and view["private_metadata"] == "page=1"
    assert view["state"] == {"values": {}}
    (action,) = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "home_approve",
        "d-apr-2",
        "apr-2",
        "button",
    )
    assert action["text"] == {"type": "plain_text", "text": "Approve"} and action["style"] == "primary"
    assert float(action["action_ts"]) > 0

    await standin.click_view(user="U0CAROL", action_id="home_approve_all")  # the only one: no value needed
    assert bot.received[-1]["actions"][0]["block_id"] == "batch"
    with pytest.raises(ValueError, match=r"2 buttons.*\('home_reject', 'apr-1'\)"):
        await standin.click_view(user="U0CAROL", action_id="home_reject")
    with pytest.raises(ValueError, match=r"no button.*\('home_approve', 'apr-1'\)"):
        await standin.click_view(user="U0CAROL", action_id="home_approve", value="apr-9")
    with pytest.raises(ValueError, match="no Home view"):  # a Home is its own person's
        await standin.click_view(user="U0ALICE", action_id="home_approve", value="apr-1")

    # the click's trigger opens a modal; a button in the modal clicks with the modal as the view
    modal = (await client.views_open(trigger_id=bot.received[-1]["trigger_id"], view=reject_modal()))["view"]
    await standin.click_view(
        user="U0CAROL", view_id=modal["id"], action_id="select_all", values={"reason": {"text": "draft"}}
    )
    payload = bot.received[-1]
    assert payload["container"] == {"type": "view", "view_id": modal["id"]}
    assert payload["view"]["callback_id"] == "reject_reason" and payload["view"]["private_metadata"] == "apr-1"
    assert payload["view"]["root_view_id"] == modal["id"] and payload["actions"][0]["value"] == "all"
    state = payload["view"]["state"]["values"]
    assert state["reason"]["text"]["value"] == "draft"
    assert state["which"]["ids"] == {"type": "checkboxes", "selected_options": []}  # required, but not submitted
    with pytest.raises(ValueError, match="no open view"):
        await standin.click_view(user="U0ALICE", view_id=modal["id"], action_id="select_all")


async def test_submit_view_with_choices(standin: SlackStandIn, bot: Receiver, client: AsyncWebClient) -> None:
    await standin.send_command(user="U0ALICE", channel="C0GENERAL", text="reject")
    view = (await client.views_open(trigger_id=bot.received[0]["trigger_id"], view=reject_modal()))["view"]
    refused: list[tuple[Values, str]] = [
        ({"which": {"ids": ["apr-3"]}}, r"no option 'apr-3'.*\['apr-1', 'apr-2'\]"),
        ({"which": {"ids": "apr-1"}}, "give a list"),
        ({"which": {"ids": ["apr-1"]}, "team": {"choose": ["ops"]}}, "one option value"),
        ({"which": {"ids": ["apr-1"]}, "severity": {"level": "medium"}}, "no option 'medium'"),
        ({"which": {"ids": []}}, "which/ids is required"),
        ({}, "which/ids is required"),
    ]
    for wrong, error in refused:
        with pytest.raises(ValueError, match=error):
            await standin.submit_view(user="U0ALICE", view_id=view["id"], values=wrong)
    assert len(bot.received) == 1  # nothing was sent

    await standin.submit_view(user="U0ALICE", view_id=view["id"], values={"which": {"ids": ["apr-2", "apr-1"]}})
    state = bot.received[-1]["view"]["state"]["values"]
    assert state == {
        "reason": {"text": {"type": "plain_text_input", "value": None}},
        "which": {"ids": {"type": "checkboxes", "selected_options": [option("apr-2"), option("apr-1")]}},
        "tags": {"pick": {"type": "multi_static_select", "selected_options": [option("risk")]}},  # initial
        "severity": {"level": {"type": "radio_buttons", "selected_option": option("low")}},  # initial
        "team": {"choose": {"type": "static_select", "selected_option": None}},
    }
    assert standin.open_views() == []

    await standin.send_command(user="U0ALICE", channel="C0GENERAL", text="reject")
    view = (await client.views_open(trigger_id=bot.received[-1]["trigger_id"], view=reject_modal()))["view"]
    values: Values = {
        "reason": {"text": "too costly"},
        "which": {"ids": ["apr-1"]},
        "tags": {"pick": ["cost", "tone"]},
        "severity": {"level": "high"},
        "team": {"choose": "sales"},
    }
    async with aiohttp.ClientSession() as http:  # the page submits the same shape
        async with http.post(
            f"{standin.base_url}/_control/submit_view",
            json={"user": "U0ALICE", "view_id": view["id"], "values": values},
        ) as r:
            assert r.status == 200, await r.text()
    state = bot.received[-1]["view"]["state"]["values"]
    assert state["reason"]["text"]["value"] == "too costly"
    assert [o["value"] for o in state["tags"]["pick"]["selected_options"]] == ["cost", "tone"]
    assert state["severity"]["level"]["selected_option"] == option("high")
    assert state["team"]["choose"]["selected_option"] == option("sales")


def modal_with(element: dict[str, Any], **view: Any) -> dict[str, Any]:
    block = {"type": "input", "block_id": "b", "label": {"type": "plain_text", "text": "Pick"}, "element": element}
    return reject_modal() | {"blocks": [block]} | view


def choices(kind: str, count: int, **extra: Any) -> dict[str, Any]:
    element = {"type": kind, "action_id": "a", "options": [option(f"v{i}") for i in range(count)]} | extra
    if kind.endswith("select"):
        element["placeholder"] = {"type": "plain_text", "text": "Pick"}
    return element


@pytest.mark.parametrize(
    ("view", "pointer"),
    [
        (modal_with(choices("multi_static_select", 101)), "/view/blocks/0/element/options"),
        (modal_with(choices("static_select", 101)), "/view/blocks/0/element/options"),
        (modal_with(choices("checkboxes", 11)), "/view/blocks/0/element/options"),
        (modal_with(choices("radio_buttons", 11)), "/view/blocks/0/element/options"),
        (
            modal_with(choices("static_select", 1) | {"options": [option("v", "t" * 76)]}),
            "/view/blocks/0/element/options/0/text/text",
        ),
        (
            modal_with(choices("checkboxes", 1) | {"options": [option("v" * 151)]}),
            "/view/blocks/0/element/options/0/value",
        ),
        (
            modal_with(choices("multi_static_select", 2, initial_options=[option("v9")])),
            "/view/blocks/0/element/initial_options/0",
        ),
        (reject_modal() | {"private_metadata": "m" * 3001}, "/view/private_metadata"),
        (reject_modal() | {"title": {"type": "plain_text", "text": "t" * 25}}, "/view/title"),
        (reject_modal() | {"submit": {"type": "plain_text", "text": "s" * 25}}, "/view/submit"),
        (reject_modal() | {"close": {"type": "plain_text", "text": "c" * 25}}, "/view/close"),
        (reject_modal() | {"blocks": [{"type": "divider"}] * 101}, "/view/blocks"),
    ],
)
async def test_view_limits_are_refused_like_slack(
    standin: SlackStandIn, bot: Receiver, client: AsyncWebClient, view: dict[str, Any], pointer: str
) -> None:
    await standin.send_command(user="U0BOB", channel="C0GENERAL", text="x")
    err = await api_error(client.views_open(trigger_id=bot.received[0]["trigger_id"], view=view))
    assert err.response["error"] == "invalid_arguments"
    messages = err.response["response_metadata"]["messages"]
    assert any(f"[json-pointer:{pointer}" in m for m in messages), messages
    assert standin.open_views() == []
    home = {k: v for k, v in view.items() if k not in ("submit", "close", "callback_id")} | {"type": "home"}
    if pointer not in ("/view/submit", "/view/close", "/view/title"):  # (a Home has none of those)
        published = await api_error(client.views_publish(user_id="U0BOB", view=home))
        assert published.response["error"] == "invalid_arguments"
        assert any(f"[json-pointer:{pointer}" in m for m in published.response["response_metadata"]["messages"])


async def test_options_at_their_limits_are_accepted(standin: SlackStandIn, client: AsyncWebClient) -> None:
    blocks = [
        {"type": "actions", "elements": [choices("checkboxes", 10)]},
        {"type": "actions", "elements": [choices("static_select", 100) | {"initial_option": option("v3")}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "accessory": choices("radio_buttons", 10)},
        {"type": "actions", "elements": [choices("checkboxes", 1) | {"options": [option("v" * 150, "t" * 75)]}]},
    ]
    home = {"type": "home", "private_metadata": "m" * 3000, "blocks": blocks}
    assert (await client.views_publish(user_id="U0ALICE", view=home))["ok"] is True


async def serve(handler: Callable[[web.Request], Any]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/slack/events", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/slack/events"


def bolt_app(standin: SlackStandIn, seen: list[dict[str, Any]]) -> AsyncApp:
    """A Bolt app doing issue #14's loop: publish the Home when it is opened, Reject from the Home opens a modal."""
    app = AsyncApp(client=AsyncWebClient(token=TOKEN, base_url=standin.api_url), signing_secret=SECRET)

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        seen.append(event)
        await client.views_publish(user_id=event["user"], view=approvals_home("apr-1", "apr-2"))

    @app.action("home_reject")
    async def reject(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        seen.append(body)
        await client.views_open(trigger_id=body["trigger_id"], view=reject_modal(body["actions"][0]["value"]))

    @app.view("reject_reason")
    async def submitted(ack: Any, view: dict[str, Any]) -> None:
        await ack()
        seen.append(view)

    return app


async def test_bolt_app_gets_home_opened_home_clicks_and_modal_choices(standin: SlackStandIn) -> None:
    seen: list[dict[str, Any]] = []
    app = bolt_app(standin, seen)

    async def endpoint(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    runner, standin.events_url = await serve(endpoint)
    try:
        assert (await standin.open_home(user="U0ALICE")).status == 200
        home = await standin.wait_for(lambda: standin.home_view("U0ALICE"))
        assert seen[0]["user"] == "U0ALICE" and seen[0]["channel"] == "D0ALICE" and seen[0]["tab"] == "home"

        assert (await standin.click_view(user="U0ALICE", action_id="home_reject", value="apr-2")).status == 200
        (modal,) = await standin.wait_for(lambda: standin.open_views("U0ALICE"))
        assert seen[1]["container"] == {"type": "view", "view_id": home["id"]}
        assert modal["view"]["private_metadata"] == "apr-2"

        values: Values = {"which": {"ids": ["apr-2"]}, "reason": {"text": "no"}}
        assert (await standin.submit_view(user="U0ALICE", view_id=modal["id"], values=values)).status == 200
        view = await standin.wait_for(lambda: seen[2] if len(seen) > 2 else None)
        assert view["state"]["values"]["which"]["ids"]["selected_options"] == [option("apr-2")]
        assert standin.open_views() == []
    finally:
        await runner.cleanup()


async def test_bolt_over_socket_mode_gets_app_home_opened(standin: SlackStandIn) -> None:
    standin.app_token = "xapp-1-test"
    seen: list[dict[str, Any]] = []
    handler = AsyncSocketModeHandler(bolt_app(standin, seen), standin.app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        await standin.wait_for(lambda: standin._sockets)
        assert (await standin.open_home(user="U0BOB", tab="messages")).status == 200
        await standin.wait_for(lambda: seen)
        assert (seen[0]["user"], seen[0]["channel"], seen[0]["tab"]) == ("U0BOB", "D0BOB", "messages")
        await standin.wait_for(lambda: standin.home_view("U0BOB"))
        await standin.click_view(user="U0BOB", action_id="home_reject", value="apr-1")
        await standin.wait_for(lambda: standin.open_views("U0BOB"))
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


async def test_http_control_home_and_click_view(standin: SlackStandIn, bot: Receiver, client: AsyncWebClient) -> None:
    base = standin.base_url
    home = (await client.views_publish(user_id="U0BOB", view=approvals_home("apr-1", "apr-2")))["view"]
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/_control/home", json={"user": "U0BOB", "tab": "home"}) as r:
            assert r.status == 200 and (await r.json())["status"] == 200
        assert bot.events[-1]["event"]["view"]["id"] == home["id"]
        async with http.post(f"{base}/_control/home", json={"user": "U0BOB", "tab": "nope"}) as r:
            assert r.status == 400 and "tab" in (await r.json())["error"]
        click = {"user": "U0BOB", "action_id": "home_reject", "value": "apr-1"}
        async with http.post(f"{base}/_control/click_view", json=click) as r:
            assert r.status == 200 and (await r.json())["status"] == 200
        assert bot.received[-1]["actions"][0]["value"] == "apr-1"
        async with http.post(f"{base}/_control/click_view", json=click | {"value": "apr-9"}) as r:
            assert r.status == 400 and "apr-2" in (await r.json())["error"]
        async with http.post(f"{base}/_control/click_view", json=click, headers={"Origin": "http://evil.example"}) as r:
            assert r.status == 403
        async with http.get(f"{base}/_control/state") as r:
            state = await r.json()
        assert state["dms"]["U0BOB"] == "D0BOB" and state["bot"]["app_name"] == "Agent Approvals"
        assert state["homes"]["U0BOB"]["id"] == home["id"]
    standin.events_url = None
    with pytest.raises(RuntimeError, match="events_url"):
        await standin.open_home(user="U0BOB")


# ------------------------------------------------------------------------------------------------ the page


class Background:
    """The stand-in and a Bolt app (issue #14's loop) serving in a thread's event loop, while a synchronous browser
    drives the page in the test's thread. ``seen`` collects what the app got (events, clicks, submitted views)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.standin, self.runner = self.run(self._start())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    async def _start(self) -> tuple[SlackStandIn, web.AppRunner]:
        standin = SlackStandIn(signing_secret=SECRET, bot_token=TOKEN)
        await standin.start()
        app = bolt_app(standin, self.seen)

        @app.action("select_all")
        @app.action("home_approve")
        @app.action("approval_approve")
        async def clicked(ack: Any, body: dict[str, Any]) -> None:
            await ack()
            self.seen.append(body)

        async def endpoint(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

        runner, standin.events_url = await serve(endpoint)
        return standin, runner

    def click(self, action_id: str, page: Page) -> dict[str, Any]:
        """The block_actions payload of the app's first click on action_id (waiting for it)."""
        for _ in range(200):
            found = [
                s for s in self.seen if s.get("type") == "block_actions" and s["actions"][0]["action_id"] == action_id
            ]
            if found:
                return found[0]
            page.wait_for_timeout(25)
        raise AssertionError(f"the app got no click on {action_id}: {self.seen}")

    def stop(self) -> None:
        async def stop() -> None:
            await self.runner.cleanup()
            await self.standin.stop()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def test_page_shows_the_home_the_dm_and_choice_inputs() -> None:
    served = Background()
    errors: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(served.standin.base_url + "/")
            page.get_by_test_id("user-alice").click()

            # the Home: opening it tells the app, which publishes it; a button is picked by its value
            page.get_by_test_id("sidebar-home").click()
            home = page.get_by_test_id("home")
            reject = home.locator('[data-testid="button-home_reject"][data-value="apr-2"]')
            expect(reject).to_be_visible()
            expect(page.get_by_test_id("messages")).to_be_hidden()
            assert served.seen[0]["type"] == "app_home_opened" and served.seen[0]["user"] == "U0ALICE"
            home.locator('[data-testid="button-home_approve"][data-value="apr-1"]').click()
            assert served.click("home_approve", page)["actions"][0]["value"] == "apr-1"

            # Reject opens the modal: checkboxes and radio buttons, required ones checked before sending
            reject.click()
            modal = page.get_by_test_id("modal")
            expect(modal.get_by_test_id("option-risk")).to_be_checked()  # initial_options
            expect(modal.get_by_test_id("option-low")).to_be_checked()  # initial_option
            modal.get_by_test_id("input-reason-text").fill("too costly")
            modal.get_by_test_id("modal-submit").click()
            expect(modal.get_by_test_id("input-error-which")).to_be_visible()
            for value in ("apr-2", "high", "sales", "cost"):
                modal.get_by_test_id(f"option-{value}").check()
            modal.get_by_test_id("button-select_all").click()  # a button in the modal, with the state so far
            in_modal = served.click("select_all", page)
            assert in_modal["container"]["type"] == "view" and in_modal["view"]["callback_id"] == "reject_reason"
            assert in_modal["view"]["state"]["values"]["which"]["ids"]["selected_options"] == [option("apr-2")]
            modal.get_by_test_id("modal-submit").click()
            expect(modal).to_have_count(0)
            state = next(s for s in served.seen if s.get("type") == "modal")["state"]["values"]
            assert state["which"]["ids"]["selected_options"] == [option("apr-2")]
            assert state["tags"]["pick"]["selected_options"] == [option("cost"), option("risk")]
            assert state["severity"]["level"]["selected_option"] == option("high")
            assert state["team"]["choose"]["selected_option"] == option("sales")
            assert state["reason"]["text"]["value"] == "too costly"

            # the DM with the app: its card, clicked there; another person sees their own DM
            WebClient(token=TOKEN, base_url=served.standin.api_url).chat_postMessage(
                channel="U0ALICE", text="approve?", blocks=actions_card("apr-5")
            )
            expect(page.get_by_test_id("unread-dm-bot")).to_have_text("1")
            page.get_by_test_id("sidebar-dm-bot").click()
            card = page.get_by_test_id("messages").get_by_test_id("message")
            card.get_by_test_id("button-approval_approve").click()
            assert served.click("approval_approve", page)["channel"]["id"] == "D0ALICE"
            assert any(s.get("type") == "app_home_opened" and s["tab"] == "messages" for s in served.seen)
            page.get_by_test_id("user-bob").click()
            expect(page.get_by_test_id("sidebar-dm-bot")).to_have_attribute("data-channel-id", "D0BOB")
            expect(page.get_by_test_id("messages").get_by_test_id("message")).to_have_count(0)
            page.get_by_test_id("tab-home").click()
            expect(home.locator('[data-testid="button-home_reject"][data-value="apr-1"]')).to_be_visible()
            page.get_by_test_id("channel-general").click()
            expect(home).to_be_hidden()
            expect(page.get_by_test_id("tab-home")).to_be_hidden()
            browser.close()
    finally:
        served.stop()
    assert not errors, errors
