"""Step-up votes from a test: a person's passkey registered through the worker's pages with a software
authenticator, their Approve clicked on a card, the link they are told, and their confirmation on its page."""

from __future__ import annotations

import base64
import re
from typing import Any

import aiohttp

from bot.devslack.server import SlackStandIn
from bot.slack.blocks import ACTION_APPROVE
from tests.conftest import CAROL, SALES, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import nth_card
from tests.support.passkeys import Authenticator

ORIGIN = "http://localhost:8999"  # where people's browsers open the pages (the worker itself is on 127.0.0.1)
VOTE_LINK = re.compile(r"<(http://localhost:8999/step-up/vote/[A-Za-z0-9_-]+)\|")


async def post(http: aiohttp.ClientSession, url: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    sent = {"json": body} if body is not None else kwargs
    async with http.post(url, **sent) as answer:
        assert answer.content_type == "application/json", await answer.text()
        return answer.status, await answer.json()


async def enrol(worker: Worker, http: aiohttp.ClientSession, user: str, authenticator: Authenticator) -> str:
    """`user` registers a passkey of `authenticator` (confirmed first by one of theirs it holds, when they have one);
    its credential id."""
    path = (await worker.services.stepup.link(user)).removeprefix(ORIGIN)
    if await worker.services.store.passkeys.of(user):
        status, said = await vouch(http, worker, path, authenticator)
        assert status == 200, said
    status, options = await post(http, worker.url + path + "/options", {})
    assert status == 200, options
    made = authenticator.register(options, origin=ORIGIN)
    status, said = await post(http, worker.url + path, {"name": "laptop", "credential": made})
    assert status == 200, said
    return str(made["id"])


async def vouch(http: aiohttp.ClientSession, worker: Worker, path: str, authenticator: Authenticator,
                **made_wrong: Any) -> tuple[int, Any]:
    """A passkey of `authenticator` confirms the enrolment link `path` (its person has one already)."""
    status, options = await post(http, worker.url + path + "/confirm/options", {})
    assert status == 200, options
    return await post(http, worker.url + path + "/confirm",
                      {"credential": authenticator.assertion(options, **{"origin": ORIGIN, **made_wrong})})


async def asked(worker: Worker, slack: SlackStandIn, *, card: int = 1) -> tuple[Client, str, dict[str, Any]]:
    """A program asks about a tool call in SALES, where every Approve needs step-up; (client, approval id, its card:
    the `card`-th in #approvals, none when 0)."""
    await worker.services.store.settings.set(SALES, "step_up", "always", by=CAROL)
    client = Client(worker, (await new_key(worker, f"nightly-{card}")).key)
    status, answer = await client.ask(tool_ask())
    assert status == 201, answer
    return client, str(answer["id"]), await nth_card(slack, card) if card else {}


async def approve(slack: SlackStandIn, user: str, card: dict[str, Any]) -> str:
    """`user` clicks Approve on `card`; what they are told (ephemerally)."""
    before = len(slack.ephemerals(user))
    result = await slack.click(user=user, channel=card["channel"], ts=card["ts"], action_id=ACTION_APPROVE)
    assert result.status == 200
    told = await slack.wait_for(lambda: slack.ephemerals(user)[before:], description=f"{user}'s answer")
    return str(told[-1]["text"])


def vote_path(told: str) -> str:
    found = VOTE_LINK.search(told)
    assert found, told
    return found.group(1).removeprefix(ORIGIN)


async def confirm(http: aiohttp.ClientSession, worker: Worker, path: str, authenticator: Authenticator,
                  **made_wrong: Any) -> tuple[int, Any]:
    status, options = await post(http, worker.url + path + "/options", {})
    assert status == 200, options
    return await post(http, worker.url + path,
                      {"credential": authenticator.assertion(options, **{"origin": ORIGIN, **made_wrong})})


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
