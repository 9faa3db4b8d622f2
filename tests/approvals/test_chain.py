"""The decision order as one chain (bot/approvals/chain.py): each step of a run, like each program's ask, is walked
once (one evaluation of the policies), and whatever decides it, a policy, the input mode, a rule or a person, is
stored as one approval used once. Real worker, Redis and the Slack stand-in; the demo model's scripted team."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_approvals import modes
from agent_approvals.approver import Decision

from bot.approvals.chain import Decided, Step
from bot.approvals.deciders import policies as policies_link
from bot.approvals.deciders.mode import automatic_entry
from bot.core.records import ApprovalRecord
from bot.devslack.server import SlackStandIn
from bot.store import Store
from bot.store.channel_settings import ReadSettings
from tests.conftest import ALICE, BOB, SALES, StartPolicyWorker
from tests.support.api import Client, new_key
from tests.support.hitl import (
    DEMO,
    audit_events,
    bot,
    click,
    command,
    finished,
    nth_card,
    open_modal,
    replay,
    start,
)
from tests.support.policies import WAYS_IN, refund, write_bundle

EMAIL_TASK = "--mode policy --team email Tell carol@partner.org about the price change"


async def test_every_step_of_a_run_is_judged_once_and_stored_as_one_approval(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """Under `--mode policy` the demo team's turns are approved by the mode and its `send_email` is asked of a person
    by the bundle's ask policy: one evaluation per step (the run's gate hands its verdict to the chain instead of
    asking the policies first), and every step, the mode's too, is an approval the run used at once."""
    folder = write_bundle(tmp_path / "policies", {"ways.cedar": WAYS_IN})
    async with bot(slack, redis_url, tmp_path, DEMO, POLICY_DIR=str(folder)) as worker:
        engine = worker.services.approvals.policies
        before = engine.evaluations
        run_id = await start(slack, EMAIL_TASK)
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        assert (await finished(worker, run_id)).status == "completed"
        stored = await worker.services.store.approvals.of_run(run_id)
        assert engine.evaluations - before == len(stored), [(a.kind, a.decided_by) for a in stored]
        by_person = [a for a in stored if a.decided_by == BOB]
        by_mode = [a for a in stored if a.decided_by == "auto"]
        assert len(by_person) == 1 and by_mode and len(by_person) + len(by_mode) == len(stored)
        assert all(a.consumed and a.consumed_by.startswith(worker.services.worker_id) for a in stored)
        assert all(a.decided_by_mode == "policy" for a in by_mode)
        audited = {e["approval"] for e in await audit_events(worker, "auto_approved")}
        assert {a.id for a in by_mode} <= audited  # each the one shape: an approval and its audit entry


