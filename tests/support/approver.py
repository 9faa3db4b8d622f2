"""An approval record to build from, and a scripted approver: the decisions a test wants, and what it was asked."""

from __future__ import annotations

import dataclasses

from agent_approvals.approver import ApprovalRequest, Decision
from autogen_core import CancellationToken

from bot.core.records import ApprovalRecord


def record(**changes: object) -> ApprovalRecord:
    base = ApprovalRecord(
        id="a1b2c3d4-0000",
        run_id="rabcdefg",
        owner="w",
        requester="U0ALICE",
        origin_channel="C0SALES",
        card_channel="C0APPROVALS",
        task="Email <!channel> now",
        proposal="Hi <@U0CEO> see <https://evil.example|x>",
        author="assistant",
        created_at=1000.0,
        deadline=1600.0,
        timeout_seconds=600,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


class ScriptedApprover:
    def __init__(self, *decisions: tuple[str, str]) -> None:
        self.decisions = list(decisions)
        self.requests: list[ApprovalRequest] = []

    async def request(self, request: ApprovalRequest, cancellation_token: CancellationToken | None) -> Decision:
        self.requests.append(request)
        outcome, feedback = self.decisions.pop(0)
        return Decision(request.approval_id, outcome, "U0BOB", feedback)  # type: ignore[arg-type]
