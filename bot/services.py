"""The parts of one worker (or of one tenant it serves), `Services`: what the listeners, the API, the pages and the
loops are handed, started and stopped together. They are built and wired by the composition root (bot/root.py,
`create_services`); nothing here wires anything."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from redis.asyncio import Redis
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.api.canary import Canary
from bot.api.service import ApprovalsApi
from bot.api.webhooks import WebhookSender
from bot.approvals.card_sync import CardService
from bot.approvals.digest import WeeklyDigest
from bot.approvals.homes import HomeService
from bot.approvals.nudges import Nudger
from bot.approvals.rulebook import RuleBook
from bot.approvals.service import ApprovalService
from bot.approvals.waiter import DeadlineSweeper, DecisionWaiter, DueTenants
from bot.approvals.waiter import Sweeps as Sweeps  # (the parts `due_parts` gives: `bot.tenancy` names them)
from bot.audit.archive.writer import AuditArchiver
from bot.audit.checkpoints import AuditCheckpoints
from bot.audit.watch import AuditWatch
from bot.core.metrics import Metrics
from bot.core.settings import Settings, SettingsError
from bot.core.signing import SigningKeys
from bot.core.tasks import Background, stop_task
from bot.core.version import __version__
from bot.runs.manager import RunManager
from bot.runs.supervisor import Drain, Supervisor
from bot.slack.alerts_channel import AlertsChannel
from bot.slack.directory import Directory
from bot.stepup.enrolment import Enrolment
from bot.stepup.reveal import Reveal
from bot.stepup.votes import Confirmation
from bot.store import NewerFormat, Store, StoreUnavailable, WrongSecretsKey
from bot.store.connection import refusals_of
from bot.store.due import DueWork
from bot.teams import Teams

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    worker_id: str
    redis: Redis
    store: Store
    slack: AsyncWebClient
    home_redis: Redis  # the Home work's own connections (HOME_REDIS_CONNECTIONS)
    home_slack: AsyncWebClient  # views.publish for Homes: a 429 pauses the queue instead of a retry
    cards: CardService
    directory: Directory
    waiter: DecisionWaiter
    sweeper: DeadlineSweeper
    nudger: Nudger
    approvals: ApprovalService
    rules: RuleBook
    homes: HomeService
    runs: RunManager
    supervisor: Supervisor
    background: Background
    metrics: Metrics
    model_config: dict[str, Any]
    api: ApprovalsApi
    webhooks: WebhookSender
    stepup: Enrolment  # passkeys: one-time links, registration, removal (bot/stepup/)
    confirmations: Confirmation  # step-up votes: a passkey confirms an Approve (bot/stepup/)
    reveals: Reveal  # hidden values shown on the bot's page to one who may decide (bot/stepup/reveal.py)
    digest: WeeklyDigest  # the channel admins' weekly oversight digest (bot/approvals/digest.py)
    signing: SigningKeys | None = None  # the deployment's signing keys (bot/core/signing.py); None: none set
    checkpoints: AuditCheckpoints | None = None  # signs the audit log's checkpoints and trims it (lease holder)
    archiver: AuditArchiver | None = None  # writes the audit archive, AUDIT_ARCHIVE (lease holder)
    watch: AuditWatch | None = None  # verifies the audit log as it is written and alerts (lease holder)
    alerts: AlertsChannel | None = None  # ALERTS_CHANNEL as Slack said it last (home parts)
    base: Services | None = None  # a tenant's parts: the home parts whose connections, session and engine they share
    loops: dict[str, DueTenants] = field(default_factory=dict)  # the worker's loops of due work, by kind (home's)
    teams: Teams | None = None  # Microsoft Teams, with TEAMS_APP_ID (bot/teams/; home parts)
    _canary: asyncio.Task[None] | None = field(default=None, init=False)  # CANARY_INTERVAL's loop (home parts)

    async def start(self) -> None:
        if self.base is not None:  # a tenant's parts: a view, no loop or connection of its own
            return
        for redis in {id(r): r for r in (self.redis, self.home_redis)}.values():  # writes Redis refuses, counted
            refusals_of(redis).listen(self.metrics.redis_writes_refused_by)
        await check_eviction(self.store, allow=self.settings.redis_allow_eviction)  # first: before anything is kept
        await keep_format(self.store)  # a Redis of a newer format refused before this worker writes to it
        await check_secrets_key(self.store)  # a SECRETS_KEY that cannot open the deployment's values: refused
        await seal_clear(self.store)  # the webhook secrets the version before kept in the clear
        # one HTTP session for every Web API call (slack-sdk opens one per call otherwise)
        self.slack.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self.home_slack.session = self.slack.session
        if self.alerts is not None:  # Slack's refusal stops the start; no answer: not ready, asked again (probes)
            await self.alerts.check(starting=True)
        if self.settings.alert_webhook_url and self.settings.alert_webhook_secret is None:
            raise SettingsError("ALERT_WEBHOOK_URL is set but ALERT_WEBHOOK_SECRET is not: the alerts would go"
                                " unsigned; set both, or neither")
        if self.checkpoints is not None:  # first: it looks for workers of the old audit chain before anything writes
            await self.checkpoints.start()
        if self.archiver is not None:
            await self.archiver.start()
        if self.watch is not None:
            await self.watch.start()
        await self._start_loops()
        if self.settings.canary_interval:  # the write path proved end to end, every CANARY_INTERVAL (bot/api/canary.py)
            self._canary = asyncio.create_task(Canary(
                store=self.store, waiters=self.api.waiters, metrics=self.metrics, worker_id=self.worker_id,
                every=self.settings.canary_interval).keep(), name="canary")
        self.approvals.policies.start(self.background)
        if self.teams is not None:  # the SDK's handler of /teams/messages registered: Teams is served from now
            await self.teams.start()
        if not self.settings.admin_users:  # (dev mode names its own person)
            log.warning("ADMIN_USERS is not set: nobody can name a channel's first admin, so no setting that widens"
                        " who may decide can be set; set it to your admins' user ids (U…, comma-separated)")
        log.info("worker %s ready", self.worker_id)

    async def _start_loops(self) -> None:
        """The worker's loops, once whatever the number of tenants: decisions heard (one subscription), the
        heartbeat, and each kind of due work of the tenants the due index names (bot/store/due.py)."""
        await self.waiter.start()
        await self.supervisor.start(scan=False)
        await DueWork.repair([self.store.due])  # (the other tenants': `Tenancy.start`)
        for loop in self.loops.values():
            await loop.start()

    async def close(self) -> None:
        if self.base is not None:  # a tenant's parts: the work under way; loops and connections are the worker's
            await self.runs.shutdown()
            await self.webhooks.stop()
            await asyncio.gather(self.cards.close(grace=3.0), self.homes.close())
            await self.waiter.stop()
            return
        await stop_task(self._canary)
        await asyncio.gather(*(loop.stop() for loop in self.loops.values()))
        await self.runs.shutdown()
        await self.supervisor.stop()
        if self.checkpoints is not None:
            await self.checkpoints.stop()
        if self.archiver is not None:
            await self.archiver.stop()
        if self.watch is not None:
            await self.watch.stop()
        await self.sweeper.stop()
        await self.nudger.stop()
        await self.webhooks.stop()
        await self.approvals.policies.stop()
        await asyncio.gather(self.background.drain(), self.cards.close(grace=3.0))
        await self.homes.close()
        await self.waiter.stop()
        await self.store.close()
        await self.home_redis.aclose()
        if self.slack.session is not None:
            await self.slack.session.close()


async def direct_message(slack: AsyncWebClient, directory: Directory, person: str, text: str) -> None:
    """Post `text` (made inert by its builder) in the bot's direct message with `person`; a failure is logged."""
    channel = await directory.dm_channel(person)
    if channel is None:
        return
    try:
        await slack.chat_postMessage(channel=channel, text=text)
    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
        error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
        log.warning("a direct message to %s could not be sent (%s)", person, error)


