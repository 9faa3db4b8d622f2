"""Which tenant is home: the deployment's first workspace (the one its SLACK_BOT_TOKEN answers for), whose data keeps
today's key names (`Keys.for_tenant`), so that a deployment of one workspace upgrades with no step by hand.

Recorded once, in `workspaces:home`, the first time a worker learns its team (`auth.test`): JSON {team, enterprise,
tenant}. It never changes after: another token's workspace is another tenant, its keys under `ws:<tenant>`."""

from __future__ import annotations

import json

from bot.core.workspaces import WorkspaceRef
from bot.store.connection import aw
from bot.store.freeze_copies import FreezeCopies
from bot.store.shared import Shared


class Tenants:
    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = shared.keys
        self._home: WorkspaceRef | None = None  # once recorded it never changes: read once, then kept

    async def home(self) -> WorkspaceRef | None:
        """The home workspace, None while no worker has learnt its team (read from Redis until one has)."""
        if self._home is None:
            self._home = _ref(await aw(self._s.redis.get(self._k.workspaces_home)))
        return self._home

    async def learn_home(self, workspace: WorkspaceRef) -> WorkspaceRef:
        """Record `workspace` as home unless one is recorded already; the home workspace either way."""
        told = json.dumps({"team": workspace.team, "enterprise": workspace.enterprise or "",
                           "tenant": workspace.tenant, "org_wide": workspace.tenant != workspace.team},
                          separators=(",", ":"))
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._k.workspaces_home, told, nx=True)
            pipe.get(self._k.workspaces_home)
            _, stored = await pipe.execute()
        self._home = _ref(stored) or workspace
        return self._home

    async def remember(self, workspace: WorkspaceRef) -> None:
        """Keep `workspace` among the tenants served (`known`), once per tenant."""
        told = json.dumps({"team": workspace.team, "enterprise": workspace.enterprise or "",
                           "org_wide": workspace.tenant != workspace.team}, separators=(",", ":"))
        await aw(self._s.redis.hsetnx(self._k.workspaces_known, workspace.tenant, told))
        await FreezeCopies(self._s).spread(only=workspace.tenant)  # (after: a freeze now copies to it, or this does)

    async def known(self) -> list[WorkspaceRef]:
        """Every tenant a worker has served besides home (`remember`), one workspace of each."""
        found = await aw(self._s.redis.hgetall(self._k.workspaces_known))
        return [ref for ref in (_ref(v) for v in found.values()) if ref is not None]

    async def organisation_of(self, team: str) -> str | None:
        """The Enterprise Grid organisation whose org-wide install serves workspace `team`, as the workers have met it
        (the home workspace, or one a worker served: `known`); None when none is known."""
        for ref in [await self.home(), *await self.known()]:
            if ref is not None and ref.team == team and ref.enterprise and ref.org_wide:
                return ref.enterprise
        return None

    async def note_added(self, enterprise: str, teams: frozenset[str]) -> None:
        """Keep which workspaces of organisation `enterprise` its org-wide install is added to (Slack's word now)."""
        await aw(self._s.redis.hset(self._k.workspaces_added, enterprise, json.dumps(sorted(teams))))

    async def added_to(self, enterprise: str) -> frozenset[str] | None:
        """The workspaces organisation `enterprise`'s org-wide install is added to, as a worker last heard from Slack
        (`note_added`); None when no worker has said."""
        stored: str | None = await aw(self._s.redis.hget(self._k.workspaces_added, enterprise))
        try:
            found = json.loads(stored or "null")
        except (ValueError, RecursionError):
            return None
        return frozenset(str(t) for t in found) if isinstance(found, list) else None


def _ref(stored: str | None) -> WorkspaceRef | None:
    """The workspace `workspaces:home` holds (None: nothing, or nothing that reads as one)."""
    try:
        found = json.loads(stored) if stored else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(found, dict) or not isinstance(found.get("team"), str) or not found["team"]:
        return None
    enterprise = found.get("enterprise")
    enterprise = enterprise if isinstance(enterprise, str) and enterprise else None
    org_wide = found.get("org_wide")
    if not isinstance(org_wide, bool):  # (written before it was said: as its tenant says, else org-wide)
        tenant = found.get("tenant")
        org_wide = tenant == enterprise if isinstance(tenant, str) and tenant else enterprise is not None
    return WorkspaceRef(found["team"], enterprise, org_wide=org_wide and enterprise is not None)
