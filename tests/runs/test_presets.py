"""Team presets: each one end to end through the bot (the offline demo model, or a scripted model),
code execution approval, the offline demo model driving every preset, and bad input."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from agent_approvals.approver import ApprovalRequest, Decision
from agent_approvals.integrations.autogen.input_func import make_input_func
from agent_approvals.modes import InputPolicy, ModeGate
from autogen_agentchat.messages import BaseChatMessage, TextMessage

from bot.devslack.server import SlackStandIn
from bot.runs.demo_model import DemoChatCompletionClient
from bot.runs.teams import HUMAN, PLAN_REVIEWER, PRESETS, TeamOptions, build_team, plan_selector, reviewer_of
from bot.slack.blocks import help_text
from tests.conftest import BOB, SALES, find_header
from tests.support.hitl import (
    DEMO,
    audit_events,
    bot,
    buttons,
    cards,
    click,
    command,
    decided,
    finished,
    nth_card,
    open_modal,
    reject,
    replay,
    start,
    text_of,
)

TASK = "Draft an email to our top customers about the price change"


async def test_plan_checkpoints_the_plan_then_the_result(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    async with bot(slack, redis_url, tmp_path, DEMO) as worker:
        run_id = await start(slack, f"--team plan {TASK}")
        plan = await nth_card(slack, 1)
        assert "Proposal from planner" in text_of(plan) and "1. Collect what the task needs" in text_of(plan)
        view = await open_modal(slack, plan, user=BOB)
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": "add a legal review"}}
        )
        revised = await nth_card(slack, 2)
        assert "4. Apply the reviewer's note: “add a legal review”" in text_of(revised)
        await click(slack, revised, "approval_approve", user=BOB)  # the plan is approved: the executor works
        result = await nth_card(slack, 3)
        shown = text_of(result)
        assert "Proposal from executor" in shown and "Carried out the approved plan" in shown
        assert "4. Apply the reviewer's note: “add a legal review”. Done." in shown
        await click(slack, result, "approval_approve", user=BOB)
        run = await finished(worker, run_id)
        assert run.status == "completed" and run.preset == "plan"
        header = await slack.wait_for(lambda: find_header(slack, SALES, run_id))
        assert "team `plan`" in text_of(header) and "mode `always`" in text_of(header)


async def test_research_group_chat_writes_from_notes(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    async with bot(slack, redis_url, tmp_path, DEMO) as worker:
        run_id = await start(slack, f"--team research {TASK}")
        card = await nth_card(slack, 1)
        assert "Proposal from writer" in text_of(card) and "Subject:" in text_of(card)
        (approval,) = await worker.services.store.approvals.of_run(run_id)
        checkpoint = await worker.services.store.approvals.checkpoint(approval.id)
        assert checkpoint is not None and "Research notes for" in checkpoint  # the researcher spoke first
        await reject(slack, card, user=BOB)
        assert (await finished(worker, run_id)).status == "rejected"


async def test_email_with_the_demo_model_writes_one_file_to_the_outbox(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    async with bot(slack, redis_url, tmp_path, DEMO) as worker:
        run_id = await start(slack, "--team email Tell dana@example.com about the price change")
        card = await nth_card(slack, 1)
        assert "`send_email`" in text_of(card) and "dana@example.com" in text_of(card)
        await click(slack, card, "approval_approve", user=BOB)
        done = await nth_card(slack, 2)
        assert "written to the outbox" in text_of(done)
        await click(slack, done, "approval_approve", user=BOB)
        assert (await finished(worker, run_id)).status == "completed"
        (sent,) = (tmp_path / "outbox").glob("*.eml")
        assert "To: dana@example.com" in sent.read_text()


CODE = "Here you go:\n```python\nprint('hello from the code')\nopen('ran.txt', 'w').write('yes')\n```"


@pytest.mark.slow
async def test_code_runs_only_after_approval(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    model = replay(CODE, "done")
    async with bot(slack, redis_url, tmp_path, model, ENABLE_CODE_EXECUTION="true", CODE_TIMEOUT="20") as worker:
        run_id = await start(slack, "--team code Say hello")
        card = await nth_card(slack, 1)
        shown = text_of(card)
        assert "Code needs approval to run" in shown and "print('hello from the code')" in shown
        assert "```python" not in shown and "time limit 20s" in shown
        work_dir = tmp_path / "code" / run_id
        assert not (work_dir / "ran.txt").exists()
        await click(slack, card, "approval_approve", user=BOB)
        output = await nth_card(slack, 2)
        assert "hello from the code" in text_of(output) and "Proposal from executor" in text_of(output)
        assert (work_dir / "ran.txt").read_text() == "yes"
        await click(slack, output, "approval_approve", user=BOB)
        assert (await finished(worker, run_id)).status == "completed"


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_rejected_code_does_not_run(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    async with bot(slack, redis_url, tmp_path, replay(CODE), ENABLE_CODE_EXECUTION="true") as worker:
        run_id = await start(slack, "--team code Say hello")
        card = await nth_card(slack, 1)
        view = await open_modal(slack, card, user=BOB)
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": "reject: no files, please"}}
        )
        run = await finished(worker, run_id)
        assert run.status == "rejected" and run.reason == "no files, please"
        assert not (tmp_path / "code" / run_id / "ran.txt").exists()
        assert len(cards(slack)) == 1 and not buttons(await decided(slack, card))


async def test_code_team_is_off_unless_the_operator_enables_it(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    async with bot(slack, redis_url, tmp_path, replay(CODE)) as worker:
        reply = await command(slack, "--team code Say hello")
        assert "ENABLE_CODE_EXECUTION=true" in reply and "Nothing started" in reply
        assert "No runs" in await command(slack, "status")
        assert not await audit_events(worker, "run_started")
        helped = await command(slack, "help teams")
        assert "`code`" in helped and "(off here: ENABLE_CODE_EXECUTION)" in helped


async def test_unknown_team_lists_the_valid_ones(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    async with bot(slack, redis_url, tmp_path, DEMO) as worker:
        reply = await command(slack, "--team reserch Find facts")
        assert "Unknown team `reserch`" in reply and "Did you mean `research`?" in reply
        assert all(f"`{name}`" in reply for name in PRESETS) and "Nothing started" in reply
        assert not await audit_events(worker, "run_started")
        helped = await command(slack, "help teams")
        assert all(f"`{name}`" in helped for name in PRESETS)
        assert all(f"`{mode}`" in helped for mode in ("always", "terminate", "never", "policy"))


# presets without the bot -----------------------------------------------------------------------------
class Approves:
    def __init__(self, *outcomes: tuple[str, str]) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[ApprovalRequest] = []

    async def request(self, request: ApprovalRequest, token: object) -> Decision:
        self.requests.append(request)
        outcome, feedback = self.outcomes.pop(0) if self.outcomes else ("approved", "")
        return Decision(request.approval_id, outcome, "U0BOB", feedback)  # type: ignore[arg-type]

    async def auto_approved(self, request: ApprovalRequest, *, rule: str) -> None:
        return None

    async def auto_rejected(self, request: ApprovalRequest, *, rule: str) -> None:
        return None


def emails_in(folder: str) -> list[Path]:
    return list(Path(folder).glob("*.eml"))


EACH_PRESET = [pytest.param(p, marks=pytest.mark.slow) if p == "code" else p for p in PRESETS]  # code: a process


@pytest.mark.parametrize("preset", EACH_PRESET)
async def test_the_demo_model_drives_every_preset_offline(preset: str) -> None:
    approver = Approves()
    gate = ModeGate(approver, InputPolicy())
    with tempfile.TemporaryDirectory() as scratch:
        options = TeamOptions(outbox_dir=f"{scratch}/out", code_execution=True, code_work_dir=f"{scratch}/code")
        team = build_team(
            preset,
            model_client=DemoChatCompletionClient(),
            input_func=make_input_func(gate),
            approver=gate,
            options=options,
        )
        result = await team.run(task="Write to erin@example.com about the price change")
        kinds = [r.kind for r in approver.requests]
        spoken = [m.source for m in result.messages if isinstance(m, BaseChatMessage)]
        assert result.stop_reason == "human said APPROVE"
        expected = {
            "writer": (["message"], ["user", "assistant", HUMAN]),
            "plan": (["message", "message"], ["user", "planner", PLAN_REVIEWER, "executor", HUMAN]),
            "research": (["message"], ["user", "researcher", "writer", HUMAN]),
            "email": (["tool_call", "message"], ["user", "drafter", HUMAN]),
            "code": (["code", "message"], ["user", "coder", "executor", HUMAN]),
        }[preset]
        assert (kinds, spoken) == expected
        if preset == "email":
            assert json.loads(approver.requests[0].arguments)["to"] == "erin@example.com"
            assert len(emails_in(f"{scratch}/out")) == 1
        if preset == "code":
            assert "```python" in approver.requests[0].proposal and "Words:" in approver.requests[1].proposal


@pytest.mark.parametrize("preset", EACH_PRESET)
async def test_presets_are_deterministic_and_their_state_loads_into_a_fresh_team(preset: str) -> None:
    approver = Approves(("revised", "shorter"))
    options = TeamOptions(outbox_dir=tempfile.mkdtemp(), code_execution=True, code_work_dir=tempfile.mkdtemp())
    states: list[object] = []

    def fresh() -> object:
        gate = ModeGate(approver)
        return build_team(
            preset,
            model_client=DemoChatCompletionClient(),
            input_func=make_input_func(gate),
            approver=gate,
            options=options,
        )

    first, second = fresh(), fresh()
    assert [a.name for a in first._participants] == [a.name for a in second._participants]  # type: ignore[attr-defined]
    await first.run(task="Write to erin@example.com about the price change")  # type: ignore[attr-defined]
    states.append(await first.save_state())  # type: ignore[attr-defined]
    await second.load_state(states[0])  # type: ignore[attr-defined]
    assert await second.save_state() == states[0]  # type: ignore[attr-defined]


def test_plan_selector_routes_from_the_conversation_alone() -> None:
    def said(*pairs: tuple[str, str]) -> list[BaseChatMessage]:
        return [TextMessage(content=text, source=source) for source, text in pairs]

    assert plan_selector(said(("user", "task"))) == "planner"
    assert plan_selector(said(("user", "task"), ("planner", "1. a"))) == PLAN_REVIEWER
    assert plan_selector(said(("user", "task"), ("planner", "1. a"), (PLAN_REVIEWER, "more steps"))) == "planner"
    assert plan_selector(said(("user", "task"), ("planner", "1. a"), (PLAN_REVIEWER, "APPROVE"))) == "executor"
    assert plan_selector(said(("user", "task"), ("planner", "1. a"), (PLAN_REVIEWER, "continue"))) == "executor"
    assert plan_selector(said(("user", "t"), ("planner", "1"), (PLAN_REVIEWER, "APPROVE"), ("executor", "r"))) == HUMAN
    assert plan_selector(said(("user", "t"), ("executor", "r"), (HUMAN, "fix it"))) == "executor"
    # a decision handed back in as a new task (a worker continuing the run) counts for its stage
    assert plan_selector(said(("user", "t"), ("planner", "1"), ("user", "APPROVE"))) == "executor"


def test_help_lists_teams_with_what_they_do_and_fits_slack() -> None:
    text = help_text(presets={name: preset.description for name, preset in PRESETS.items()})
    assert "`plan`: a planner proposes steps" in text and "`policy`:" in text
    assert len(text) < 3000


async def test_a_plan_approval_resumed_on_a_fresh_team_goes_on_to_the_executor() -> None:
    """What a worker continuing an orphaned run does: load the checkpoint, hand the decision back in."""
    first = Approves(("cancelled", ""))
    holder: dict[str, object] = {}

    async def save_state() -> object:
        return await holder["team"].save_state()  # type: ignore[attr-defined]

    holder["team"] = build_team(
        "plan", model_client=DemoChatCompletionClient(), input_func=make_input_func(first, save_state=save_state)
    )  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):  # the first worker "dies" while the plan waits for its reviewer
        await holder["team"].run(task=TASK)  # type: ignore[attr-defined]
    (asked,) = first.requests
    assert asked.author == "planner" and asked.checkpoint is not None

    later = Approves(("approved", ""))
    team = build_team("plan", model_client=DemoChatCompletionClient(), input_func=make_input_func(later))
    await team.load_state(json.loads(asked.checkpoint))
    decision = TextMessage(content="APPROVE", source=reviewer_of("plan", asked.author))
    result = await team.run(task=decision)
    spoken = [m.source for m in result.messages if isinstance(m, BaseChatMessage)]
    assert spoken == [PLAN_REVIEWER, "executor", HUMAN] and result.stop_reason == "human said APPROVE"
    assert reviewer_of("writer", "assistant") == HUMAN and reviewer_of("plan", "executor") == HUMAN
