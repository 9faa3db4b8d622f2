"""The stand-in's Web API (real HTTP, slack-sdk as the client) and its control API: messages, threads, users, files,
injected 429 and 500, waiting for a change."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.devslack.server import DevChannel, DevUser, SlackStandIn
from tests.support.receiver import SECRET, TOKEN, Receiver, actions_card, api_error, revise_modal


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
        assert user["profile"] == {"display_name": "ada", "real_name": "Ada Admin", "email": "ada@example.com"}
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
