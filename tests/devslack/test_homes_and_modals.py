"""The stand-in's DMs, App Homes and modals: one DM per person, Homes published and opened, clicks in a Home or a
modal, choices submitted, views at Slack's limits; and a Bolt app over HTTP or Socket Mode getting them."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.devslack.server import SlackStandIn
from tests.support.receiver import (
    Receiver,
    actions_card,
    api_error,
    approvals_home,
    bolt_app,
    option,
    reject_modal,
    serve,
)

Values = dict[str, dict[str, str | list[str] | None]]  # what a person entered in a modal: {block_id: {action_id: ...}}


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
