"""The bot's own teams on a scripted or the demo model: model resolution, revising until the human's verdict,
termination only on it."""

from __future__ import annotations

import json
from pathlib import Path

from agent_approvals.integrations.autogen.input_func import make_input_func
from autogen_agentchat.messages import TextMessage
from autogen_ext.models.replay import ReplayChatCompletionClient

from bot.runs.demo_model import DemoChatCompletionClient
from bot.runs.models import describe_model, load_model_client, resolve_model_config
from bot.runs.teams import HUMAN, HumanVerdictTermination, build_team
from tests.support.approver import ScriptedApprover


def test_model_resolution(tmp_path: Path) -> None:
    assert resolve_model_config(model_config_path=None, openai_api_key=None)["provider"].endswith(
        "DemoChatCompletionClient"
    )
    openai = resolve_model_config(model_config_path=None, openai_api_key="sk-x")
    assert "sk-x" not in json.dumps(openai) and describe_model(openai) == "gpt-4o-mini (OpenAI)"
    path = tmp_path / "m.yaml"
    path.write_text(
        "provider: autogen_ext.models.replay.ReplayChatCompletionClient\nconfig:\n  chat_completions: [hi]\n"
    )
    client = load_model_client(resolve_model_config(model_config_path=str(path), openai_api_key="sk-x"))
    assert isinstance(client, ReplayChatCompletionClient)
    assert isinstance(
        load_model_client({"provider": "bot.runs.demo_model.DemoChatCompletionClient", "config": {}}),
        DemoChatCompletionClient,
    )


async def test_team_revises_then_stops_only_on_the_humans_verdict() -> None:
    approver = ScriptedApprover(("revised", "shorter"), ("approved", ""))
    model = ReplayChatCompletionClient(["Reply APPROVE to send. Draft one.", "Draft two, shorter."])
    team = build_team(
        "writer", model_client=model, input_func=make_input_func(approver, save_state=lambda: team.save_state())
    )
    result = await team.run(task="Write the memo")
    spoken = [(m.source, m.to_text()) for m in result.messages if isinstance(m, TextMessage)]
    assert spoken == [
        ("user", "Write the memo"),
        ("assistant", "Reply APPROVE to send. Draft one."),  # an assistant saying APPROVE does not end the run
        (HUMAN, "shorter"),
        ("assistant", "Draft two, shorter."),
        (HUMAN, "APPROVE"),
    ]
    assert [r.proposal for r in approver.requests] == ["Reply APPROVE to send. Draft one.", "Draft two, shorter."]
    checkpoint = approver.requests[1].checkpoint
    assert checkpoint is not None and "Draft one" in checkpoint  # team state saved with the approval


async def test_termination_ignores_other_sources() -> None:
    condition = HumanVerdictTermination(sources=[HUMAN])
    assert await condition([TextMessage(content="APPROVE", source="assistant")]) is None
    assert await condition([TextMessage(content="Looks good, APPROVE", source=HUMAN)]) is None
    stop = await condition([TextMessage(content="REJECT: too pushy", source=HUMAN)])
    assert stop is not None and condition.terminated


async def test_demo_model_applies_feedback() -> None:
    approver = ScriptedApprover(("revised", "make it formal and short"), ("approved", ""))
    team = build_team("writer", model_client=DemoChatCompletionClient(), input_func=make_input_func(approver))
    await team.run(task="Draft an email to our top 10 customers about the price change")
    first, second = (r.proposal for r in approver.requests)
    assert first.startswith("Subject: An email to our top 10 customers about the price change")
    assert "Dear valued partner" in second and "“make it formal and short”" in second and "Dear" not in first
