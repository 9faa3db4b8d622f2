"""A request's workspace as a value: resolved once at the edge (`bot/slackapp/app.py`'s `Edge`, before Bolt) and
carried in the request's Bolt context, whence every listener and middleware takes the parts that serve it. One Bolt
app serves every workspace; nothing of it holds a workspace's parts, so no listener can serve a request with another
workspace's.

Example:
    `async def handle(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:`
    `    services = parts_of(context)`
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.workspaces import WorkspaceRef
from bot.services import Services

PARTS = "parts"  # the context's key of the request's parts (`Tenancy.parts` of its workspace)
WORKSPACE = "workspace"  # the context's key of its workspace (`Served.workspace`)


@dataclass(frozen=True)
class Served:
    """What serves a request: its tenant's parts, and the workspace its people are judged against (a plain
    workspace, or for an org-wide install its organisation: `tenant_of`); None for the home workspace, judged by its
    own `auth.test`."""

    parts: Services
    workspace: WorkspaceRef | None

    def context(self) -> dict[str, Any]:
        """The start of the request's Bolt context."""
        return {PARTS: self.parts, WORKSPACE: self.workspace}


def parts_of(context: Mapping[str, Any]) -> Services:
    """The parts that serve the request of `context`. A request the edge did not resolve has none: refused
    (`LookupError`), never served by some other workspace's."""
    parts = context.get(PARTS)
    if not isinstance(parts, Services):
        raise LookupError("this request's workspace was not resolved at the edge: nothing is done")
    return parts


def workspace_of(context: Mapping[str, Any]) -> WorkspaceRef | None:
    """The workspace the request of `context` is judged against (None: the home workspace)."""
    parts_of(context)  # resolved at the edge, or refused
    ref = context.get(WORKSPACE)
    return ref if isinstance(ref, WorkspaceRef) else None


async def tenant_answer(tenant: WorkspaceRef) -> dict[str, Any]:
    """What `members_only` judges a tenant's requests against, as `auth.test` would say it: the workspace, or for
    an org-wide install the organisation (each of its workspaces' people are ours)."""
    return {"team_id": tenant.team, "enterprise_id": tenant.enterprise or "", "team": ""}


def tenant_of(ref: WorkspaceRef) -> WorkspaceRef:
    """The workspace a tenant's requests are judged against: the workspace (a plain one, or a Grid workspace the app
    is installed in alone), or its whole organisation (an org-wide install)."""
    return ref if ref.enterprise is None or ref.org_wide is False else WorkspaceRef(ref.enterprise, ref.enterprise)
