"""The relay's way into Temporal: a decision becomes the waiting workflow's Update (`agent_approvals.decide`), with
the approval id as the Update's id, so Temporal drops a repeat; what Temporal answers becomes the relay's answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent_approvals._extras import missing_extra

try:
    from temporalio.client import Client, WorkflowUpdateFailedError
    from temporalio.exceptions import ApplicationError
    from temporalio.service import RPCError, RPCStatusCode
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "temporal", exc) from exc

from agent_approvals.durable.engines import GONE, Deliver, Delivered
from agent_approvals.durable.temporal import DECIDE, DECIDED, NOT_ASKED


class TemporalDelivery:
    """Deliver decisions to workflows in `client`'s namespace."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def __call__(self, route: Mapping[str, str], approval: dict[str, Any]) -> Delivered:
        namespace, workflow_id = route.get("namespace", ""), route.get("workflow_id", "")
        if not workflow_id:
            return Delivered("wrong", "the callback URL names no workflow_id")
        if namespace and namespace != self.client.namespace:
            return Delivered("wrong", f"this relay delivers to Temporal namespace {self.client.namespace!r}, "
                                      f"not {namespace!r}")
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            await handle.execute_update(DECIDE, approval, id=str(approval["id"]))
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            kind = cause.type if isinstance(cause, ApplicationError) else ""
            why = cause.message if isinstance(cause, ApplicationError) else str(cause)
            return Delivered("later" if kind == NOT_ASKED else "done" if kind == DECIDED else "wrong", why)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return Delivered("gone", GONE)
            raise
        return Delivered("delivered")


async def connect(address: str, *, namespace: str = "default") -> Deliver:
    """The relay's Temporal engine (`agent_approvals.durable.engines`): delivering to workflows in `namespace` of
    the frontend at `address` (host:port)."""
    return TemporalDelivery(await Client.connect(address, namespace=namespace))
