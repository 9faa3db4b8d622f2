"""A person's App Home and DMs as the stand-in shows them: what waits there, opening Homes."""

from __future__ import annotations

import json
from typing import Any

from bot.devslack.server import SlackStandIn
from tests.conftest import (
    ALICE,
    SALES,
    block_texts,
    has_buttons,
)


def approval_id_of(message: dict[str, Any]) -> str:
    """The approval a card (or a copy of it) shows: its buttons' value."""
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") in ("approval_approve", "approval_reject"):
                return str(element["value"])
    raise AssertionError(f"no approval buttons on {message.get('ts')}")


def home_blocks(slack: SlackStandIn, user: str) -> list[dict[str, Any]]:
    view = slack.home_view(user)
    return list((view or {}).get("blocks") or [])


def waiting_in_home(slack: SlackStandIn, user: str) -> set[str]:
    """Ids of the approvals a person's Home offers to decide (its Approve / Reject buttons)."""
    return {
        str(e.get("value"))
        for b in home_blocks(slack, user)
        if b.get("type") == "actions"
        for e in b.get("elements") or []
        if e.get("action_id") in ("approval_approve", "approval_reject")
    }


def home_text(slack: SlackStandIn, user: str) -> str:
    return block_texts({"blocks": home_blocks(slack, user)})


async def say(slack: SlackStandIn, text: str, *, user: str = ALICE, channel: str = SALES) -> str:
    result = await slack.send_command(user=user, channel=channel, text=text)
    assert result.status == 200
    return json.dumps(result.json) if result.json else result.body


async def open_homes(slack: SlackStandIn, *users: str) -> None:
    for user in users:
        result = await slack.open_home(user=user)
        assert result.status == 200
        await slack.wait_for(lambda u=user: slack.home_view(u), description=f"the Home of {user}")  # type: ignore[misc]


def dm_cards(slack: SlackStandIn, user: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages(slack.dm_channel(user)) if "Approv" in block_texts(m) or has_buttons(m)]
