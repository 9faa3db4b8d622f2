"""The approval activities a Temporal worker runs for `agent_approvals.durable.temporal.approval`, through one
`ApprovalsClient` (`agent_approvals.durable.core`: ask, settle, withdraw). A refusal of the bot's (a wrong key, a bad
request) fails the activity for good, so the workflow stops there and nothing runs; no answer is retried."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agent_approvals._extras import missing_extra

try:
    from temporalio import activity
    from temporalio.exceptions import ApplicationError
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "temporal", exc) from exc

import agent_approvals.durable.core as durable
from agent_approvals.client import ApprovalsClient
from agent_approvals.durable.core import Route, WorkflowDecision
from agent_approvals.durable.temporal import ASK, SETTLE, WAIT, WITHDRAW, AskRequest, Settle
from agent_approvals.wire import ApprovalsError, LimitReached, Unreachable


class ApprovalActivities:
    """`ApprovalActivities(client, relay_url=...)`: register `.all()` on the worker. `relay_url` is where the bot
    POSTs decisions: the relay (`agent-approvals-relay`) that turns them into the workflow's Update. `ui_url`, the
    Temporal UI's page of a workflow (`https://temporal.example.com/namespaces/{namespace}/workflows/{workflow_id}`),
    makes the card's workflow id a link. Without a relay (`relay_url=""`), ask with `approval(..., poll=True)`."""

    def __init__(self, client: ApprovalsClient, *, relay_url: str, ui_url: str = "") -> None:
        self.client = client
        self.relay_url = relay_url
        self.ui_url = ui_url

    def all(self) -> list[Any]:
        return [self.ask, self.settle, self.withdraw, self.wait]

    @activity.defn(name=ASK)
    async def ask(self, request: AskRequest) -> WorkflowDecision:
        info = activity.info()
        route = Route(self.relay_url, "temporal", info.workflow_id or "", info.workflow_type or "",
                      info.workflow_namespace or "", self.ui_url)
        try:
            return await durable.ask(self.client, request.ask, key=request.key, may_have_run=request.may_have_run,
                                     route=route)
        except ApprovalsError as exc:
            raise refused(exc) from None

    @activity.defn(name=SETTLE)
    async def settle(self, request: Settle) -> WorkflowDecision:
        try:
            return await durable.settle(self.client, request.approval_id, token=request.token)
        except ApprovalsError as exc:
            raise refused(exc) from None

    @activity.defn(name=WAIT)
    async def wait(self, approval_id: str) -> WorkflowDecision:
        try:
            return await durable.poll(self.client, approval_id, beat=activity.heartbeat)
        except ApprovalsError as exc:
            raise refused(exc) from None

    @activity.defn(name=WITHDRAW)
    async def withdraw(self, approval_id: str) -> WorkflowDecision:
        try:
            return await durable.withdraw(self.client, approval_id)
        except ApprovalsError as exc:
            raise refused(exc) from None


def refused(exc: ApprovalsError) -> Exception:
    """What an activity raises for the bot's error: no answer or 5xx, retried; a limit, retried after it;
    any other refusal, not retried (the workflow reads it, and nothing runs)."""
    if isinstance(exc, Unreachable) or exc.status >= 500:
        return RuntimeError(str(exc))
    if isinstance(exc, LimitReached):
        return ApplicationError(str(exc), type=exc.code, next_retry_delay=timedelta(seconds=max(1.0, exc.retry_after)))
    return ApplicationError(str(exc), type=exc.code, non_retryable=True)