EVICTING = ("allkeys-", "volatile-")  # the `maxmemory-policy` values under which Redis deletes keys when full


async def check_eviction(store: Store, *, allow: bool) -> None:
    """Refuse a Redis that may evict keys (an evicted approval is a lost one: its waiter never wakes, its card never
    changes): a `SettingsError` naming `maxmemory-policy` and REDIS_ALLOW_EVICTION; with `allow`, say at ERROR why
    the worker goes on. A Redis that does not say its policy, or cannot be reached now, is let be (a WARNING)."""
    try:
        policy = await store.eviction_policy()
    except StoreUnavailable as exc:
        log.warning("Redis's maxmemory-policy could not be checked at start (%s)", exc)
        return
    if policy is None:
        log.warning("Redis does not say its maxmemory-policy (INFO refused): make sure it is noeviction")
        return
    if not any(part.strip().startswith(EVICTING) for part in policy.split(",")):
        return
    said = (f"Redis's maxmemory-policy is {policy}: when it is full it deletes keys, and an evicted approval is a lost"
            " one (set maxmemory-policy noeviction")
    if not allow:
        raise SettingsError(f"{said}, or REDIS_ALLOW_EVICTION=true to start anyway)")
    log.error("%s); starting anyway because REDIS_ALLOW_EVICTION=true", said)


