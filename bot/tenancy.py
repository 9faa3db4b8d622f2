"""One worker serves every workspace it is installed in (issue 65): `Tenancy.parts(ref)` is the one door that gives
"the parts for this workspace".

The worker's own parts (`create_services`, bot/root.py, which builds the others' too) serve the home tenant, with
today's key names. Another tenant (a plain workspace, or an Enterprise Grid organisation installed org-wide:
`WorkspaceRef.tenant`) gets parts of its own: a view, with no loop and no connection of its own, built the first time
a request of it or a due piece of its work (the worker's loops: `bot.store.due`) needs them; none is built at start.
They are its store (`Store.for_tenant`), its Slack client (`Workspaces.for_team`, with its own retries and rate
budget) and, over those, its cards, directory, Homes, runs, API and step-up, sharing the worker's Redis connections,
decision subscription, loops, id, policy engine, signing keys, metrics and background tasks. They are kept in a plain
dict for the worker's life (cheap: see docs/operators/sizing.md, "Workspaces"), dropped when the app is uninstalled
there.

Example:
    `parts = await tenancy.parts(WorkspaceRef("T0OTHER"))` (raises `NotInstalled` where the app is not installed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.records import API_OWNER, ApprovalRecord
from bot.core.service_levels import state_counts
from bot.core.settings import Settings
from bot.core.workspaces import WorkspaceRef
from bot.services import Services, Sweeps, due_parts
from bot.slack.client import create_workspace_client
from bot.slack.workspaces import NotInstalled, Workspaces
from bot.store import Store, StoreUnavailable
from bot.store.due import DueWork, member_of

log = logging.getLogger(__name__)

TENANT_GONE = "tenant_gone"  # the notice to every worker that a tenant's workspace uninstalled the app


class Build(Protocol):
    """How a tenant's parts are built over the home parts (the composition root's `create_services`)."""

    def __call__(self, settings: Settings, *, base: Services, store: Store, slack: AsyncWebClient,
                 team: str | None = None) -> Services: ...


async def link_of(slack: AsyncWebClient) -> str:
    """The web address of a workspace's Slack (`auth.test`'s `url`: an org-wide token's is its organisation's), the
    start of its cards' links in the API's answers; '' (answers without a link) when Slack does not say it now."""
    try:
        answer = (await slack.auth_test()).data
    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("auth.test failed (%s): this workspace's API answers carry no card link", type(exc).__name__)
        return ""
    return str(answer.get("url") or "") if isinstance(answer, dict) else ""


class Tenancy:
    """The parts of each tenant a worker serves: the home parts, and those it builds for the others."""

    def __init__(self, home: Services, workspaces: Workspaces, *, build: Build) -> None:
        self.home = home
        self._build_parts = build  # (bot/root.py's `create_services`)
        self.workspaces = workspaces
        self._parts: dict[str, Services] = {}
        self._building: dict[str, asyncio.Lock] = {}
        self._home_too: set[str] = set()  # tenant ids the home installation serves (a key naming home's org)
        self._closed = False
        self.on_built: list[Callable[[Services, WorkspaceRef], None]] = []  # told of each tenant's parts, once built

    async def home_tenant(self) -> str | None:
        """The home tenant's id (None while no worker has learnt its team)."""
        home = await self.home.store.tenants.home()
        return None if home is None else home.tenant

    def built(self) -> list[Services]:
        """The parts built for tenants other than home."""
        return list(self._parts.values())

    async def parts(self, ref: WorkspaceRef | None) -> Services:
        """The parts that serve workspace `ref`: the home parts for the home tenant (and for a request that names
        no workspace, or before the home is known), else that tenant's, built and started once. `NotInstalled`
        when the app is not installed there (nothing of it is then served)."""
        home = await self.home_tenant()
        if ref is None or not ref.team or home is None:
            return self.home
        ref = await self.installed(ref)
        if ref.tenant == home:
            return self.home
        tenant = ref.tenant
        found = self._parts.get(tenant) or (self.home if tenant in self._home_too else None)
        if found is not None:
            return found
        async with self._building.setdefault(tenant, asyncio.Lock()):
            found = self._parts.get(tenant) or (self.home if tenant in self._home_too else None)
            if found is None:
                found = await self._build(ref, home=home)
        return found

    async def installed(self, ref: WorkspaceRef) -> WorkspaceRef:
        """`ref`, saying whether the app is installed org-wide there when it does not say (a Grid workspace: its
        installation's word; its data is the organisation's when org-wide, else the workspace's own)."""
        if ref.enterprise is None or ref.org_wide is not None:
            return ref
        if ref.whole_organisation:
            return ref.installed(org_wide=True)
        return ref.installed(org_wide=await self.workspaces.org_wide(ref.team, ref.enterprise))

    async def _build(self, ref: WorkspaceRef, *, home: str) -> Services:
        if self._closed:
            raise NotInstalled(ref.team, ref.enterprise)  # shutting down: no new tenant is started
        slack = await self.workspaces.for_team(ref.team, ref.enterprise)
        if slack is self.home.slack:  # the home installation serves it (its data is home's, as before tenants)
            self._home_too.add(ref.tenant)
            return self.home
        if slack.session is None:  # (a client made before the worker's HTTP session existed): the worker's one
            slack.session = self.home.slack.session
        store = self.home.store.for_tenant(ref.tenant, home=home)
        parts = self._build_parts(self.home.settings, base=self.home, store=store, slack=slack,
                                  team=ref.team if ref.org_wide and ref.team != ref.enterprise else None)
        parts.api.card_link = await link_of(slack)
        for told in self.on_built:
            told(parts, ref)
        try:
            await self.home.store.tenants.remember(ref)  # first: Redis down, nothing kept (a later request builds)
        except BaseException:
            await parts.close()
            raise
        if not await parts.waiter.listening():  # sharded: its own channels heard before it asks (else read again)
            log.warning("tenant %s: its decisions' channels not yet heard; its waits are read again once they are",
                        ref.tenant)
        self._parts[ref.tenant] = parts
        log.info("serving tenant %s (workspace %s)", ref.tenant, ref.team)
        return parts

    def serving(self) -> list[Services]:
        """The home parts and those built for the other tenants: what this worker is doing is their sum."""
        return [self.home, *self._parts.values()]

    async def stores(self) -> list[Store]:
        """The store of every tenant: home's and each known tenant's (`Tenants.known`, whether or not this worker
        built its parts), for what counts every workspace's data (`/metrics`' waiting approvals)."""
        home = await self.home_tenant()
        if home is None:
            return [self.home.store]
        tenants = {ref.tenant for ref in await self.home.store.tenants.known()} - {home}
        return [self.home.store, *(self.home.store.for_tenant(tenant, home=home) for tenant in sorted(tenants))]

    async def waiting_by_channel(self) -> dict[str, tuple[int, float]]:
        """Every tenant's waiting approvals, by channel (`Approvals.waiting_by_channel`, summed)."""
        found: dict[str, tuple[int, float]] = {}
        for store in await self.stores():
            for channel, (count, oldest) in (await store.approvals.waiting_by_channel()).items():
                before = found.get(channel, (0, oldest))
                found[channel] = (before[0] + count, min(before[1], oldest))
        return found

    async def service_levels(self) -> dict[str, int]:
        """Every tenant's pending approvals with a service level, by state (`Approvals.service_levels`)."""
        found: list[tuple[int, str]] = []
        for store in await self.stores():
            found += await store.approvals.service_levels()
        return state_counts(found)

    async def cards_this_hour(self) -> dict[str, int]:
        """Every tenant's cards per person this hour, summed (`Fatigue.this_hour`)."""
        found: dict[str, int] = {}
        for store in await self.stores():
            for person, count in (await store.fatigue.this_hour()).items():
                found[person] = found.get(person, 0) + count
        return found

    async def holding(self, approval_id: str) -> Services | None:
        """The parts of the tenant whose data holds approval `approval_id` and whose workspace the record names (a
        record of one tenant is never served by another's parts), else None: one lookup (`held_by`, written when
        the approval opened: bot/store/due.py)."""
        home = await self.home_tenant()
        tenant = await self.home.store.due.holder(approval_id)
        if tenant is not None:
            store = self.home.store if not tenant or home is None else self.home.store.for_tenant(tenant, home=home)
            approval = await store.approvals.get(approval_id)
            return None if approval is None else await self._served(store, approval, home)
        # An approval opened by a version before `held_by` (0.8.0 and older) is not in the index: found by walking
        # every tenant's store. This fallback can go once every approval opened before the upgrade has expired:
        # DECIDED_RETENTION (30 days) after it was decided, so a release 30 days after the one that adds `held_by`
        # and whose upgrade notes say that approvals still pending from before then are not served by id.
        for store in await self.stores():
            approval = await store.approvals.get(approval_id)
            if approval is not None:
                return await self._served(store, approval, home)
        return None

    async def _served(self, store: Store, approval: ApprovalRecord, home: str | None) -> Services | None:
        kept_by = store.keys.tenant or home
        if approval.team and kept_by not in (approval.team, approval.enterprise):
            log.warning("approval %s is kept by tenant %r but names workspace %r: not served", approval.id,
                        kept_by, approval.team)
            return None
        return await self.of_tenant(store.keys.tenant)

    async def start(self) -> None:
        """Copy the freeze into every workspace's copy again (sharded: bot/store/freeze_copies.py), and index the due
        work of every tenant served before (`Tenants.known`) again, a few Lua steps at a time (work a
        worker that died between a write and its note left unindexed, and what a version before the indexes wrote:
        bot/store/due.py). No tenant's parts are built: the worker's loops build those whose work comes due."""
        home = await self.home_tenant()
        if home is None:
            return
        try:  # (sharded: a spread a freeze left half-way is done)
            await self.home.store.freezes.copies.spread()
        except StoreUnavailable as exc:
            log.warning("the freeze could not be copied into the workspaces at start (%s)", exc.cause)
        tenants = {ref.tenant for ref in await self.home.store.tenants.known()} - {home}
        await DueWork.repair(self.home.store.for_tenant(tenant, home=home).due for tenant in sorted(tenants))

    async def due_part(self, kind: str, tenant: str) -> tuple[Sweeps, Store] | None:
        """The part that does `tenant`'s due work of `kind` (its parts built when needed), and its store; None
        while the home workspace is not known (left due), or when it is not served (then out of the index)."""
        if not tenant:
            part = due_parts(self.home).get(kind)  # (None: a surface this worker lacks, left to the workers with it)
            return None if part is None else (part, self.home.store)
        if await self.home_tenant() is None:
            return None
        try:
            parts = await self.of_tenant(tenant)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:  # Slack not answering: tried again later
            log.warning("tenant %s: its due work waits (%s)", tenant, type(exc).__name__)
            return None
        if parts is None:
            log.warning("tenant %s is not served (the app is not installed there): its due %s is out of the index",
                        tenant, kind)
            await self.home.store.due.drop(kind, member_of(tenant))
            return None
        part = due_parts(parts).get(kind)
        return None if part is None else (part, parts.store)

    async def of_tenant(self, tenant: str) -> Services | None:
        """The parts of `tenant` (a tenant's id, "" for home) when it is one this worker serves or a worker served
        (`Tenants.known`: built now), else None."""
        if not tenant or tenant == await self.home_tenant():
            return self.home
        found = self._parts.get(tenant)
        if found is not None:
            return found
        ref = next((r for r in await self.home.store.tenants.known() if r.tenant == tenant), None)
        if ref is None:
            return None
        try:
            return await self.parts(ref)
        except NotInstalled:
            return None

    async def uninstalled(self, ref: WorkspaceRef) -> Services:
        """The parts of `ref`'s tenant after the app was uninstalled there (its pending approvals are withdrawn
        through them): those built, or parts over its store with a Slack client that has no token (Slack refuses
        it: the workspace's token is gone, and its cards cannot be redrawn anyway)."""
        home = await self.home_tenant()
        if home is None or ref.tenant == home:
            return self.home
        found = self._parts.get(ref.tenant)
        if found is not None:
            return found
        slack = create_workspace_client(self.home.settings, self.home.metrics, token="")
        slack.session = self.home.slack.session
        parts = self._build_parts(self.home.settings, base=self.home, store=self.home.store.for_tenant(
            ref.tenant, home=home), slack=slack)
        await parts.waiter.stop()  # (nothing of it waits: not told of decisions or controls)
        return parts

    async def stop_serving(self, ref: WorkspaceRef) -> Services | None:
        """The app was uninstalled in `ref`: its tenant is served no more, here at once and on every other worker as
        soon as it hears it (a notice on the channel every worker listens to: `TENANT_GONE`), so its API keys are
        refused everywhere. Returns this worker's parts of it, no longer served and not yet closed (the caller
        withdraws its approvals through them, then closes them), or None when none were built here."""
        found = self._drop(ref.tenant)
        await self.home.store.workers.publish(API_OWNER, {"t": TENANT_GONE, "tenant": ref.tenant})
        return found

    def _drop(self, tenant: str) -> Services | None:
        self._home_too.discard(tenant)
        found = self._parts.pop(tenant, None)
        if found is not None:
            log.info("tenant %s is no longer served (the app was uninstalled there)", tenant)
        return found

    async def heard(self, message: dict[str, object]) -> None:
        """A notice to every worker (the home waiter's `on_notice`, wired by bot/root.py): a workspace uninstalled (on
        whichever worker Slack told) stops being served."""
        tenant = message.get("tenant")
        if message.get("t") != TENANT_GONE or not isinstance(tenant, str):
            return
        found = self._drop(tenant)
        if found is not None:
            await found.close()

    async def close(self) -> None:
        """Stop every tenant's loops (before the home parts close the connections they share)."""
        self._closed = True
        parts, self._parts = list(self._parts.values()), {}
        await asyncio.gather(*(p.close() for p in parts))
