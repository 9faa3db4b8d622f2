"""What a tool's call changes, declared to the OpenAI Agents and LangGraph adapters (`artifacts=`: by tool name, a
function of the call's arguments), on the ask, with each framework for real and a scripted model, against a real
worker: the API's answer names the declared artefact's digest; approved, the tool runs once; in LangGraph an edited
call's artefact is made from the edited arguments. A declaration that is not an artefact stops the ask, naming the
tool."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from agent_approvals import ApprovalsClient
from agent_approvals.artifacts import ArtifactError, artifact_sha256, declared, message

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker
from tests.support.api import Client
from tests.support.frameworks import EMAIL, asking, mail_agent, thread
from tests.support.frameworks import openai_mailer as mailer
from tests.support.hitl import click, nth_card, open_modal
from tests.support.homes import approval_id_of
from tests.support.lazy import lazy

with_langgraph = lazy("agent_approvals.integrations.langgraph")
DECLARED = {"send_email": lambda a: message(a["to"], a["body"], subject="prices")}
CAROL_EMAIL = {**EMAIL, "to": "carol@example.com"}


async def carried(bot: Worker, key: str, card: dict[str, Any]) -> list[dict[str, Any]]:
    status, answer, _ = await Client(bot, key).call("GET", f"/api/v1/approvals/{approval_id_of(card)}")
    assert status == 200, answer
    found: list[dict[str, Any]] = answer.get("artifacts", [])
    return found


def digest(email: dict[str, str]) -> list[dict[str, Any]]:
    return [{"kind": "message", "sha256": artifact_sha256(message(email["to"], email["body"], subject="prices"))}]


async def test_openai_agents_passes_the_artifacts_a_tool_declares(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    from agent_approvals.integrations.openai_agents import run_with_approvals  # lazily: tests/support/frameworks.py
    from agents.testing import assistant_message

    bot, key = emailer
    sent: list[dict[str, str]] = []
    agent, _ = mailer(sent, [assistant_message("Sent.")])
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        running = asyncio.create_task(run_with_approvals(agent, "Tell Bob", client=client, artifacts=DECLARED))
        card = await nth_card(slack, 1)
        assert await carried(bot, key, card) == digest(EMAIL)
        await click(slack, card, "approval_approve", user=BOB)
        result = await asyncio.wait_for(running, 20)
    assert sent == [EMAIL] and result.final_output == "Sent."


async def test_langgraph_passes_the_artifacts_a_tool_declares_and_an_edits_own(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = emailer
    sent: list[dict[str, str]] = []
    agent, _ = mail_agent(sent, "Sent to Carol.")
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        asked = with_langgraph.invoke_with_approvals(agent, asking("Tell Bob"), thread("d"), client=client,
                                                     artifacts=DECLARED)
        running = asyncio.create_task(asked)
        first = await nth_card(slack, 1)
        assert await carried(bot, key, first) == digest(EMAIL)
        view = await open_modal(slack, first, user=BOB)
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps(CAROL_EMAIL)}}
        )
        again = await nth_card(slack, 2)  # the edited call, with the edited call's artefact
        assert await carried(bot, key, again) == digest(CAROL_EMAIL)
        await click(slack, again, "approval_approve", user=BOB)
        await asyncio.wait_for(running, 20)
    assert sent == [CAROL_EMAIL]


def test_a_declaration_that_is_not_an_artifact_names_the_tool() -> None:
    assert declared(DECLARED, "list_inbox", {}) == [] and declared(None, "send_email", EMAIL) == []
    assert declared({"send_email": lambda a: None}, "send_email", EMAIL) == []
    with pytest.raises(ArtifactError, match=r"send_email: artifacts\[0\].kind: must be one of"):
        declared({"send_email": lambda a: {"kind": "email"}}, "send_email", EMAIL)
