"""Human input modes end to end (the real Bolt app, Redis, a scripted model), and the gate's rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_approvals.approver import AUTO, ApprovalRequest, Decision
from agent_approvals.modes import InputPolicy, ModeGate, matched_risk_word, risk_words_setting

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, SALES, block_texts, find_header, thread_of
from tests.support.hitl import (
    DEMO,
    audit_events,
    bot,
    buttons,
    cards,
    click,
    command,
    current,
    finished,
    nth_card,
    open_modal,
    reject,
    replay,
    start,
    text_of,
)

TASK = "Draft a memo to the team about the new office hours"


async def test_always_is_the_default_every_turn_is_a_card(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    async with bot(slack, redis_url, tmp_path, replay("Memo v1 TERMINATE")) as worker:
        assert "`mode`: always" in await command(slack, "config")
        run_id = await start(slack, TASK)
        card = await nth_card(slack, 1)  # even an assistant saying TERMINATE is shown to a human
        assert "Memo v1 TERMINATE" in text_of(card)
        await click(slack, card, "approval_approve", user=BOB)
        run = await finished(worker, run_id)
        assert run.status == "completed" and run.mode == "always"
        assert not await audit_events(worker, "auto_approved", "auto_rejected")


async def test_terminate_continues_until_terminate_then_asks(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    model = replay("Memo v1", "Memo v2", "Memo v3, final. TERMINATE")
    async with bot(slack, redis_url, tmp_path, model) as worker:
        assert "now terminate" in await command(slack, "config mode terminate")
        run_id = await start(slack, TASK)
        card = await nth_card(slack, 1)
        shown = text_of(card)
        assert "Memo v3, final. TERMINATE" in shown and "the assistant said TERMINATE" in shown
        assert len(cards(slack)) == 1  # the two drafts before were answered "continue" automatically
        autos = await audit_events(worker, "auto_approved")
        assert [a["rule"] for a in autos] == [
            "mode terminate: automatic reply 1 of 10",
            "mode terminate: automatic reply 2 of 10",
        ]
        assert all(a["run"] == run_id and a["by"] == "auto" for a in autos)
        await click(slack, card, "approval_approve", user=BOB)
        run = await finished(worker, run_id)
        assert run.status == "completed" and run.mode == "terminate"


async def test_terminate_asks_after_max_auto_replies_and_the_count_restarts(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    model = replay("Memo v1", "Memo v2", "Memo v3", "Memo v4")
    async with bot(slack, redis_url, tmp_path, model) as worker:
        await command(slack, "config max_auto_replies 1")
        run_id = await start(slack, f"--mode terminate {TASK}")  # the run's flag; the channel stays `always`
        first = await nth_card(slack, 1)
        assert "Memo v2" in text_of(first) and "1 automatic reply in a row (max_auto_replies 1)" in text_of(first)
        view = await open_modal(slack, first, user=BOB)
        await slack.submit_view(user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": "shorter"}})
        second = await nth_card(slack, 2)  # v3 was answered automatically again: the count restarted
        assert "Memo v4" in text_of(second)
        await click(slack, second, "approval_approve", user=BOB)
        assert (await finished(worker, run_id)).status == "completed"
        assert len(await audit_events(worker, "auto_approved")) == 2


@pytest.mark.usefixtures("no_sessions")
async def test_never_asks_nobody_and_max_auto_replies_ends_the_run(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    async with bot(slack, redis_url, tmp_path, replay("Memo v1", "Memo v2", "Memo v3")) as worker:
        await command(slack, "config max_auto_replies 2")
        run_id = await start(slack, f"--mode never {TASK}")
        run = await finished(worker, run_id)
        assert run.status == "completed"
        assert "max_auto_replies (2) reached" in run.reason and "approved automatically" in run.reason
        assert not cards(slack)  # nobody was asked
        rules = [a["rule"] for a in await audit_events(worker, "auto_approved")]
        assert rules == [
            "mode never: automatic reply 1 of 2",
            "mode never: automatic reply 2 of 2",
            "mode never: max_auto_replies (2) reached, so the run ends",
        ]
        header = await slack.wait_for(lambda: find_header(slack, SALES, run_id))
        await slack.wait_for(lambda: "Memo v3" in block_texts({"blocks": _thread_blocks(slack, header["ts"])}))


def _thread_blocks(slack: SlackStandIn, ts: str) -> list[object]:
    return [b for m in thread_of(slack, SALES, ts) for b in m.get("blocks") or []]


async def test_policy_approves_plain_steps_and_audits_the_rule(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    async with bot(slack, redis_url, tmp_path, replay("Memo: the office opens at 9 from Monday.")) as worker:
        await command(slack, "config mode policy")
        run_id = await start(slack, TASK)
        run = await finished(worker, run_id)
        assert run.status == "completed" and "the message matched no risk word" in run.reason
        assert not cards(slack)
        (auto,) = await audit_events(worker, "auto_approved")
        assert auto["rule"] == "mode policy: the message matched no risk word" and auto["kind"] == "message"
        audit = await command(slack, "audit")
        assert "auto approved" in audit and run_id in audit


async def test_policy_asks_for_risk_words_set_per_channel(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    async with bot(slack, redis_url, tmp_path, replay("We will DEPLOY the new site tonight.")) as worker:
        await command(slack, "config mode policy")
        reply = await command(slack, "config risk_words refund, deploy")
        assert "refund, deploy" in reply
        shown = await command(slack, "config")
        assert "`mode`: policy" in shown and "`risk_words`: refund, deploy" in shown
        run_id = await start(slack, TASK)
        card = await nth_card(slack, 1)
        assert "matched the risk word “deploy”" in text_of(card)
        await reject(slack, card, user=BOB)
        assert (await finished(worker, run_id)).status == "rejected"
        assert not await audit_events(worker, "auto_approved")


async def test_policy_checkpoint_every_asks_after_automatic_steps(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    async with bot(slack, redis_url, tmp_path, DEMO) as worker:
        await command(slack, "config mode policy")
        await command(slack, "config checkpoint_every 1")
        run_id = await start(slack, f"--team plan {TASK}")
        card = await nth_card(slack, 1)  # the plan went through on its own; the result is a checkpoint
        shown = text_of(card)
        assert "Carried out the approved plan" in shown
        assert "checkpoint: 1 automatic step in a row (checkpoint_every 1)" in shown
        (auto,) = await audit_events(worker, "auto_approved")
        assert "Plan for" not in auto["rule"] and auto["rule"].startswith("mode policy")
        await click(slack, card, "approval_approve", user=BOB)
        assert (await finished(worker, run_id)).status == "completed"


async def test_bad_modes_and_settings_change_nothing(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    async with bot(slack, redis_url, tmp_path, replay("unused")) as worker:
        reply = await command(slack, "--mode sometimes Draft it")
        assert "Unknown mode `sometimes`" in reply and "`always`, `terminate`, `never`, `policy`" in reply
        assert "Nothing started" in reply
        reply = await command(slack, "config mode autopilot")
        assert "Unknown mode `autopilot`" in reply and "Setting unchanged" in reply
        reply = await command(slack, "config max_auto_replies lots")
        assert "0 to 100" in reply and "Setting unchanged" in reply
        reply = await command(slack, "config checkpoint_every -1")
        assert "Setting unchanged" in reply
        assert "No runs" in await command(slack, "status")
        assert "`mode`: always" in await command(slack, "config")
        assert not await audit_events(worker, "settings_changed", "run_started")
        assert not slack.messages(APPROVALS)


async def test_decisions_on_cards_in_modes_are_shown_with_their_rule(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    async with bot(slack, redis_url, tmp_path, replay("Refund the customer", "Refund them now")) as worker:
        await command(slack, "config mode policy")
        run_id = await start(slack, TASK)
        card = await nth_card(slack, 1)
        await click(slack, card, "approval_approve", user=BOB)
        await finished(worker, run_id)
        await slack.wait_for(lambda: "approval_approve" not in buttons(current(slack, card)))
        decided = text_of(current(slack, card))
        assert f"*Approved* by <@{BOB}>" in decided and "matched the risk word “refund”" in decided


# the gate itself --------------------------------------------------------------------------------
class Recorder:
    def __init__(self, *decisions: str) -> None:
        self.decisions = list(decisions)
        self.asked: list[ApprovalRequest] = []
        self.auto: list[tuple[str, str]] = []

    async def request(self, request: ApprovalRequest, token: object) -> Decision:
        self.asked.append(request)
        return Decision(request.approval_id, self.decisions.pop(0), "U0BOB", "why not")  # type: ignore[arg-type]

    async def auto_approved(self, request: ApprovalRequest, *, rule: str) -> None:
        self.auto.append(("approved", rule))

    async def auto_rejected(self, request: ApprovalRequest, *, rule: str) -> None:
        self.auto.append(("rejected", rule))


def message(text: str, n: int = 0) -> ApprovalRequest:
    return ApprovalRequest(approval_id=f"approval-{n:04d}", proposal=text, author="assistant")


def tool_call(name: str, arguments: str, n: int = 0) -> ApprovalRequest:
    return ApprovalRequest(
        approval_id=f"tool-{n:04d}", proposal=arguments, author="drafter", kind="tool_call", tool_name=name,
        arguments=arguments,
    )  # fmt: skip


def test_risk_words_match_words_phrases_and_tool_names() -> None:
    words = ("deploy", "drop table", "send email")
    assert matched_risk_word("Deploying to production", words) == "deploy"
    assert matched_risk_word("DROP   TABLE users;", words) == "drop table"
    assert matched_risk_word("send_email {}", words) == "send email"
    assert matched_risk_word("redeploy later", words) is None  # only at the start of a word
    assert matched_risk_word("a table to drop", words) is None
    assert risk_words_setting(None) == risk_words_setting("default") and "payment" in risk_words_setting(None)
    assert risk_words_setting("none") == () and risk_words_setting("a, b ,a") == ("a", "b")


async def test_gate_policy_counts_checkpoints_and_tool_calls() -> None:
    approver = Recorder("approved", "approved")
    gate = ModeGate(approver, InputPolicy(mode="policy", checkpoint_every=2))
    first = await gate.request(message("step one", 1), None)
    second = await gate.request(tool_call("lookup", '{"q": "x"}', 2), None)
    assert first.automatic and second.automatic and first.reply_text().startswith("APPROVE")
    third = await gate.request(message("step three", 3), None)  # the checkpoint: a human
    assert (
        not third.automatic and approver.asked[0].why == "checkpoint: 2 automatic steps in a row (checkpoint_every 2)"
    )
    after = [await gate.request(message(f"step {n}", n), None) for n in (4, 5, 6)]  # the count restarted
    assert [d.automatic for d in after] == [True, True, False] and len(approver.asked) == 2
    assert [rule for _, rule in approver.auto] == [
        "mode policy: the message matched no risk word",
        "mode policy: the tool call matched no risk word",
        "mode policy: the message matched no risk word",
        "mode policy: the message matched no risk word",
    ]


async def test_gate_never_refuses_tools_and_code_and_carries_a_no_to_the_proxy() -> None:
    approver = Recorder()
    gate = ModeGate(approver, InputPolicy(mode="never"))
    refused = await gate.request(tool_call("send_email", "{}"), None)
    assert refused.outcome == "rejected" and refused.decided_by == AUTO and not approver.asked
    code = ApprovalRequest(approval_id="code-0001", proposal="```python\nprint(1)\n```", author="coder", kind="code")
    assert (await gate.request(code, None)).outcome == "rejected"
    carried = await gate.request(message("I could not send it."), None)
    assert carried.reply_text().startswith("REJECT") and "nobody is asked" in carried.feedback
    assert [kind for kind, _ in approver.auto] == ["rejected", "rejected"]


async def test_gate_carries_a_humans_rejection_of_a_tool_call_once() -> None:
    approver = Recorder("rejected", "approved")
    gate = ModeGate(approver, InputPolicy(mode="always"))
    await gate.request(tool_call("send_email", "{}"), None)
    repeated = await gate.request(message("The email was not sent."), None)
    assert repeated.outcome == "rejected" and repeated.decided_by == "U0BOB" and len(approver.asked) == 1
    asked = await gate.request(message("Anything else?", 2), None)  # carried once only
    assert asked.outcome == "approved" and len(approver.asked) == 2
