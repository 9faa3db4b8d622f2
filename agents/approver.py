"""The small contract between AutoGen and whatever asks a human: the `Approver` protocol.

`agents/` knows nothing of Slack or Redis. It describes what it needs decided (an
`ApprovalRequest`) and what it gets back (a `Decision`); `bot/` implements `Approver`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from autogen_core import CancellationToken

Outcome = Literal["approved", "rejected", "revised", "timed_out", "cancelled"]
TimeoutOutcome = Literal["approve", "reject"]

OUTCOMES: tuple[Outcome, ...] = ("approved", "rejected", "revised", "timed_out", "cancelled")


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """One request for a human decision, as the agents see it.

    Attributes:
        approval_id: stable id (AutoGen's `InputRequestContext.request_id()` where there is one).
        proposal: what the human decides on, taken from the conversation (the latest message
            that is not the human's own).
        author: the agent that wrote the proposal.
        checkpoint: JSON of the team's state when the request was made, if the caller saved it.
    """

    approval_id: str
    proposal: str
    author: str
    checkpoint: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of an approval.

    `feedback` is the reviewer's revision text, reject reason or approval comment. For
    `timed_out`, `timeout_outcome` says what the timeout means and `feedback` how long we waited.
    """

    approval_id: str
    outcome: Outcome
    decided_by: str = ""
    feedback: str = ""
    timeout_outcome: TimeoutOutcome = "reject"

    @property
    def approves(self) -> bool:
        """True when the agent may go ahead with its proposal."""
        return self.outcome == "approved" or (self.outcome == "timed_out" and self.timeout_outcome == "approve")

    def reply_text(self) -> str:
        """What the human "typed": the text the input function returns to AutoGen (see DESIGN.md)."""
        if self.outcome == "approved":
            return _with_detail("APPROVE", self.feedback, sep="\n")
        if self.outcome == "rejected":
            return _with_detail("REJECT", self.feedback, sep="\n")
        if self.outcome == "revised":
            return self.feedback
        if self.outcome == "timed_out":
            verdict = "APPROVE" if self.timeout_outcome == "approve" else "REJECT"
            return _with_detail(verdict, self.feedback or "no decision in time", sep=": ")
        return _with_detail("REJECT", self.feedback or "cancelled", sep=": ")


def _with_detail(verdict: str, detail: str, *, sep: str) -> str:
    detail = detail.strip()
    return f"{verdict}{sep}{detail}" if detail else verdict


class ApprovalCancelled(Exception):
    """Raised by the input function when its approval was cancelled (run cancelled or failed)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"approval {decision.approval_id} was cancelled")
        self.decision = decision


class Approver(Protocol):
    """Asks a human to decide, and waits for the decision.

    Implementations must honour the cancellation token (cancelling it abandons the wait) and
    must resolve each request exactly once.
    """

    async def request(self, request: ApprovalRequest, cancellation_token: CancellationToken | None) -> Decision: ...
