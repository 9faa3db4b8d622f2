"""Tool calls that need approval: the `email` team's `send_email` end to end (scripted model making
real `FunctionCall`s), and `require_approval` on any AutoGen tool."""

from __future__ import annotations

import json
from email import message_from_bytes
from pathlib import Path

from agent_approvals.approver import ApprovalRequest, Decision, digest_of, encode_revision
from agent_approvals.integrations.autogen.tools import require_approval
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import ToolCallExecutionEvent
from autogen_core import CancellationToken
from autogen_core.models import CreateResult, RequestUsage
from autogen_core.tools import FunctionTool
from autogen_ext.models.replay import ReplayChatCompletionClient

from bot.core.verdicts import worded
from bot.devslack.server import SlackStandIn
from bot.runs.email_tool import SendEmailTool
from tests.conftest import BOB, CAROL
from tests.support.hitl import (
    MODEL_INFO,
    audit_events,
    bot,
    buttons,
    call,
    cards,
    click,
    command,
    current,
    decided,
    finished,
    nth_card,
    open_modal,
    replay,
    start,
    text_of,
    until,
)

EMAIL = {"to": "bob@example.com", "subject": "Price change", "body": "Dear Bob,\nPrices change on May 1.\n<!here>"}
TASK = "--team email Tell bob@example.com about the price change"


