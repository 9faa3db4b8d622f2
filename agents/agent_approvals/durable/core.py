"""What the durable engines' integrations share (`temporal/`, `dbos.py`): the ask, the decision a workflow acts
on, and the three calls a workflow makes of the bot, each safe to repeat.

- `ask`: the approval for one call, by an idempotency key made of the workflow and the call's place in it (a
  repeat, a replay or a recovery finds the same approval, never a second card), with the relay's URL and the
  workflow's route (engine, namespace, workflow id) as the callback, the workflow type as the card's agent and the
  workflow id as its run (an "always allow" rule for "This run only" covers this workflow's asks);
- `settle`: the decision as the bot has it, and an approved call's one use, by a token that is the ask's key (a
  repeated settle is the same use): what a workflow acts on never comes from the message that woke it;
- `withdraw`: a workflow that stops waiting takes its card back.

A decision reads `approved` only once its use is spent here: run the call then, with `arguments`.
"""

# No `from __future__ import annotations`: Temporal's converter reads these dataclasses' field types inside its
# workflow sandbox, where this module's names cannot be looked up; as objects, they need no lookup.
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from agent_approvals.approver import not_run
from agent_approvals.client import Approval, ApprovalsClient, idempotency_key, refusal
from agent_approvals.wire import ApprovalsError

MAX_AGENT = 80  # the API's limit on an agent's name (and a workflow's type)
MAX_WORKFLOW_ID = 255
POLL = 50.0  # seconds of one long poll in poll mode (a heartbeat between two)
MAX_EDITS = 5  # a call asked about again as edited, at most
MAX_AGAIN = 5  # asks of one call after its approval was found used (each only a person may approve)


@dataclass
class Ask:
    """What an approval asks about: a tool call (`tool_call`) or a message or code (`message`)."""

    kind: str
    title: str = ""
    name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    schema: dict[str, Any] | None = None
    editable: bool = True
    text: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # channel, requester, agent, timeout


def tool_call(
    name: str, arguments: dict[str, Any], *, schema: dict[str, Any] | None = None, title: str = "",
    editable: bool = True, **options: Any,
) -> Ask:
    """Ask whether to call `name(arguments)`; `options` as `ApprovalsClient.request_tool` takes them."""
    return Ask(kind="tool", title=title, name=name, arguments=dict(arguments), schema=schema, editable=editable,
               options=options)


def message(text: str, *, title: str = "", kind: str = "message", **options: Any) -> Ask:
    """Ask about a message (or, with `kind="code"`, code about to run)."""
    return Ask(kind=kind, title=title, text=text, options=options)


def edited(ask: Ask, arguments: dict[str, Any]) -> Ask:
    """The same ask, for a reviewer's edited arguments."""
    return tool_call(ask.name, arguments, schema=ask.schema, title=ask.title, editable=ask.editable, **ask.options)


@dataclass
class WorkflowDecision:
    """What a workflow acts on, as the bot has it. Run the call only when `approved`, with `arguments` (a
    reviewer's edit, asked about again and approved, included); `refusal` is what a model reads otherwise."""

    approval_id: str
    status: str  # approved | rejected | revised | timed_out | cancelled | pending (ApprovalsClient's words)
    approved: bool
    arguments: dict[str, Any] = field(default_factory=dict)
    decided_by: str = ""
    decided_by_name: str = ""
    reason: str = ""
    feedback: str = ""
    edited: bool = False
    summary: str = ""
    refusal: str = ""
    card_url: str = ""
    receipt: str | None = None
    used: bool = False  # this decision's one use is spent (an approved call may now run)
    again: str = ""  # why the call must be asked about again: "used" (elsewhere) or "rule_revoked"

    @property
    def revised_with_edits(self) -> bool:
        return self.status == "revised" and self.edited


@dataclass(frozen=True, slots=True)
class Route:
    """Where a decision goes: the relay's URL, the engine and the workflow (and its type, for the card)."""

    relay_url: str
    engine: str  # "temporal" | "dbos"
    workflow_id: str
    workflow_type: str
    namespace: str = ""
    ui_url: str = ""  # the engine's page of a workflow: https, with {namespace} and {workflow_id} (URL-quoted)

    def workflow(self) -> dict[str, str]:
        """The ask's `workflow`: shown on the card, read by the policies (`context.workflow`)."""
        shown = {"engine": self.engine, "id": self.workflow_id[:MAX_WORKFLOW_ID]}
        shown.update({k: v[:MAX_AGENT] for k, v in (("type", self.workflow_type), ("namespace", self.namespace))
                      if v.strip()})
        if self.ui_url:
            shown["url"] = self.ui_url.format(namespace=quote(self.namespace, safe=""),
                                              workflow_id=quote(self.workflow_id, safe=""))
        return shown

    def callback_url(self) -> str:
        """Where the bot POSTs the decision ("" without a relay: poll mode)."""
        if not self.relay_url:
            return ""
        query = urlencode({"engine": self.engine, "namespace": self.namespace, "workflow_id": self.workflow_id})
        return f"{self.relay_url}{'&' if '?' in self.relay_url else '?'}{query}"


