"""Approving code before it runs: the `approval_func` of AutoGen's `CodeExecutorAgent`, asked in Slack.

`CodeExecutorAgent(..., approval_func=code_approval_func(approver))` posts the code blocks on a card
(kind "code") before each execution. The code runs only when approved, and only if it is the code
the decision was bound to (its digest). A rejection or a revision is returned to the agent as the
reason the code did not run. Each approved run is noted in the run's side-effect ledger, if the
approver offers one: after a takeover the same code is asked about again with a note that it may
have run (its output is not recorded).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from agent_approvals._extras import missing_extra

try:
    from autogen_agentchat.agents import ApprovalRequest as CodeApprovalRequest
    from autogen_agentchat.agents import ApprovalResponse
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "autogen", exc) from exc

from agent_approvals.approver import (
    ApprovalRequest,
    Approver,
    ask_within_a_call,
    digest_of,
    ledger_of,
    refusal,
    tell_automatic,
)

if TYPE_CHECKING:
    from autogen_ext.code_executors.local import LocalCommandLineCodeExecutor

CodeApprovalFunc = Callable[[CodeApprovalRequest], Awaitable[ApprovalResponse]]


def local_executor_class() -> type[LocalCommandLineCodeExecutor]:
    """AutoGen's `LocalCommandLineCodeExecutor`, imported only when the `code` preset is built.

    `autogen_ext.code_executors` imports its Docker executor first, and that raises (not an
    ImportError) when the `docker` package is installed without autogen-ext's `docker` extra;
    then the Docker executor is skipped, as autogen-ext does when `docker` is missing.
    """
    try:
        from autogen_ext.code_executors.local import LocalCommandLineCodeExecutor
    except RuntimeError:
        sys.modules["autogen_ext.code_executors.docker"] = None  # type: ignore[assignment]
        from autogen_ext.code_executors.local import LocalCommandLineCodeExecutor
    return LocalCommandLineCodeExecutor


def code_approval_func(approver: Approver, *, author: str = "coder", where: str = "") -> CodeApprovalFunc:
    """An async `approval_func` for `CodeExecutorAgent` that asks `approver`.

    Args:
        approver: who decides (a `ModeGate` to apply the run's input mode).
        author: the agent that wrote the code, shown on the card.
        where: where and how the code runs (work directory, time limit), shown on the card.
    """

    async def approve(code_request: CodeApprovalRequest) -> ApprovalResponse:
        code = code_request.code
        request = ApprovalRequest(
            approval_id=str(uuid.uuid4()),
            proposal=code,
            author=author,
            kind="code",
            digest=digest_of(code),
            why=where,
        )
        ledger = ledger_of(approver)
        if ledger is not None:
            past = await ledger.recall(request)
            if past is not None and past.earlier:  # its output is not recorded: ask again, saying so
                request = replace(
                    request,
                    why=f"{where}. This exact code was approved and started on a worker that stopped: it may"
                    " have run. Approve only if running it again is safe.",
                )
        decision = await ask_within_a_call(approver, request, None)
        if not decision.approves:
            return ApprovalResponse(approved=False, reason=refusal(decision))
        if (decision.digest or request.digest) != digest_of(code):
            rule = "refused: the approval was bound to other code than the code about to run (digest mismatch)"
            await tell_automatic(approver, "auto_rejected", request, rule=rule)
            return ApprovalResponse(approved=False, reason=rule)
        if ledger is not None and not await ledger.begin(request, decision):
            return ApprovalResponse(approved=False, reason="not run: this worker no longer runs this task")
        return ApprovalResponse(approved=True, reason=f"approved by {decision.who or 'a reviewer'}")

    return approve