def outbox(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def sent_to(path: Path) -> str:
    return str(message_from_bytes(path.read_bytes())["To"])


async def test_approved_call_runs_with_the_exact_arguments(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    model = replay(call("send_email", EMAIL), "Sent the email to bob@example.com.")
    async with bot(slack, redis_url, tmp_path, model) as worker:
        run_id = await start(slack, TASK)
        card = await nth_card(slack, 1)
        shown = text_of(card)
        assert "Tool call needs approval" in shown and "*Tool call* `send_email` from drafter" in shown
        assert "*to*\nbob@example.com" in shown and "&lt;!here&gt;" in shown and "<!here>" not in shown
        assert buttons(card) == ["approval_approve", "approve_always", "approval_reject", "approval_revise"]
        record = (await worker.services.store.approvals.of_run(run_id))[0]
        assert record.kind == "tool_call" and record.tool_name == "send_email" and record.digest == digest_of(EMAIL)
        assert json.loads(record.arguments) == EMAIL and "pattern" in record.arguments_schema
        assert await worker.services.store.approvals.checkpoint(record.id) is None  # a half-done call cannot be resumed
        assert not outbox(tmp_path)  # nothing runs before the decision

        await click(slack, card, "approval_approve", user=BOB)
        (sent,) = await until(lambda: outbox(tmp_path), what="email in the outbox")
        assert sent_to(sent) == "bob@example.com" and "Prices change on May 1." in sent.read_text()
        second = await nth_card(slack, 2)  # the user proxy's turn (mode always)
        assert "Sent the email to bob@example.com." in text_of(second)
        await click(slack, second, "approval_approve", user=BOB)
        assert (await finished(worker, run_id)).status == "completed"


async def test_reject_with_a_reason_does_not_run_and_ends_the_run(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    model = replay(call("send_email", EMAIL), "Understood: not sent.")
    async with bot(slack, redis_url, tmp_path, model) as worker:
        run_id = await start(slack, TASK)
        card = await nth_card(slack, 1)
        view = await open_modal(slack, card, user=BOB)
        assert "Start with “reject:”" in json.dumps(view["view"], ensure_ascii=False)
        answer = await slack.submit_view(
            user=BOB,
            view_id=view["id"],
            values={
                "arguments": {"arguments_input": record_args(view)},
                "feedback": {"feedback_input": "Reject: too pushy"},
            },
        )
        assert answer.status == 200 and not answer.body.strip()
        run = await finished(worker, run_id)
        assert run.status == "rejected" and run.reason == "too pushy"
        assert not outbox(tmp_path) and len(cards(slack)) == 1  # the rejection was not asked about again
        shown = text_of(await decided(slack, card))
        assert f"*Rejected* by <@{BOB}>" in shown and "too pushy" in shown
        (decision,) = await audit_events(worker, "decision")
        assert (decision["outcome"], decision["feedback"]) == ("rejected", "too pushy")


def record_args(view: dict[str, object]) -> str:
    """The arguments as the modal shows them (its initial value)."""
    fields: dict[str, object] = {}
    for block in view["view"]["blocks"]:  # type: ignore[index]
        if block.get("block_id") == "arguments" and "initial_value" in block["element"]:  # the JSON-only form
            return str(block["element"]["initial_value"])
        if str(block.get("block_id", "")).startswith("arg_"):  # one field per argument: "to (string)"
            name, kind = str(block["label"]["text"]).rsplit(" (", 1)
            text = str(block["element"].get("initial_value", ""))
            fields[name] = text if kind == "string)" else json.loads(text)
    if fields:
        return json.dumps(fields)
    raise AssertionError("no arguments input")


async def test_edit_then_approve_runs_the_edited_call(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    model = replay(call("send_email", EMAIL), "Sent it to Carol instead.")
    async with bot(slack, redis_url, tmp_path, model) as worker:
        run_id = await start(slack, TASK)
        card = await nth_card(slack, 1)
        view = await open_modal(slack, card, user=BOB)
        assert json.loads(record_args(view)) == EMAIL
        edited = {**EMAIL, "to": "carol@example.com"}
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps(edited, indent=1)}}
        )
        second = await nth_card(slack, 2)  # the edited call needs its own approval
        shown = text_of(second)
        assert "*to*\ncarol@example.com" in shown and f"Arguments edited by <@{BOB}>" in shown
        old = text_of(await decided(slack, card))
        assert "*Arguments edited* by" in old and "Edited arguments" in old and "carol@example.com" in old
        assert not outbox(tmp_path)
        approvals = sorted(await worker.services.store.approvals.of_run(run_id), key=lambda a: a.created_at)
        assert approvals[1].digest == digest_of(edited) and approvals[1].edited_by == BOB

        await click(slack, second, "approval_approve", user=CAROL)
        (sent,) = await until(lambda: outbox(tmp_path), what="email in the outbox")
        assert sent_to(sent) == "carol@example.com"
        await click(slack, await nth_card(slack, 3), "approval_approve", user=CAROL)
        assert (await finished(worker, run_id)).status == "completed"


async def test_edits_that_are_not_json_or_fail_the_schema_are_refused_in_the_modal(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    async with bot(slack, redis_url, tmp_path, replay(call("send_email", EMAIL), "unused")) as worker:
        run_id = await start(slack, TASK)
        card = await nth_card(slack, 1)
        view = await open_modal(slack, card, user=BOB)
        broken = await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": '{"to": "bob@example.com",'}}
        )
        assert broken.json["response_action"] == "errors"
        assert (
            "not valid JSON" in broken.json["errors"]["arguments"]
            and "Nothing was run" in broken.json["errors"]["arguments"]
        )
        bad = {**EMAIL, "to": "not an address"}
        refused = await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps(bad)}}
        )
        assert "do not match the tool's schema" in refused.json["errors"]["arguments"]
        assert "to:" in refused.json["errors"]["arguments"]
        extra = await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps({**EMAIL, "bcc": "x"})}}
        )
        assert "bcc" in extra.json["errors"]["arguments"]
        unchanged = await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": record_args(view)}}
        )
        assert "Edit the arguments, or write what the agent should change" in unchanged.json["errors"]["feedback"]
        assert slack.open_views(BOB)  # still open, with what was typed
        (approval,) = await worker.services.store.approvals.of_run(run_id)
        assert approval.pending and not outbox(tmp_path)
        assert buttons(current(slack, card)) == [
            "approval_approve",
            "approve_always",
            "approval_reject",
            "approval_revise",
        ]