async def test_the_modes_automatic_replies_are_approvals_the_run_used(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """`terminate` answers the user proxy's turns "continue" by itself: each such turn is stored decided by the mode
    (the report and policy replay read one shape) and already used, so a worker taking the run over later starts
    from a checkpoint before it instead of continuing with it."""
    async with bot(slack, redis_url, tmp_path, replay("Memo v1", "Memo v2", "Memo v3, final. TERMINATE")) as worker:
        assert "now terminate" in await command(slack, "config mode terminate")
        run_id = await start(slack, "Draft a memo")
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        assert (await finished(worker, run_id)).status == "completed"
        stored = sorted(await worker.services.store.approvals.of_run(run_id), key=lambda a: a.created_at)
        assert [(a.status, a.decided_by, a.feedback) for a in stored] == [
            ("revised", "auto", "continue"), ("revised", "auto", "continue"), ("approved", BOB, ""),
        ]
        assert all(a.consumed for a in stored)
        rules = [e["rule"] for e in await audit_events(worker, "auto_approved") if e["run"] == run_id]
        assert rules == ["mode terminate: automatic reply 1 of 10", "mode terminate: automatic reply 2 of 10"]


async def test_a_step_is_decided_under_the_channels_settings_as_they_stand_when_it_is_stored(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, store: Store
) -> None:
    """A worker decides on its copy of a channel's settings without reading them again for each step, and the open
    step compares the hash with that copy: settings changed elsewhere (another worker's `/agent config`, or a
    writer that knows nothing of copies, writing the hash itself) are read again, once, and the step decided under
    them."""
    drafts = replay(*(f"Draft v{n}: dear vendor" for n in range(1, 6)))
    async with bot(slack, redis_url, tmp_path, drafts) as worker:
        settings = worker.services.store.settings
        reads: list[str] = []
        read = settings.read

        async def counted(channel: str, *, default_timeout: int) -> ReadSettings:
            reads.append(channel)
            return await read(channel, default_timeout=default_timeout)

        settings.read = counted  # type: ignore[method-assign]
        run_id = await start(slack, "Draft a note to our vendor")

        async def revise(n: int) -> ApprovalRecord:
            view = await open_modal(slack, await nth_card(slack, n), user=BOB)
            answer = await slack.submit_view(user=BOB, view_id=view["id"],
                                             values={"feedback": {"feedback_input": f"Shorter ({n})."}})
            assert answer.status == 200
            await nth_card(slack, n + 1)
            newest = max(await worker.services.store.approvals.of_run(run_id), key=lambda a: a.created_at)
            assert newest.pending
            return newest

        await nth_card(slack, 1)
        first = max(await worker.services.store.approvals.of_run(run_id), key=lambda a: a.created_at)
        assert round(first.deadline - first.created_at) == 600
        reads.clear()  # (the run's start read them)
        again = await revise(1)
        assert round(again.deadline - again.created_at) == 600 and reads == []  # the worker's copy: no read

        assert await store.settings.set(SALES, "timeout", "120", by=ALICE) is None  # as another worker does
        second = await revise(2)
        assert round(second.deadline - second.created_at) == 120 and reads == [SALES]  # unsettled: read once

        await store.redis.hset(store.keys.settings(SALES), "timeout", "300")  # no writer's help
        third = await revise(3)
        assert round(third.deadline - third.created_at) == 300 and reads == [SALES, SALES]

        fourth = await revise(4)
        assert round(fourth.deadline - fourth.created_at) == 300 and reads == [SALES, SALES]  # the new copy


async def test_a_steps_risk_words_are_matched_once_by_the_policies_link(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#64: a run's gate matched the channel's risk words, then the chain matched them again for the shipped default
    policy. The gate of a bot's run carries none now: the policies' link matches them once per step, and the default
    policy still asks about the `send_email` the mode would have approved."""
    matched: list[str] = []
    match = modes.matched_risk_word

    def counted(text: str, risk_words: tuple[str, ...]) -> str | None:
        if risk_words:  # (matched against none: nothing read)
            matched.append(text)
        return match(text, risk_words)

    monkeypatch.setattr(policies_link, "matched_risk_word", counted)
    monkeypatch.setattr(modes, "matched_risk_word", counted)  # the gate's (`agent_approvals.modes.verdict`)
    async with bot(slack, redis_url, tmp_path, DEMO) as worker:
        run_id = await start(slack, EMAIL_TASK)
        card = await nth_card(slack, 1)
        assert "risk word" in str(card["blocks"]), card
        await click(slack, card, "approval_approve", user=BOB)
        assert (await finished(worker, run_id)).status == "completed"
        stored = await worker.services.store.approvals.of_run(run_id)
        assert len(matched) == len(stored), (matched, [(a.kind, a.decided_by) for a in stored])


class RefuseWires:
    """A decider as a new one is written (bot/approvals/deciders/): it refuses every `wire` at once."""

    async def decide(self, step: Step) -> Step | Decided:
        if step.approval.tool_name != "wire":
            return step
        decision = Decision(step.approval.id, "rejected", decided_by="auto", feedback="wires are never sent",
                            digest=step.approval.digest)
        return Decided(step, decision, automatic_entry(step.approval, decision, rule="no wires", run=step.ask.run))


async def test_a_decider_listed_in_the_chain_decides_for_every_way_in(policy_worker: StartPolicyWorker) -> None:
    """The chain walks the links the composition root lists: one more in the list decides a program's ask and a
    call its allow-list let through alike (the latter walks the same links to its "record as allowed" end)."""
    worker = await policy_worker({"ways.cedar": WAYS_IN})
    chain = worker.services.approvals.chain
    chain.links = (chain.links[0], RefuseWires(), *chain.links[1:])
    client = Client(worker, (await new_key(worker, "payer")).key)
    wire = replace_tool(refund(5000), "wire")
    _, asked = await client.ask(wire)
    assert (asked["status"], asked["reason"]) == ("rejected", "wires are never sent"), asked
    body = {"tool": wire["tool"], "allowed_by": "--allow wire"}
    status, answer, _ = await client.call("POST", "/api/v1/audit/allowed", body=body)
    assert (status, answer["error"]["code"]) == (403, "refused_by_policy"), answer
    _, other = await client.ask(refund(5000))
    assert other["status"] == "pending", other  # not a wire: the links after it, then a person


def replace_tool(ask: dict[str, object], name: str) -> dict[str, object]:
    tool = ask["tool"]
    assert isinstance(tool, dict)
    return {**ask, "tool": {**tool, "name": name}}
