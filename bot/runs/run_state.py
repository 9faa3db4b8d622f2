"""What the owner worker knows of a run while its team works (`RunState`), and what a run's approver asks of the run
manager that owns it (`RunHost`): the two sides of bot/runs/manager.py and bot/runs/run_approver.py meet here, so
neither imports the other's internals."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

from agent_approvals.approver import ApprovalRequest, Cancellation, Decision
from agent_approvals.modes import Verdict
from autogen_core import CancellationToken

from bot.core.records import RunRecord
from bot.sessions.run_thread import RunThreads
from bot.store import Fence, Store


@dataclass
class RunState:
    """What the owner worker knows of a run while its team works."""

    run: RunRecord
    token: CancellationToken = field(default_factory=CancellationToken)
    last_decision: Decision | None = None
    last_proposal: str = ""
    adopted_elsewhere: bool = False  # another worker continues this run: stop quietly
    cancelled: Decision | None = None  # an approval of the run was cancelled: the run ends cancelled, quietly

    def took(self, decision: Decision, proposal: str) -> Decision:
        """Note a decision the run continues with (it sets the run's outcome if it is the last). The input mode's
        "continue" to a user proxy's turn is the run going on: were it the last, the run ended approved by the mode."""
        going_on = decision.automatic and decision.outcome == "revised"
        self.last_decision = replace(decision, outcome="approved") if going_on else decision
        self.last_proposal = proposal
        return decision


class RunHost(Protocol):
    """What a run's approver (bot/runs/run_approver.py) asks of the run manager that owns the run."""

    lease_seconds: float
    store: Store
    threads: RunThreads

    def fence(self, state: RunState) -> Fence: ...

    def stop_fenced(self, state: RunState) -> None: ...

    async def request_approval(self, state: RunState, request: ApprovalRequest,
                               cancellation_token: Cancellation | None = None, *, mode: Verdict = ...) -> Decision: ...

    async def audit_automatic(self, event: str, request: ApprovalRequest, *, rule: str, run: RunRecord) -> None: ...
