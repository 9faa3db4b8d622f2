"""The local Teams (bot/devteams/) for tests: the `teams` fixture (a started `TeamsStandIn`, registered for every
test by tests/conftest.py as the `slack` one is), the environment that points a worker at it (`teams_env`), a
worker started with it (`start_teams_worker`, the `teams_worker` fixture), and readers of the cards it keeps
(`cards`, `card_of`, `card_for` an approval)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.devslack.server import SlackStandIn
from bot.devteams import TeamsStandIn
from tests.conftest import Worker, bot_env, start_worker
from tests.support.hitl import until

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


@pytest.fixture
def teams() -> Iterator[TeamsStandIn]:
    """A local Teams serving on its own thread: its app id, secret and home tenant made up for this test."""
    standin = TeamsStandIn()
    standin.start()
    yield standin
    standin.stop()


def teams_env(teams: TeamsStandIn) -> dict[str, str]:
    """A worker's TEAMS_* for this stand-in: its app id, tenant, the local Bot Connector, and the app's secret (the
    worker trades it at the stand-in's token endpoint for the bearer of its Bot Connector calls)."""
    return {
        "TEAMS_APP_ID": teams.app_id,
        "TEAMS_TENANT_ID": teams.tenant_id,
        "TEAMS_CONNECTOR_URL": teams.url,
        "TEAMS_APP_PASSWORD": teams.app_password,
    }


async def start_teams_worker(slack: SlackStandIn, teams: TeamsStandIn, redis_url: str, *,
                             model_config: Path | None = None, **extra: str) -> Worker:
    """A worker (tests/conftest.py's, with `bot_env`) serving Teams at `/teams/messages` too: the stand-in delivers
    there, Slack to `/slack/events`. `extra` adds to (or replaces) the environment."""
    env = bot_env(slack=slack, redis_url=redis_url, model_config=model_config, **{**teams_env(teams), **extra})
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    teams.messaging_url = worker.url + "/teams/messages"
    return worker


@pytest.fixture
async def teams_worker(slack: SlackStandIn, teams: TeamsStandIn, redis_url: str) -> AsyncIterator[Worker]:
    """A worker (no model) pointed at both stand-ins."""
    worker = await start_teams_worker(slack, teams, redis_url)
    yield worker
    await worker.stop()


def card_of(activity: dict[str, Any]) -> dict[str, Any]:
    """The Adaptive Card an activity carries (AssertionError when none)."""
    cards = [a["content"] for a in activity.get("attachments") or () if a.get("contentType") == ADAPTIVE_CARD]
    assert cards, f"no Adaptive Card in {activity}"
    return dict(cards[0])


def cards(teams: TeamsStandIn, conversation_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The bot's cards in a conversation as they stand now: (activity id, card), oldest first."""
    return [(a["id"], card_of(a)) for a in teams.activities(conversation_id) if a.get("attachments")]


def names_approval(element: Any, approval_id: str) -> bool:
    """Whether a card (or a part of it) holds an `Action.Execute` whose `data` names `approval_id` (cards.py's
    `{"approval": <id>}`), its refresh included."""
    if isinstance(element, dict):
        data = element.get("data")
        if element.get("type") == "Action.Execute" and isinstance(data, dict) and data.get("approval") == approval_id:
            return True
        return any(names_approval(value, approval_id) for value in element.values())
    return isinstance(element, list) and any(names_approval(item, approval_id) for item in element)


def card_for(teams: TeamsStandIn, conversation_id: str, approval_id: str) -> tuple[str, dict[str, Any]]:
    """The bot's one card of `approval_id` in a conversation, as it stands now: (activity id, card)."""
    found = [(activity_id, card) for activity_id, card in cards(teams, conversation_id)
             if names_approval(card, approval_id)]
    assert len(found) == 1, f"{len(found)} cards of {approval_id} in {conversation_id}"
    return found[0]


async def click(teams: TeamsStandIn, conversation_id: str, member: str, verb: str, approval_id: str,
                **inputs: str) -> dict[str, Any]:
    """`member` clicks `verb` on the approval's card in a conversation, once it is posted, as they see it (refreshed
    for them first, as Teams does); the invoke's answer (200)."""
    def posted() -> str | None:
        found = [a for a, card in cards(teams, conversation_id) if names_approval(card, approval_id)]
        return found[0] if found else None

    activity = str(await until(posted, what=f"the card of {approval_id} in Teams"))
    await teams.refresh(conversation_id, activity, member)
    status, body = await teams.execute(conversation_id, activity, member, verb, {"approval": approval_id},
                                       inputs or None)
    assert status == 200, body
    return dict(body)
