"""DBOS: a workflow waits for people in Slack, durably, with nothing running while they decide (extra `dbos`).

Make one `DBOSApprovals` for the application, and ask inside any DBOS workflow::

    approvals = DBOSApprovals(ApprovalsClient(url, key, title="refunds"), relay_url="https://relay.example/decisions")

    @DBOS.workflow()
    async def refund_order(order: str, cents: int) -> str:
        decision = await approvals.approval(tool_call("refund", {"order": order, "amount_cents": cents}))
        if not decision.approved:
            return decision.refusal  # who refused it and why, a timeout, a cancellation
        await refund(**decision.arguments)  # a @DBOS.step(): the approved arguments (a reviewer's edit included)
        return "refunded"

How it goes: the ask is a step (`agent_approvals.ask`) whose idempotency key is the workflow id and the step's
own id, so a recovered workflow finds the same approval, never a second card. The wait is `DBOS.recv` on the
approval's topic: the process may die and the workflow be recovered anywhere, nothing runs meanwhile. The decision
arrives as a message the relay (`durable.relay`, `DBOSDelivery`) sends when the bot's webhook reaches it,
with the approval id as its idempotency key, so DBOS itself drops a repeat. The message only wakes the workflow:
what it acts on is read from the bot by one more step (`agent_approvals.settle`), which also uses an approved call
once (its token is the ask's key), so a message the plane never sent runs nothing. Once a day (`check_every`) a
waiting workflow asks the bot itself, should every delivery have failed. An approval used already is asked about
again, as a call that may have run (only a person may approve it); a Revise that edits the arguments is asked
about again as the edited call. A workflow cancelled while it waits leaves its card: a decision then is answered
"the workflow had already finished", and the card says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent_approvals._extras import missing_extra

try:
    from dbos import DBOS, DBOSClient, error
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "dbos", exc) from exc

import agent_approvals.durable.core as durable
from agent_approvals.client import ApprovalsClient, idempotency_key
from agent_approvals.durable.core import Ask, Route, WorkflowDecision, message, tool_call, until_decided
from agent_approvals.durable.engines import GONE, Deliver, Delivered

__all__ = ["DBOSApprovals", "DBOSDelivery", "WorkflowDecision", "connect", "message", "tool_call"]
TOPIC = "agent_approvals:"  # + the approval id: where a workflow waits for its decision
CHECK_EVERY = 24 * 3600.0
ACTIVE = ("PENDING", "ENQUEUED", "DELAYED")


@dataclass
class _Asked:
    """The ask step's answer: the approval, and the key it was asked by (the token of its one use)."""

    view: WorkflowDecision
    key: str


class DBOSApprovals:
    """Approvals for DBOS workflows through one `ApprovalsClient`; `relay_url` is where the bot POSTs decisions;
    `ui_url`, a page of a workflow (https, with `{workflow_id}`), makes the card's workflow id a link."""

    def __init__(
        self, client: ApprovalsClient, *, relay_url: str, check_every: float = CHECK_EVERY, ui_url: str = ""
    ) -> None:
        self.client = client
        self.relay_url = relay_url
        self.check_every = check_every
        self.ui_url = ui_url

    async def approval(self, ask: Ask, *, poll: bool = False) -> WorkflowDecision:
        """The decision on `ask`, inside a DBOS workflow (see the module docstring). `poll`: where no webhook can
        reach a relay, a step long-polls the bot for the decision instead of the workflow waiting for a message."""
        workflow_id = DBOS.workflow_id
        if workflow_id is None:
            raise RuntimeError("DBOSApprovals.approval() runs inside a DBOS workflow")
        status = await DBOS.get_workflow_status_async(workflow_id)
        route = Route(self.relay_url, "dbos", workflow_id, status.name if status is not None else "workflow",
                      ui_url=self.ui_url)

        async def asked_once(ask: Ask, edit: int, generation: int, may_have_run: bool) -> WorkflowDecision:
            asked: _Asked = await DBOS.run_step_async({"name": "agent_approvals.ask"}, self._ask, ask,
                                                      may_have_run, route)  # (keyed by its step: see _ask)
            return await self._settled(asked, poll)

        return await until_decided(ask, asked_once)

    async def _ask(self, ask: Ask, may_have_run: bool, route: Route) -> _Asked:
        key = idempotency_key("dbos", route.workflow_id, str(DBOS.step_id))
        return _Asked(await durable.ask(self.client, ask, key=key, may_have_run=may_have_run, route=route), key)

    async def _settled(self, asked: _Asked, poll: bool) -> WorkflowDecision:
        view = asked.view
        while True:
            if view.status == "pending" and poll:
                await DBOS.run_step_async({"name": "agent_approvals.wait"}, self._poll, view.approval_id)
            elif view.status == "pending":
                await DBOS.recv_async(TOPIC + view.approval_id, timeout_seconds=self.check_every)
            view = await DBOS.run_step_async({"name": "agent_approvals.settle"}, self._settle, view.approval_id,
                                             asked.key)
            if view.status != "pending":
                return view

    async def _poll(self, approval_id: str) -> WorkflowDecision:
        return await durable.poll(self.client, approval_id, beat=lambda: None)

    async def _settle(self, approval_id: str, token: str) -> WorkflowDecision:
        return await durable.settle(self.client, approval_id, token=token)


class DBOSDelivery:
    """The relay's way into DBOS: the decision sent to the waiting workflow's topic, idempotent by approval id."""

    def __init__(self, client: DBOSClient) -> None:
        self.client = client

    async def __call__(self, route: Mapping[str, str], approval: dict[str, Any]) -> Delivered:
        workflow_id = route.get("workflow_id", "")
        if not workflow_id:
            return Delivered("wrong", "the callback URL names no workflow_id")
        try:
            handle: Any = await self.client.retrieve_workflow_async(workflow_id)
        except error.DBOSNonExistentWorkflowError:
            return Delivered("gone", GONE)
        if (await handle.get_status()).status not in ACTIVE:
            return Delivered("gone", GONE)
        approval_id = str(approval["id"])
        await self.client.send_async(workflow_id, approval, TOPIC + approval_id,
                                     idempotency_key=f"agent-approvals-{approval_id}")
        return Delivered("delivered")


async def connect(address: str, *, namespace: str = "") -> Deliver:
    """The relay's DBOS engine (`agent_approvals.durable.engines`): delivering through the system database at
    `address` (DBOS has no namespaces)."""
    return DBOSDelivery(DBOSClient(system_database_url=address))