async def seal_clear(store: Store) -> None:
    """The webhook secrets a version before kept in the clear, sealed (SECRETS_KEY); a Redis that cannot be reached
    now is let be (a WARNING: the next worker to start seals them)."""
    try:
        await store.api_keys.seal_clear()
    except StoreUnavailable as exc:
        log.warning("the webhook secrets kept in the clear could not be sealed at start (%s)", exc)


async def keep_format(store: Store) -> None:
    """The Redis-wide stored format (bot/store/stored_format.py): an older one upgraded in place (said at INFO: an
    expected step of an upgrade, and every Redis without the key, a new one included, is format 1), a
    newer one refused with a `SettingsError` saying so; a Redis that cannot be reached now is let be (a WARNING)."""
    try:
        before, now = await store.format.keep(version=__version__)
    except StoreUnavailable as exc:
        log.warning("Redis's stored format could not be checked at start (%s)", exc)
        return
    except NewerFormat as exc:
        raise SettingsError(str(exc)) from None
    if before != now:
        log.info("Redis's stored format upgraded in place from %s to %s", before, now)


async def check_secrets_key(store: Store) -> None:
    """This worker's SECRETS_KEY against the deployment's check value (bot/store/secrets_check.py): one that cannot
    open it refused with a `SettingsError` naming SECRETS_KEY and the key id; the value written by the first worker
    with a key, resealed with a rotation's new key (both said at INFO); a Redis that cannot be reached now is let be
    (a WARNING), as the stored format is."""
    try:
        done, before = await store.secrets_check.keep()
    except StoreUnavailable as exc:
        log.warning("SECRETS_KEY could not be checked against the deployment's at start (%s)", exc)
        return
    except WrongSecretsKey as exc:
        raise SettingsError(str(exc)) from None
    ring = store.hidden.keyring
    if done == "written" and ring is not None:
        log.info("SECRETS_KEY: the deployment's check value written, sealed with key %s (every worker must open it)",
                 ring.current)
    elif done == "resealed" and ring is not None:
        log.info("SECRETS_KEY: the deployment's check value resealed with key %s (it was %s): from now on a worker"
                 " without key %s does not start", ring.current, before, ring.current)


def due_parts(parts: Services) -> dict[str, Sweeps]:
    """The parts that do their tenant's due work of each kind (bot/store/due.py): each surface's due set its own
    (`Drain`), apart from the runs' and from each other's; a surface these parts lack has none (no loop of it: a
    worker without Teams leaves Teams' due set to those with it)."""
    found: dict[str, Sweeps] = {"deadlines": parts.sweeper, "nudges": parts.nudger, "webhooks": parts.webhooks,
                                "runs": parts.supervisor, "slack": Drain(parts.supervisor.flush_outbox),
                                "homes": parts.homes, "digest": parts.digest}
    if parts.teams is not None:
        found["teams"] = Drain(parts.teams.delivery.drain)
    return found
