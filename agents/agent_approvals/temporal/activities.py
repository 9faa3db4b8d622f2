"""The approval activities a Temporal worker runs for `agent_approvals.temporal.approval`, through one
`ApprovalsClient`: ask (with the relay's URL and the workflow's routing as the callback), settle (read the
decision from the bot, and use an approved call once) and withdraw. A refusal of the bot's (a wrong key, a bad
request) fails the activity for good, so the workflow stops there and nothing runs; no answer is retried."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from agent_approvals._extras import missing_extra

try:
    from temporalio import activity
    from temporalio.exceptions import ApplicationError
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "temporal", exc) from exc

from agent_approvals.client import Approval, ApprovalsClient, idempotency_key, refusal
from agent_approvals.temporal import ASK, SETTLE, WITHDRAW, AskRequest, Decision, Settle
from agent_approvals.wire import ApprovalsError, LimitReached, Unreachable

ENGINE = "temporal"
MAX_AGENT = 80  # the API's limit on an agent's name


class ApprovalActivities:
    """`ApprovalActivities(client, relay_url=...)`: register `.all()` on the worker. `relay_url` is where the bot
    POSTs decisions: the relay (`agent-approvals-relay`) that turns them into the workflow's Update."""

    def __init__(self, client: ApprovalsClient, *, relay_url: str) -> None:
        self.client = client
        self.relay_url = relay_url

    def all(self) -> list[Any]:
        return [self.ask, self.settle, self.withdraw]

    @activity.defn(name=ASK)
    async def ask(self, request: AskRequest) -> Decision:
        info = activity.info()
        route = urlencode({"engine": ENGINE, "namespace": info.workflow_namespace or "",
                           "workflow_id": info.workflow_id or ""})
        ask = request.ask
        options: dict[str, Any] = {
            "agent": f"{info.workflow_type} (Temporal)"[:MAX_AGENT], "run": idempotency_key(info.workflow_id or ""),
            "callback_url": f"{self.relay_url}{'&' if '?' in self.relay_url else '?'}{route}",
            "title": ask.title or None, "idempotency_key": request.key, **ask.options,
        }
        if request.may_have_run:
            options["may_have_run"] = True
        try:
            if ask.kind == "tool":
                asked = await self.client.request_tool(ask.name, ask.arguments, schema=ask.schema,
                                                       editable=ask.editable, **options)
            else:
                asked = await self.client.request_message(ask.text, kind=ask.kind, **options)
        except ApprovalsError as exc:
            raise refused(exc) from None
        return decision(asked)

    @activity.defn(name=SETTLE)
    async def settle(self, request: Settle) -> Decision:
        try:
            decided = await self.client.get(request.approval_id)
            if not decided.approved:
                return decision(decided)
            used = await self.client.use(decided.id, token=request.token)
        except ApprovalsError as exc:
            if exc.code == "rule_revoked":  # the rule that approved it is gone: asked again (it did not run)
                return decision(decided, again="rule_revoked")
            raise refused(exc) from None
        return decision(decided, used=used, again="" if used else "used")

    @activity.defn(name=WITHDRAW)
    async def withdraw(self, approval_id: str) -> Decision:
        try:
            return decision(await self.client.withdraw(approval_id))
        except ApprovalsError as exc:
            raise refused(exc) from None


def decision(approval: Approval, *, used: bool = False, again: str = "") -> Decision:
    """The bot's answer as the workflow reads it: approved only once its one use is spent here."""
    approved = approval.approved and used
    if approved or approval.pending:
        words = ""
    elif again:
        words = f"Not run: approval {approval.id} was used already; this call is asked about again."
    else:
        words = refusal(approval)
    return Decision(
        approval_id=approval.id, status=approval.status, approved=approved, arguments=approval.arguments,
        decided_by=approval.decided_by, decided_by_name=approval.decided_by_name, reason=approval.reason,
        feedback=approval.feedback, edited=approval.edited, summary=approval.summary, refusal=words,
        card_url=approval.card_url, receipt=approval.receipt, used=used, again=again,
    )


def refused(exc: ApprovalsError) -> Exception:
    """What an activity raises for the bot's error: no answer or 5xx, retried; a limit, retried after it;
    any other refusal, not retried (the workflow reads it, and nothing runs)."""
    if isinstance(exc, Unreachable) or exc.status >= 500:
        return RuntimeError(str(exc))
    if isinstance(exc, LimitReached):
        return ApplicationError(str(exc), type=exc.code, next_retry_delay=timedelta(seconds=max(1.0, exc.retry_after)))
    return ApplicationError(str(exc), type=exc.code, non_retryable=True)
