"""Records to build Block Kit from, and checks of what a builder returns: valid, within limits, inert."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.core.records import ApprovalRecord
from bot.devslack.blockkit import validate_view

NOW = 1_700_000_000.0


EVIL = "Hi <!channel> <@U0CEO> see <https://evil.example|x> *bold* & `tick` ```"


# Live markup the builders make themselves, from checked ids: mentions, channel links, dates, header links.
OURS = re.compile(
    r"<@U[A-Z0-9]+>|<#C[A-Z0-9]+>|<!date\^\d+\^[^|>]*\|[^>]*>|<https://acme\.slack\.com/archives/[^|>]+\|open>"
)


def approval(number: int = 0, **changes: Any) -> ApprovalRecord:
    base = ApprovalRecord(
        id=f"aaaaaaaa-{number:04d}",
        run_id="rabcdefg",
        owner="w1",
        requester="U0ALICE",
        origin_channel="C0SALES",
        card_channel="C0APPROVALS",
        task="Email <!channel> about the prices",
        proposal=EVIL,
        author="assistant",
        created_at=NOW - 300,
        deadline=NOW + 300,
        timeout_seconds=600,
    )
    return replace(base, **changes)


def tool_call(number: int = 0, arguments: str | None = None, **changes: Any) -> ApprovalRecord:
    shown = arguments if arguments is not None else json.dumps({"to": "<@U0BOB> <!channel>", "body": EVIL}, indent=2)
    return approval(
        number, **{"kind": "tool_call", "tool_name": "send_email", "arguments": shown, "proposal": shown, **changes}
    )


def texts_of(node: Any, key: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every text object under node, with the key it sits under."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and isinstance(node.get("text"), str):
            return [(key, node)]
        for k, value in node.items():
            found.extend(texts_of(value, k))
    elif isinstance(node, list):
        for value in node:
            found.extend(texts_of(value, key))
    return found


def elements_of(view: dict[str, Any]) -> list[dict[str, Any]]:
    """Every interactive element: in actions blocks, and input elements."""
    blocks = view["blocks"]
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]] + [
        b["element"] for b in blocks if b["type"] == "input"
    ]


def assert_valid(view: dict[str, Any]) -> None:
    """Valid for slack_sdk's models and our own stricter checks, and within Slack's limits."""
    View(**copy.deepcopy(view)).to_dict()  # validates the view and every object under it
    for block in view["blocks"]:
        parsed = Block.parse(copy.deepcopy(block))
        assert parsed is not None
        parsed.to_dict()
    assert validate_view(view) is None, validate_view(view)
    assert 1 <= len(view["blocks"]) <= 100
    for key in ("title", "submit", "close"):
        if key in view:
            assert 1 <= len(view[key]["text"]) <= 24
    for block in view["blocks"]:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    for _, obj in texts_of(view["blocks"]):
        assert 1 <= len(obj["text"]) <= 3000
        if obj["type"] == "mrkdwn":
            assert obj["verbatim"] is True
    for element in elements_of(view):
        if element["type"] == "button":
            assert len(element["text"]["text"]) <= 75 and "confirm" not in element
        options = element.get("options", [])
        assert len(options) <= (100 if element["type"] == "multi_static_select" else 10)
        for option in options:
            assert option["text"]["type"] == "plain_text" and len(option["text"]["text"]) <= 75


def assert_inert(view: dict[str, Any]) -> None:
    """No live markup but our own: no mention, broadcast or link came from untrusted text."""
    for _, obj in texts_of(view["blocks"]):
        if obj["type"] == "mrkdwn":
            rest = OURS.sub("", obj["text"])
            assert "<" not in rest and ">" not in rest, obj["text"]
    dumped = json.dumps(view)
    assert "<!channel>" not in dumped and "<!here>" not in dumped and "<https://evil" not in dumped
