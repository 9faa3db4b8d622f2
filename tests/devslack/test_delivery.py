"""The stand-in delivering to an app (bot/devslack/delivery.py): signed commands, response URLs, trigger ids, clicks
and view submissions as Slack sends them, to a signature-checking receiver."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.devslack.server import SlackStandIn
from tests.support.receiver import SECRET, TOKEN, Receiver, actions_card, api_error, button, revise_modal


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