async def ask(client: ApprovalsClient, asked: Ask, *, key: str, may_have_run: bool, route: Route) -> WorkflowDecision:
    """Ask (or find, by `key`) the approval of `asked`."""
    engine = "Temporal" if route.engine == "temporal" else "DBOS"
    options: dict[str, Any] = {
        "agent": f"{route.workflow_type} ({engine})"[:MAX_AGENT], "run": idempotency_key(route.workflow_id),
        "callback_url": route.callback_url() or None, "title": asked.title or None, "idempotency_key": key,
        "workflow": route.workflow(), **asked.options,
    }
    if may_have_run:
        options["may_have_run"] = True
    if asked.kind == "tool":
        approval = await client.request_tool(asked.name, asked.arguments, schema=asked.schema,
                                             editable=asked.editable, **options)
    else:
        approval = await client.request_message(asked.text, kind=asked.kind, **options)
    return decision(approval)


AskedOnce = Callable[[Ask, int, int, bool], Awaitable[WorkflowDecision]]


async def until_decided(ask: Ask, asked_once: AskedOnce) -> WorkflowDecision:
    """The loop both engines run around one ask (`asked_once(ask, edit, generation, may_have_run)`: ask, wait, and
    settle the decision): asked again when its approval was found used elsewhere (then as a call that may have
    run: only a person may approve it) or its rule was revoked, up to MAX_AGAIN times; a Revise that edits the
    arguments asked about as the edited call, up to MAX_EDITS times. Pure control flow: deterministic in a
    Temporal workflow."""
    for edit in range(MAX_EDITS + 1):
        may_have_run = False
        for generation in range(MAX_AGAIN + 1):
            decision = await asked_once(ask, edit, generation, may_have_run)
            if not decision.again:
                break
            may_have_run = may_have_run or decision.again == "used"
        if not decision.revised_with_edits:
            break
        ask = edited(ask, decision.arguments)
    return decision


async def settle(client: ApprovalsClient, approval_id: str, *, token: str) -> WorkflowDecision:
    """The approval as the bot has it; approved, used once by `token` (again: "used" when another use spent it,
    "rule_revoked" when the rule that approved it is gone: ask again). The use is tried first, since the bot's
    answer to it carries the approval: an approved one is settled in one request; one the bot refuses to use as
    not approved (pending: an early or forged wake-up; refused) is read, and used if it was decided meanwhile."""
    for _ in range(2):
        try:
            used = await client.spend(approval_id, token=token)
        except ApprovalsError as exc:
            if exc.code not in ("not_approved", "rule_revoked"):
                raise
            decided = await client.get(approval_id)
            if exc.code == "rule_revoked":
                return decision(decided, again="rule_revoked")
            if decided.approved:
                continue  # decided between the use and the read: used now
            return decision(decided)
        decided = used.approval if used.approval is not None else await client.get(approval_id)
        return decision(decided, used=used.used, again="" if used.used else "used", said=used.refusal)
    return decision(await client.get(approval_id))


async def poll(client: ApprovalsClient, approval_id: str, *, beat: Callable[[], None]) -> WorkflowDecision:
    """Poll mode: the approval once decided, long-polled (`beat()` before each poll: a heartbeat)."""
    while True:
        beat()
        decided = await client.wait(approval_id, at_most=POLL)
        if not decided.pending:
            return decision(decided)


async def withdraw(client: ApprovalsClient, approval_id: str) -> WorkflowDecision:
    return decision(await client.withdraw(approval_id))


def decision(approval: Approval, *, used: bool = False, again: str = "", said: str = "") -> WorkflowDecision:
    """The bot's answer as a workflow reads it: approved only once its one use is spent (`again`: why it is asked
    about again, `said`: the bot's words for it)."""
    approved = approval.approved and used
    if approved or approval.pending:
        words = ""
    elif again:
        words = said or not_run(again)
    else:
        words = refusal(approval)
    return WorkflowDecision(
        approval_id=approval.id, status=approval.status, approved=approved, arguments=approval.arguments,
        decided_by=approval.decided_by, decided_by_name=approval.decided_by_name, reason=approval.reason,
        feedback=approval.feedback, edited=approval.edited, summary=approval.summary, refusal=words,
        card_url=approval.card_url, receipt=approval.receipt, used=used, again=again,
    )
