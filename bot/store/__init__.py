"""The store: Redis is the source of truth for runs, approvals, settings and the audit log.

`Store` holds one repository per concept, sharing one client and key set; each state change of more than one
key is a Lua step in `lua/`. The repositories, as `store.<name>`:

    runs.py              `runs`: runs, their fencing, takeover and side-effect ledger
    approvals.py         `approvals`: approvals, cards, checkpoints, the decide step, timeouts
    opening.py           what the open step (`approvals.open`) is given, and the audit entry it appends
    receipts.py          approvals' signed receipts, kept on the approval (`Receipts`, built by the API's issuer)
    surface_due.py       `outbox` (Slack's cards), `teams_due`, `email_due`, `push_due`, `tickets_due`: due sets
    audit.py             `audit`: the audit stream, chained (one per tenant: bot/audit/chains.py)
    audit_global.py      `audit_global`: the signed global checkpoints over every tenant's audit chain (issue 89)
    channel_settings.py  `settings`: per-channel settings
    workers.py           `workers`: heartbeats, claims, messages to a worker
    homes.py             `homes`: what each person's App Home shows, and when it was drawn
    nudges.py            `nudges`: reminders and escalations due
    reach.py             `reach`: routes across surfaces (issue 90): each step due, taken once, what it did
    away.py              `away`: people away, and who decides for them
    rules.py             `rules`: "always allow" rules, per channel
    api_keys.py          `api_keys`: the Approvals API's keys, their limits
    key_revocation.py    a key revoked in two steps, each on its slot: refused first, then its approvals withdrawn
    webhooks.py          `webhooks`: decisions due a POST to the program that asked
    windows.py           `windows`: the totals of policy windows (sum windows in time buckets)
    people.py            `people`: who a Slack user is, as a worker last asked Slack, shared an hour; who a person
                         is across surfaces (issue 88: the email each verified email names, their accounts)
    msteams.py           `teams`: Microsoft Teams: conversations the app is in, people's chats, cards posted
    email.py             `email`: e-mail (issue 88): Review-and-decide links (single use), mails sent (once)
    keys_email.py        the e-mail surface's keys (keys.py is full)
    push.py              `push`: Web Push (issue 90): each person's devices, the actions' links, pushes sent (once)
    keys_push.py         the push surface's keys
    tickets.py           `tickets`: change tickets (issue 91): each approval's ticket record, its link on the approval
    keys_tickets.py      the change tickets' keys
    triage_holds.py      `triage_holds`: a triage model's approvals held (TRIAGE_HOLD) and their reversal by an admin
    passkeys.py          `passkeys`: each person's passkeys (step-up), and the one-time links that register them
    installations.py     `installations`: the app's installations (OAuth; tokens sealed by the caller), OAuth states
    tenants.py           `tenants`: which tenant is home (keeps today's key names; `Store.for_tenant` the others')
    freezes.py           `freezes`: frozen scopes (`/agent freeze`), unfreezing four eyes, freeze drills' holds
    freeze_copies.py     `freezes.copies`: sharded, each workspace's copy of the frozen scopes (its steps read it)
    writer_lease.py      `writer_lease`: the audit checkpoint writer's lease, and the writers lost (expired unreleased)
    siem.py              `siem`: the audit stream into a SIEM: which worker streams, the cursor the receiver accepted
    attestations.py      `attestations`: briefs, who attested to them until when, their reminders (fit to decide)
    oversight.py         `oversight`: how people decide (issue 80): details opened, signals and times, the digest
    hidden.py            `hidden`: an approval's hidden values (#68), sealed under SECRETS_KEY, dropped when it ends
    stored_format.py     `format`: the Redis-wide stored format (`{p}:format`), kept and upgraded at a worker's start
    workspace_move.py    `store move-workspaces`: one hash tag to a tag per workspace (stored format 3), resumable
    start_checks.py      what a worker checks of its Redis as it starts: eviction, the stored format, SECRETS_KEY
    secrets_check.py     `secrets_check`: a value sealed under the deployment's SECRETS_KEY, opened at a worker's start
    slackbot.py          `slackbot`: Slackbot's MCP requests' signatures (seen once), its calls' results (a day)
    due.py               `due`: the worker-wide indexes of due work per tenant (the loops visit only those due),
                         and which tenant holds each approval
    fatigue.py           `fatigue`: the cards each person got this hour (`max_asks_per_hour`)
    model_cache.py       the model response cache's entries (`MODEL_CACHE`, `ModelCacheEntries`, used by the runs)
    oncall.py            who is on call now per on-call schedule, kept a minute (`OnCallCache`, issue 90)
    home_queue.py        `HomeQueue`, apart: the Homes due a redraw and the workspace's `views.publish`
                         budget, on the App Home work's own Redis connections (built by
                         `bot.slack.homes.HomeService`)

What they share:

    shared.py            the client, the keys, the scripts, retentions and clocks (`Shared`, `Fence`, `Repository`)
    keys.py              every key the product writes, with its type and lifetime
    slots.py             where a key lives on Redis Cluster (its hash slot), a workspace's own hash tag
    keys_people.py       the keys of who is who across surfaces (keys.py is full)
    keys_homes.py        the Home queue's keys, part of `Keys`
    key_names.py         the two shapes of a key's name in `Keys`' table: one key (`Named`), a family (`Family`)
    scripts.py           the Lua steps, loaded from `lua/` and called with named keys and arguments
    lua/                 the Lua steps, one file each (`lib/`: what they share)
    connection.py        connections: a plain URL, Sentinel or Cluster; pub/sub; riding out a blip
    cluster_mends.py     Cluster's client mended: failovers ridden, a busy node waited for, a one-tag step hashed once
    shard_pubsub.py      sharded pub/sub on Redis 7 Cluster: SSUBSCRIBE on the primaries of the channels' slots
    codec.py             how records are stored and read back"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from bot.core.key_records import ApiKey, NewKey
from bot.core.logs import Outage, outage_of
from bot.core.records import AwayState
from bot.core.redis_urls import cluster_prefix, is_cluster_url
from bot.store.api_keys import ApiKeys
from bot.store.approvals import Approvals, DecideResult, DecideStatus
from bot.store.attestations import Attestations
from bot.store.audit import AuditLog
from bot.store.audit_global import GlobalCheckpoints
from bot.store.away import Away
from bot.store.channel_settings import ChannelSettingsStore
from bot.store.connection import (
    REDIS_DOWN,
    StoreHeld,
    StoreUnavailable,
    StoreWriteRefused,
    WriteRefusals,
    connect,
    node_options,
    persistently,
    pubsub_client,
    refusals_of,
)
from bot.store.due import DueWork
from bot.store.email import EmailStore
from bot.store.fatigue import Fatigue
from bot.store.freezes import Freezes, Frozen
from bot.store.hidden import HiddenValues
from bot.store.homes import Homes, HomeState
from bot.store.installations import Installations
from bot.store.keys import AUDIT_RETENTION_SECONDS, DECIDED_RETENTION_SECONDS, RUN_RETENTION_SECONDS, Keys
from bot.store.msteams import TeamsStore
from bot.store.nudges import Nudges
from bot.store.oncall import OnCallCache
from bot.store.opening import Once, Opening, OpenStatus
from bot.store.oversight import OversightStore
from bot.store.passkeys import Passkeys
from bot.store.people import People
from bot.store.push import PushStore
from bot.store.reach import Reaches
from bot.store.rules import Rules
from bot.store.runs import Runs
from bot.store.secrets_check import SecretsCheck, WrongSecretsKey
from bot.store.shard_pubsub import PUBLISH, SPUBLISH, ShardedPubSub, Subscription, slot_owners, supports_sharded
from bot.store.shared import Fence, Fenced, Shared
from bot.store.siem import SiemStream
from bot.store.slackbot import SlackbotCalls
from bot.store.stored_format import LayoutDisagrees, NewerFormat, StoredFormat
from bot.store.surface_due import SurfaceDue
from bot.store.tenants import Tenants
from bot.store.tickets import TicketStore
from bot.store.triage_holds import TriageHolds
from bot.store.webhooks import Webhooks
from bot.store.windows import Windows
from bot.store.workers import Workers
from bot.store.writer_lease import LostWriter, WriterLease

log = logging.getLogger(__name__)

__all__ = [
    "DECIDED_RETENTION_SECONDS",
    "REDIS_DOWN",
    "ApiKey",
    "AwayState",
    "DecideResult",
    "DecideStatus",
    "Fence",
    "Fenced",
    "Freezes",
    "Frozen",
    "HomeState",
    "LayoutDisagrees",
    "LostWriter",
    "NewKey",
    "NewerFormat",
    "Once",
    "OpenStatus",
    "Opening",
    "PubSub",
    "ShardedPubSub",
    "Store",
    "StoreHeld",
    "StoreUnavailable",
    "StoreWriteRefused",
    "Subscription",
    "WriteRefusals",
    "WrongSecretsKey",
    "cluster_prefix",
    "connect",
    "is_cluster_url",
    "persistently",
    "pubsub_client",
]


class Store:
    """The product's Redis, by concept (see the module docstring)."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "hitl",
        audit_retention: int = AUDIT_RETENTION_SECONDS,
        run_retention: int = RUN_RETENTION_SECONDS,
        click_window: float | None = None,
        root: str | None = None,
        sharded: bool = False,
    ) -> None:
        self.redis = redis
        self.keys = Keys(prefix, root=root, sharded=sharded)
        self.shared = Shared(
            redis, self.keys, audit_retention=audit_retention, run_retention=run_retention, click_window=click_window
        )
        self.audit = AuditLog(self.shared)
        self.runs = Runs(self.shared)
        self.approvals = Approvals(self.shared)
        self.outbox = SurfaceDue(self.shared, surface="slack")  # the Slack cards due a redraw (`{p}:outbox`)
        self.settings = ChannelSettingsStore(self.shared, self.audit)
        self.workers = Workers(self.shared)
        self.homes = Homes(self.shared, self.approvals, self.runs)
        self.nudges = Nudges(self.shared)
        self.hidden = HiddenValues(self.shared)
        # webhook secrets sealed under the hidden values' key; a revoke's steps each on its slot (`_shared_of`)
        self.api_keys = ApiKeys(self.shared, self.hidden, shared_of=self._shared_of)
        self.webhooks = Webhooks(self.shared)
        self.windows = Windows(self.shared)
        self.away = Away(self.shared, self.audit)
        self.rules = Rules(self.shared)
        self.people = People(self.shared)
        self.passkeys = Passkeys(self.shared)
        self.installations = Installations(self.shared)
        self.tenants = Tenants(self.shared)
        self.freezes = Freezes(self.shared)
        self.siem = SiemStream(self.shared)  # the audit stream into a SIEM (bot/store/siem.py, issue 91)
        self.audit_global = GlobalCheckpoints(self.shared)  # over every tenant's chain (bot/store/audit_global.py)
        self.writer_lease = WriterLease(self.shared)  # the audit checkpoint writer's (bot/store/writer_lease.py)
        self.attestations = Attestations(self.shared, self.audit)  # fit to decide (bot/store/attestations.py)
        self.format = StoredFormat(self.shared)
        self.secrets_check = SecretsCheck(self.shared, hidden=self.hidden)  # SECRETS_KEY checked at start
        self.slackbot = SlackbotCalls(self.shared)
        self.due = DueWork(self.shared)
        self.oversight = OversightStore(self.shared)
        self.fatigue = Fatigue(self.shared)  # cards per person per hour (`max_asks_per_hour`)
        self.msteams = TeamsStore(self.shared)  # Microsoft Teams: conversations, people, cards (issue 81)
        self.teams_due = SurfaceDue(self.shared, surface="teams")  # Teams' copies due a drawing (`{p}:teams:due`)
        self.reach = Reaches(self.shared)  # routes across surfaces: each step due, taken once (`{p}:reach:due`)
        self.email_due = SurfaceDue(self.shared, surface="email")  # the e-mails due a sending (`{p}:email:due`)
        self.email = EmailStore(self.shared)  # e-mail: links and mails sent (issue 88)
        self.push_due = SurfaceDue(self.shared, surface="push")  # the pushes due a sending (`{p}:push:due`)
        self.push = PushStore(self.shared)  # Web Push: devices, links, pushes sent (issue 90)
        self.tickets_due = SurfaceDue(self.shared, surface="tickets")  # change tickets due work (`{p}:tickets:due`)
        self.tickets = TicketStore(self.shared)  # change tickets (issue 91)
        self.oncall = OnCallCache(self.shared)  # who is on call now, per schedule (issue 90), for a minute
        self.triage_holds = TriageHolds(self.shared)  # a triage model's approvals held (TRIAGE_HOLD, #92)
        self._tenant_stores: dict[str, Store] = {}

    def for_tenant(self, tenant: str, *, home: str) -> Store:
        """The store of `tenant` (`WorkspaceRef.tenant`), on this store's Redis connection (close this one, not it):
        this one for the `home` tenant (today's key names), else the same repositories over `Keys.for_tenant`'s
        names, whose Lua steps work unchanged (they name keys from the keys they are given). Raises ValueError for
        a tenant that is no team or organisation id."""
        keys = self.keys.for_tenant(tenant, home=home)
        if keys.prefix == self.keys.prefix:
            return self
        found = self._tenant_stores.get(keys.prefix)
        if found is None:
            s = self.shared
            found = Store(self.redis, prefix=keys.prefix, root=keys.root, sharded=keys.sharded,
                          audit_retention=s.audit_retention,
                          run_retention=s.run_retention, click_window=s.click_window)
            self._tenant_stores[keys.prefix] = found
        found.shared.clock_offset = self.shared.clock_offset  # measured by this store's heartbeats
        # sharded pub/sub or plain (`use_sharded`); a workspace on a tag of its own (sharded keys) SPUBLISHes to its
        # own channels to the workers, in its slot (`Shared.worker_channels`), which the waiters hear
        found.shared.publish = self.shared.publish
        found.shared.freeze_heard = self.shared.freeze_heard  # (the worker's one subscription hears it)
        found.hidden.use(self.hidden.keyring)  # one SECRETS_KEY for every tenant
        return found

    def _shared_of(self, tenant: str | None, home: str | None) -> Shared:
        """What `tenant`'s store shares (None, or home not learnt: home's, the root's), for a step on its slot."""
        if home is None:
            return self.shared if self.keys.prefix == self.keys.root else Store(
                self.redis, prefix=self.keys.root, sharded=self.keys.sharded).shared
        return self.for_tenant(tenant or home, home=home).shared

    async def subscriber(self) -> Subscription:
        """A pub/sub connection, not yet subscribed (on Cluster: to one node; sharded, `use_sharded`: to the primaries
        serving its channels' slots as well, the cluster's map read afresh: bot/store/shard_pubsub.py)."""
        plain: Subscription = (await pubsub_client(self.redis)).pubsub()
        if self.shared.publish != SPUBLISH or not isinstance(self.redis, RedisCluster):
            return plain
        return ShardedPubSub(await slot_owners(self.redis), plain, options=node_options(self.redis))

    async def use_sharded(self, *, allowed: bool = True) -> bool:
        """Decisions sent to workers' channels with `SPUBLISH` and heard with `SSUBSCRIBE` (sharded pub/sub) when
        `allowed` (REDIS_SHARDED_PUBSUB) and Redis is a Cluster of Redis 7 or later (said at INFO); plain pub/sub
        otherwise, and when Redis cannot say now (a WARNING). Whether it is sharded now; every tenant's store
        (`for_tenant`) does as this one; either way a subscriber hears both (bot/store/shard_pubsub.py)."""
        try:
            sharded = allowed and await supports_sharded(self.redis)
        except StoreUnavailable as exc:
            log.warning("Redis could not say whether it has sharded pub/sub at start (%s): plain pub/sub", exc)
            sharded = False
        self.shared.publish = SPUBLISH if sharded else PUBLISH
        if sharded:
            log.info("decisions reach workers by sharded pub/sub (SPUBLISH, Redis Cluster 7)")
        return sharded

    @property
    def outage(self) -> Outage:
        """This store's Redis outage, said once (then once a minute) by every loop that uses it."""
        return outage_of(self.redis)

    async def close(self) -> None:
        """Close the client's connections."""
        await self.redis.aclose()

    @property
    def refusals(self) -> WriteRefusals:
        """The writes Redis refused this store's client (full, unable to persist), told to listeners by reason."""
        return refusals_of(self.redis)

    async def ping(self) -> None:
        """Whether Redis answers; `StoreUnavailable` when it cannot be reached (`StoreWriteRefused` when it refuses
        writes and PING with them: Redis does, while it cannot persist)."""
        try:
            await self.redis.ping()
        except StoreUnavailable:
            raise
        except REDIS_DOWN as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    async def eviction_policy(self) -> str | None:
        """Redis's `maxmemory-policy` (from `INFO memory`, which managed services that rename `CONFIG` still
        answer), or None when Redis does not say; `StoreUnavailable` when it cannot be reached."""
        try:
            info = await self.redis.info("memory")
        except ResponseError:  # INFO refused (an ACL, a renamed command)
            return None
        except StoreUnavailable:
            raise
        except REDIS_DOWN as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        nodes = [info, *(v for v in info.values() if isinstance(v, dict))]  # a Cluster answers per node
        policies = sorted({str(node["maxmemory_policy"]) for node in nodes if "maxmemory_policy" in node})
        return ", ".join(policies) or None

    async def memory(self) -> tuple[int, int] | None:
        """Redis's `used_memory` and `maxmemory` in bytes (0: no limit), from `INFO memory` (on a Cluster, the node
        nearest its limit); None when Redis does not say (INFO refused); `StoreUnavailable` when it cannot be
        reached."""
        try:
            info = await self.redis.info("memory")
        except ResponseError:
            return None
        nodes = [info, *(v for v in info.values() if isinstance(v, dict))]
        found = [(int(node["used_memory"]), int(node.get("maxmemory") or 0)) for node in nodes if "used_memory" in node]
        if not found:
            return None
        return max(found, key=lambda pair: (pair[0] / pair[1] if pair[1] else 0.0, pair[0]))
