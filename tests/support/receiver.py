"""A signature-checking receiver of the stand-in's deliveries, and the payloads the stand-in's tests share."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.devslack.server import SlackStandIn

SECRET = "test-signing-secret"


TOKEN = "xoxb-test-token"


Reply = Callable[[dict[str, Any]], web.Response]


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


def button(**fields: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}} | fields


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
