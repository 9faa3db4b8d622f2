"""The local Teams (bot/devmsteams/) for tests: the `teams` fixture (a started `TeamsStandIn`, registered for every
test by tests/conftest.py as the `slack` one is), the environment that points a worker at it (`teams_env`), a
worker started with it (`start_teams_worker`, the `teams_worker` fixture), and readers of the cards it keeps
(`cards`, `card_of`, `card_for` an approval); and the `world` of a program asking in #sales, routed to a Teams
channel (`World`, its fixture, `world_policies` its POLICY_DIR), with readers of what a click is answered (`verbs`,
`notice_of`, `shown_notice`) and of a card's Revise form (`field_inputs`)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.core.key_files import ensure_keys_file
from bot.devmsteams import TeamsStandIn
from bot.devmsteams.simulate import deliver, invoke
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, SALES, Worker, bot_env, start_worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import until
from tests.support.policies import write_bundle
from tests.support.signing import ISSUER

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
DANA_OID = str(uuid.uuid4())  # a Teams-only approver (the Teams file names her)
APPROVE = "approve"


@dataclass
class World:
    """The worker, both stand-ins, the Teams channel the cards go to, and its people's Teams user ids."""

    worker: Worker
    slack: SlackStandIn
    teams: TeamsStandIn
    channel: str  # the Teams channel (the route of #sales)
    bob: str  # Bob (U0BOB in Slack: same email), an approver
    dana: str  # Dana, Teams only (teams:<DANA_OID>), an approver
    carol: str  # Carol (U0CAROL in Slack), no approver
    client: Client

    @property
    def dana_person(self) -> str:
        return f"teams:{DANA_OID}"

    async def ask(self, **extra: Any) -> str:
        status, asked = await self.client.ask(tool_ask(**extra))
        assert status == 201, asked
        return str(asked["id"])

    async def teams_card(self, approval_id: str) -> str:
        """The activity id of the approval's card in the Teams channel, once posted."""
        def posted() -> str | None:
            found = [a for a, card in cards(self.teams, self.channel) if approval_id in json.dumps(card)]
            return found[0] if found else None

        return str(await until(posted, what="the card in Teams"))

    def card_now(self, activity_id: str, user: str | None = None) -> dict[str, Any]:
        shown = (self.teams.view(self.channel, activity_id, user) if user else
                 next(a for a in self.teams.activities(self.channel) if a["id"] == activity_id))
        return card_of(shown)

    async def execute(self, activity_id: str, user: str, verb: str, approval_id: str,
                      **inputs: str) -> dict[str, Any]:
        """`user` clicks `verb` on the card as they see it (refreshed for them first, as Teams does)."""
        await self.teams.refresh(self.channel, activity_id, user)
        status, body = await self.teams.execute(self.channel, activity_id, user, verb, {"approval": approval_id},
                                                inputs or None)
        assert status == 200, body
        return dict(body)

    async def signed_invoke(self, activity_id: str, user: str, verb: str, approval_id: str) -> tuple[int, Any]:
        """An invoke Teams signs for `user` with a verb their card never showed them (a crafted client)."""
        state = self.teams.state
        conversation = state.conversation(self.channel)
        sent = invoke(state, conversation, state.members[user], self.teams.url, activity_id=activity_id,
                      action={"verb": verb}, data={"approval": approval_id}, trigger="manual")
        delivery = await deliver(self.teams.messaging_url, sent, self.teams.signin.bot_token())
        return delivery.status, delivery.body


def card_nodes(node: Any, *, skip: str = "") -> Iterator[dict[str, Any]]:
    """Every object in a card, depth first (`skip`: a key whose value is not entered, e.g. "refresh")."""
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key != skip:
                yield from card_nodes(value, skip=skip)
    elif isinstance(node, list):
        for item in node:
            yield from card_nodes(item, skip=skip)


def verbs(card: dict[str, Any]) -> set[str]:
    """The `Action.Execute` verbs a card shows (its refresh aside)."""
    return {str(n["verb"]) for n in card_nodes(card, skip="refresh")
            if n.get("type") == "Action.Execute" and n.get("verb")}


def field_inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Revise form's inputs of one argument each ("arg_<n>"), as the card prefills them, by argument (its
    label's first word)."""
    return {str(n["label"]).split(" ")[0]: n for n in card_nodes(card)
            if str(n.get("type", "")).startswith("Input.") and str(n.get("id", "")).startswith("arg_")}


def notice_of(answer: dict[str, Any]) -> str:
    """The text of an invoke's answer: the card's words, or a message."""
    return json.dumps(answer.get("value"), ensure_ascii=False)


def shown_notice(card: dict[str, Any]) -> str:
    """The notice on top of a card as a person reads it (the card's escapes undone)."""
    blocks = [b for b in card.get("body") or [] if b.get("type") == "TextBlock" and b.get("color") == "Attention"]
    return re.sub(r"\\(.)", r"\1", str(blocks[0]["text"])) if blocks else ""


@pytest.fixture
def world_policies() -> dict[str, str]:
    """The files of the `world` worker's POLICY_DIR ({name: text}; none: no POLICY_DIR). A test module overrides it."""
    return {}


@pytest.fixture
def world_env() -> dict[str, str]:
    """More of the `world` worker's environment (a MODEL_CONFIG, an OUTBOX_DIR...). A test module overrides it."""
    return {}


@pytest.fixture
async def world(slack: SlackStandIn, teams: TeamsStandIn, redis_url: str, tmp_path: Path,
                world_policies: dict[str, str], world_env: dict[str, str]) -> AsyncIterator[World]:
    """A worker serving Slack and Teams: #sales routed to a Teams channel of Bob, Dana (Teams only) and Carol, its
    approvers Bob and Dana, signed receipts, an API key asking in #sales; `world_policies` its POLICY_DIR, `world_env`
    more of its environment."""
    bob = teams.add_member(name="Bob Brown", email="bob@example.com")
    dana = teams.add_member(name="Dana Diaz", email="dana@contoso.example", object_id=DANA_OID)
    carol = teams.add_member(name="Carol Chen", email="carol@example.com")
    channel = teams.add_conversation("channel", "Approvals", [bob, dana, carol])
    teams_file = tmp_path / "teams.yaml"
    teams_file.write_text(f"people:\n  - {{email: dana@contoso.example, object_id: {DANA_OID}, name: Dana}}\n"
                          f"routes:\n  {SALES}: {{conversation: \"{channel}\"}}\n")
    keys = tmp_path / "keys" / "signing-keys.json"
    ensure_keys_file(keys)
    env = {"TEAMS_FILE": str(teams_file), "SIGNING_KEYS_FILE": str(keys), "RECEIPT_ISSUER": ISSUER, **world_env}
    if world_policies:
        env["POLICY_DIR"] = str(write_bundle(tmp_path / "policies", world_policies))
    worker = await start_teams_worker(slack, teams, redis_url, model_config=None, **env)
    try:
        assert await teams.install(channel) == 200
        store = worker.services.store
        assert await store.settings.set(SALES, "approvers", f"{BOB},teams:{DANA_OID}", by="operator") is None
        client = Client(worker, (await new_key(worker)).key)
        yield World(worker, slack, teams, channel, bob, dana, carol, client)
    finally:
        await worker.stop()
