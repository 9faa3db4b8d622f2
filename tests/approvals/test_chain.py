"""The decision order as one chain (bot/approvals/chain.py): each step of a run, like each program's ask, is walked
once (one evaluation of the policies), and whatever decides it, a policy, the input mode, a rule or a person, is
stored as one approval used once. Real worker, Redis and the Slack stand-in; the demo model's scripted team."""

from __future__ import annotations

from pathlib import Path

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB
from tests.support.hitl import DEMO, audit_events, bot, click, command, finished, nth_card, replay, start
from tests.support.policies import WAYS_IN, write_bundle

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
