"""The local Slack stand-in (bot/devslack): real HTTP, slack-sdk as the client, a signature-checking receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.devslack.server import DevChannel, DevUser, SlackStandIn

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"

Reply = Callable[[dict[str, Any]], web.Response]


@dataclass
class Receiver:
    """A tiny bot endpoint: verifies Slack's signature with slack-sdk, records bodies, answers with `reply`."""

    secret: str = SECRET
    received: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    reply: Reply = field(default=lambda body: web.Response(status=200))
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = (await request.read()).decode()
        verifier = SignatureVerifier(self.secret)
        if request.content_type != "application/x-www-form-urlencoded" or not verifier.is_valid(
            body=raw,
            timestamp=request.headers.get("X-Slack-Request-Timestamp", ""),
            signature=request.headers.get("X-Slack-Signature", ""),
        ):
            self.rejected += 1
            return web.json_response({"error": "invalid request"}, status=401)
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