async def test_model_arguments_failing_the_schema_cannot_be_approved(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    bad = {"to": "bob at example dot com", "subject": "Hi", "body": "Hello"}
    model = replay(call("send_email", bad), "Sent with the fixed address.")
    async with bot(slack, redis_url, tmp_path, model) as worker:
        run_id = await start(slack, TASK)
        card = await nth_card(slack, 1)
        shown = text_of(card)
        assert "do not match the tool's schema" in shown and "to:" in shown and "Approving is not offered" in shown
        assert buttons(card) == ["approval_reject", "approval_revise"]
        view = await open_modal(slack, card, user=BOB)
        fixed = {**bad, "to": "bob@example.com"}
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps(fixed)}}
        )
        second = await nth_card(slack, 2)
        assert buttons(second)[0] == "approval_approve" and "do not match" not in text_of(second)
        await click(slack, second, "approval_approve", user=BOB)
        (sent,) = await until(lambda: outbox(tmp_path), what="email in the outbox")
        assert sent_to(sent) == "bob@example.com"
        await click(slack, await nth_card(slack, 3), "approval_approve", user=BOB)
        assert (await finished(worker, run_id)).status == "completed"


async def test_digest_mismatch_refused(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    model = replay(call("send_email", EMAIL), "It was refused.")
    async with bot(slack, redis_url, tmp_path, model) as worker:
        store = worker.services.store
        run_id = await start(slack, TASK)
        card = await nth_card(slack, 1)
        (approval,) = await store.approvals.of_run(run_id)
        other = digest_of({**EMAIL, "to": "mallory@example.com"})  # the approval now covers other arguments
        await store.redis.hset(store.keys.approval(approval.id), "digest", other)
        await click(slack, card, "approval_approve", user=BOB)
        run = await finished(worker, run_id)
        assert run.status == "rejected" and "digest mismatch" in run.reason
        assert not outbox(tmp_path)
        (refusal,) = await audit_events(worker, "auto_rejected")
        assert "digest mismatch" in refusal["rule"] and refusal["approval"] == approval.id
        assert refusal["tool"] == "send_email" and refusal["run"] == run_id


async def test_policy_mode_asks_for_send_email_and_never_mode_refuses_it(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    model = replay(call("send_email", EMAIL), "Sent.", call("send_email", EMAIL), "Could not send it.")
    async with bot(slack, redis_url, tmp_path, model) as worker:
        await command(slack, "config mode policy")
        first = await start(slack, TASK)
        card = await nth_card(slack, 1)
        assert "matched the risk word “send email”" in text_of(card)
        await click(slack, card, "approval_approve", user=BOB)
        run = await finished(worker, first)  # "Sent." matched no risk word: approved automatically
        assert run.status == "completed" and len(outbox(tmp_path)) == 1

        second = await start(slack, "--mode never " + TASK)
        run = await finished(worker, second)
        assert run.status == "rejected" and "nobody is asked" in run.reason
        assert len(outbox(tmp_path)) == 1 and len(cards(slack)) == 1
        rules = [e["rule"] for e in await audit_events(worker, "auto_rejected") if e["run"] == second]
        assert rules == ["mode never: nobody is asked, so send_email (needs approval) does not run"]


# require_approval on any tool, without the bot ----------------------------------------------------
class Scripted:
    """An approver deciding as scripted, its decisions in the bot's words (`worded`), as the bot's approvers give
    them."""

    def __init__(self, *decisions: Decision) -> None:
        self.decisions = list(decisions)
        self.requests: list[ApprovalRequest] = []

    async def request(self, request: ApprovalRequest, token: object) -> Decision:
        self.requests.append(request)
        decision = self.decisions.pop(0)
        return worded(Decision(
            request.approval_id, decision.outcome, decision.decided_by, decision.feedback, digest=decision.digest
        ))


async def test_require_approval_wraps_a_function_tool_for_a_real_agent(tmp_path: Path) -> None:
    ran: list[tuple[str, int]] = []

    async def transfer(account: str, amount: int) -> str:
        """Move money."""
        ran.append((account, amount))
        return f"moved {amount} to {account}"

    approver = Scripted(Decision("x", "rejected", "U0BOB", "too much"), Decision("x", "approved", "U0BOB"))
    tool = require_approval(FunctionTool(transfer, description="Move money"), approver, agent="banker")
    assert tool.schema == FunctionTool(transfer, description="Move money").schema  # the model sees the same tool
    model = ReplayChatCompletionClient(
        [
            CreateResult(
                finish_reason="function_calls",
                content=[_call("transfer", {"account": "A-1", "amount": 900})],
                usage=RequestUsage(prompt_tokens=1, completion_tokens=1),
                cached=False,
            ),
            CreateResult(
                finish_reason="function_calls",
                content=[_call("transfer", {"account": "A-1", "amount": 90})],
                usage=RequestUsage(prompt_tokens=1, completion_tokens=1),
                cached=False,
            ),
        ],
        model_info=MODEL_INFO,  # type: ignore[arg-type]
    )
    agent = AssistantAgent("banker", model_client=model, tools=[tool])
    first = await agent.run(task="pay 900")
    results = [e for e in first.messages if isinstance(e, ToolCallExecutionEvent)]
    assert results[0].content[0].content == "Not run: rejected by U0BOB: too much" and not ran
    await agent.run(task="pay 90 then")
    assert ran == [("A-1", 90)]
    request = approver.requests[1]
    assert request.kind == "tool_call" and request.tool_name == "transfer" and request.author == "banker"
    assert json.loads(request.arguments) == {"account": "A-1", "amount": 90} and not request.schema_error


def _call(name: str, arguments: dict[str, object]) -> object:
    from autogen_core import FunctionCall

    return FunctionCall(id="call_1", name=name, arguments=json.dumps(arguments))


async def test_require_approval_binds_edits_and_digests(tmp_path: Path) -> None:
    tool = SendEmailTool(tmp_path / "out")
    edited = {**EMAIL, "to": "carol@example.com"}
    approver = Scripted(
        Decision("x", "revised", "U0BOB", encode_revision(edited, note="to Carol")),
        Decision("x", "approved", "U0CAROL", digest=digest_of(edited)),
    )
    wrapped = require_approval(tool, approver)
    result = await wrapped.run_json(EMAIL, CancellationToken())
    assert "carol@example.com" in wrapped.return_value_as_string(result)
    assert approver.requests[1].edited_by == "U0BOB" and "to Carol" in approver.requests[1].why
    assert [sent_to(p) for p in (tmp_path / "out").glob("*.eml")] == ["carol@example.com"]

    stale = Scripted(Decision("x", "approved", "U0BOB", digest=digest_of({**EMAIL, "to": "eve@example.com"})))
    refused = await require_approval(tool, stale).run_json(EMAIL, CancellationToken())
    assert "digest mismatch" in str(refused) and len(list((tmp_path / "out").glob("*.eml"))) == 1

    revised = Scripted(Decision("x", "revised", "U0BOB", "make it shorter"))
    told = await require_approval(tool, lambda: revised).run_json(EMAIL, CancellationToken())  # a factory works too
    assert told == "Not run: U0BOB asked for a revision. make it shorter"


async def test_cancelling_a_run_waiting_on_a_tool_card_ends_it(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    async with bot(slack, redis_url, tmp_path, replay(call("send_email", EMAIL), "unused")) as worker:
        run_id = await start(slack, TASK)
        card = await nth_card(slack, 1)
        reply = await command(slack, f"cancel {run_id}")  # by its requester
        assert f"Cancelled run `{run_id}` and 1 pending approval" in reply
        assert (await finished(worker, run_id)).status == "cancelled"
        await slack.wait_for(lambda: "*Cancelled* by" in text_of(current(slack, card)))
        await until(lambda: worker.services.runs.active_runs == 0, what="the run's team stopped")
        assert not outbox(tmp_path)


async def test_an_approval_of_arguments_failing_the_schema_still_runs_nothing(tmp_path: Path) -> None:
    tool = SendEmailTool(tmp_path / "out")
    bad = {**EMAIL, "to": "nobody"}
    approver = Scripted(Decision("x", "approved", "U0BOB", digest=digest_of(bad)))  # e.g. a forged click
    result = await require_approval(tool, approver).run_json(bad, CancellationToken())
    assert str(result).startswith("refused: the arguments do not match the schema of send_email")
    assert approver.requests[0].schema_error.startswith("$.to:") and not (tmp_path / "out").exists()
