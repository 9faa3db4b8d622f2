"""What a tool's call changes, declared to the OpenAI Agents and LangGraph adapters (`artifacts=`: by tool name, a
function of the call's arguments), on the ask, with each framework for real and a scripted model, against a real
worker: the API's answer names the declared artefact's digest; approved, the tool runs once; such a call's card
offers no edit (what runs is the call as made). A declaration that is not an artefact stops the ask, naming the
tool."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agent_approvals import ApprovalsClient
from agent_approvals.artifacts import ArtifactError, artifact_sha256, declared, message

from bot.devslack.server import SlackStandIn
from bot.slack.blocks.approval_card import FIXED_ARGUMENTS
from tests.conftest import BOB, Worker, block_texts
from tests.support.api import Client
from tests.support.frameworks import EMAIL, asking, mail_agent, thread
from tests.support.frameworks import openai_mailer as mailer
from tests.support.hitl import click, nth_card
from tests.support.homes import approval_id_of
from tests.support.lazy import lazy

pytestmark = pytest.mark.slow  # its tests pay the OpenAI Agents SDK's and LangGraph's imports (tests/support/slow.py)

with_langgraph = lazy("agent_approvals.integrations.langgraph")
DECLARED = {"send_email": lambda a: message(a["to"], a["body"], subject="prices")}


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


async def test_langgraph_passes_the_artifacts_a_tool_declares_and_offers_no_edit_of_them(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    """The graph runs the tool with its arguments: a call with a change on its ask is one whose arguments (and so
    its change) cannot be edited, though the tool allows an edit without artefacts."""
    bot, key = emailer
    sent: list[dict[str, str]] = []
    agent, _ = mail_agent(sent, "Sent.")
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        asked = with_langgraph.invoke_with_approvals(agent, asking("Tell Bob"), thread("d"), client=client,
                                                     artifacts=DECLARED)
        running = asyncio.create_task(asked)
        card = await nth_card(slack, 1)
        assert await carried(bot, key, card) == digest(EMAIL)
        assert FIXED_ARGUMENTS in block_texts(card)
        await click(slack, card, "approval_approve", user=BOB)
        await asyncio.wait_for(running, 20)
    assert sent == [EMAIL]


def test_a_declaration_that_is_not_an_artifact_names_the_tool() -> None:
    assert declared(DECLARED, "list_inbox", {}) == [] and declared(None, "send_email", EMAIL) == []
    assert declared({"send_email": lambda a: None}, "send_email", EMAIL) == []
    with pytest.raises(ArtifactError, match=r"send_email: artifacts\[0\].kind: must be one of"):
        declared({"send_email": lambda a: {"kind": "email"}}, "send_email", EMAIL)
