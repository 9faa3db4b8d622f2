"""What a run's team asks through (bot/runs/manager.py builds it per run): its input policy (the mode gate's), and
its `Approver`: each approval through the manager's decision chain, in the bot's words, automatic decisions audited,
and the run's side-effect ledger."""

from __future__ import annotations

from agent_approvals.approver import AUTO, ApprovalRequest, Cancellation, Decision, Outcome
from agent_approvals.modes import InputPolicy, Verdict, parse_mode

from bot.core.records import ChannelSettings, RunRecord
from bot.core.verdicts import worded
from bot.runs.ledger import RunLedger
from bot.runs.run_state import RunHost, RunState
from bot.store import Fence


def policy_for(mode: str | None, settings: ChannelSettings) -> InputPolicy:
    """A run's input policy: its mode (`--mode`, else the channel's) and the channel's knobs. The gate gives its
    verdict to the decision chain (bot/approvals/chain.py), after the policies: the channel's risk words are not the
    gate's (none here), they are matched once, by the policies' link, for the shipped default policy, which asks
    about them before the mode would."""
    return InputPolicy(
        mode=parse_mode(mode or settings.mode),
        max_auto_replies=settings.max_auto_replies,
        risk_words=(),
        checkpoint_every=settings.checkpoint_every,
    )


class RunApprover:
    """The `Approver` of one run (and, through `ledger`, its side-effect ledger)."""

    def __init__(self, manager: RunHost, state: RunState) -> None:
        self._manager = manager
        self._state = state
        self.ledger = RunLedger(manager.store, manager.threads, self, lease_seconds=manager.lease_seconds)

    # what the ledger needs of the run (`bot.runs.ledger.OwnedRun`)
    @property
    def run(self) -> RunRecord:
        return self._state.run

    def fence(self) -> Fence:
        return self._manager.fence(self._state)

    def stop_fenced(self) -> None:
        self._manager.stop_fenced(self._state)

    async def request(self, request: ApprovalRequest, cancellation_token: Cancellation | None) -> Decision:
        """The decision, in the bot's words (`bot.core.verdicts.worded`: what the run's tools print)."""
        return worded(await self._manager.request_approval(self._state, request, cancellation_token))

    async def decide(
        self, request: ApprovalRequest, mode: Verdict, cancellation_token: Cancellation | None
    ) -> Decision:
        """The run's step through the decision chain, its gate's verdict in it (`ModeGate.in_order`), in the bot's
        words."""
        return worded(await self._manager.request_approval(self._state, request, cancellation_token, mode=mode))

    async def auto_approved(self, request: ApprovalRequest, *, rule: str) -> None:
        await self._automatic("auto_approved", request, rule)

    async def auto_rejected(self, request: ApprovalRequest, *, rule: str) -> None:
        await self._automatic("auto_rejected", request, rule)

    async def _automatic(self, event: str, request: ApprovalRequest, rule: str) -> None:
        """Decided without a human outside the decision chain (a tool or the code agent refusing a call that
        changed since its approval, through the gate): audit it; it counts for the run's outcome."""
        await self._manager.audit_automatic(event, request, rule=rule, run=self._state.run)
        outcome: Outcome = "approved" if event == "auto_approved" else "rejected"
        decision = Decision(request.approval_id, outcome, decided_by=AUTO, feedback=rule)
        self._state.took(decision, request.proposal)
