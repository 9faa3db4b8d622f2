"""The parts of one worker (or of one tenant it serves), `Services`: what the listeners, the API, the pages and the
loops are handed, started and stopped together; and the builders of its groups of parts (`footing`, `home_service`,
`api_senders`, `run_manager`, `step_up_parts`, `supervisor_of`, `audit_parts`, `who_is_who`: the surfaces' account
directories under one `People`, issue 88). They are wired by the composition root (bot/root.py, `create_services`):
nothing here wires anything."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from redis.asyncio import Redis
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.api.canary import Canary
from bot.api.receipts import ReceiptIssuer, issuer_of
from bot.api.service import ApprovalsApi
from bot.api.webhooks import SIGNATURE, TIMESTAMP, WebhookSender, sign
from bot.approvals.due_loops import DeadlineSweeper, DueTenants
from bot.approvals.due_loops import Sweeps as Sweeps  # (the parts `due_parts` gives: `bot.tenancy` names them)
from bot.approvals.freeze_spread import FreezeSpreader
from bot.approvals.nudges import Nudger
from bot.approvals.rulebook import RuleBook
from bot.approvals.service import ApprovalService
from bot.approvals.waiter import DecisionWaiter
from bot.audit.archive.stores import open_archive
from bot.audit.archive.writer import AuditArchiver
from bot.audit.checkpoints import AuditCheckpoints, KeyAnnouncer, redis_keep
from bot.audit.rounds import Rounds
from bot.audit.siem.streamer import SiemStreamer
from bot.audit.watch import Alerter, AuditWatch
from bot.core.ids import new_worker_id
from bot.core.metrics import Metrics
from bot.core.passkeys import relying_party
from bot.core.sealing import HiddenKeyring
from bot.core.security import secrets_of
from bot.core.settings import Settings, SettingsError, reveal
from bot.core.signing import SigningKeys
from bot.core.tasks import Background, stop_task
from bot.core.version import build_commit
from bot.email.surface import EmailSurface
from bot.msteams import Teams
from bot.msteams.accounts import TeamsAccounts
from bot.msteams.people import TeamsPeople
from bot.people import EmailAccounts, People
from bot.push.surface import PushSurface
from bot.runs.manager import RunManager
from bot.runs.models import resolve_model_config
from bot.runs.response_cache import model_cache
from bot.runs.supervisor import Drain, Supervisor
from bot.runs.teams import TeamOptions
from bot.sessions import RunThreads
from bot.slack.accounts import SlackAccounts
from bot.slack.alerts_channel import AlertsChannel
from bot.slack.blocks.text import escape
from bot.slack.card_sync import CardService
from bot.slack.client import CountingWebClient, create_slack_client, create_workspace_client
from bot.slack.digest import WeeklyDigest
from bot.slack.directory import Directory
from bot.slack.due import SlackDue
from bot.slack.homes import HomeService
from bot.stepup.enrolment import Enrolment
from bot.stepup.reveal import Reveal
from bot.stepup.votes import Confirmation
from bot.store import Store, connect
from bot.store.connection import refusals_of
from bot.store.due import DueWork
from bot.store.start_checks import check_eviction, check_secrets_key, keep_format, seal_clear
from bot.tickets.desk import TicketDesk

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WhoIsWho:
    """Who is who, built once by the root (issue 88): `people` over the surfaces' accounts, and `teams`, the one
    `TeamsPeople` (Teams deciders mapped; the pages' sign-in by email and the step-up votes' check use it too)."""

    people: People
    teams: TeamsPeople


def who_is_who(settings: Settings, store: Store, directory: Directory, base: Services | None = None) -> WhoIsWho:
    """Who is who for a worker's parts (a tenant's, `base` given: its own Slack directory, the home's Teams people)."""
    teams = base.who.teams if base is not None else TeamsPeople(settings, store, directory)
    accounts = [SlackAccounts(directory, allowed_guests=settings.allowed_guests)]
    people = People(store=store.people, accounts=[*accounts, TeamsAccounts(teams), EmailAccounts()])
    return WhoIsWho(people=people, teams=teams)


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
    digest: WeeklyDigest  # the channel admins' weekly oversight digest (bot/slack/digest.py)
    signing: SigningKeys | None = None  # the deployment's signing keys (bot/core/signing.py); None: none set
    checkpoints: AuditCheckpoints | None = None  # signs the audit log's checkpoints and trims it (lease holder)
    archiver: AuditArchiver | None = None  # writes the audit archive, AUDIT_ARCHIVE (lease holder)
    watch: AuditWatch | None = None  # verifies the audit log as it is written and alerts (lease holder)
    siem: SiemStreamer | None = None  # streams the audit log into a SIEM, AUDIT_SIEM_URL (lease holder, issue 91)
    alerts: AlertsChannel | None = None  # ALERTS_CHANNEL as Slack said it last (home parts)
    base: Services | None = None  # a tenant's parts: the home parts whose connections, session and engine they share
    loops: dict[str, DueTenants] = field(default_factory=dict)  # the worker's loops of due work, by kind (home's)
    freeze_spread: FreezeSpreader | None = None  # the freeze spread again where a change missed (home parts, #89)
    msteams: Teams | None = None  # Microsoft Teams, with TEAMS_APP_ID (bot/msteams/; home parts)
    email: EmailSurface | None = None  # e-mail, with SMTP_URL (bot/email/surface.py, issue 88)
    push: PushSurface | None = None  # Web Push, with VAPID_PRIVATE_KEY (bot/push/surface.py, issue 90)
    tickets: TicketDesk | None = None  # change tickets, with JIRA_URL or SERVICENOW_URL (bot/tickets/, issue 91)
    who: WhoIsWho = field(kw_only=True)  # who is who across surfaces, built once (`who_is_who`, issue 88)
    reach: Sweeps = field(kw_only=True)  # routes across surfaces, each step once (bot/approvals/reach.py, issue 90)
    _canary: asyncio.Task[None] | None = field(default=None, init=False)  # CANARY_INTERVAL's loop (home parts)

    async def start(self) -> None:
        if self.base is not None:  # a tenant's parts: a view, no loop or connection of its own
            return
        for redis in {id(r): r for r in (self.redis, self.home_redis)}.values():  # writes Redis refuses, counted
            refusals_of(redis).listen(self.metrics.redis_writes_refused_by)
        await check_eviction(self.store, allow=self.settings.redis_allow_eviction)  # first: before anything is kept
        await keep_format(self.store)  # a Redis of a newer format refused before this worker writes to it
        await self.store.use_sharded(allowed=self.settings.redis_sharded_pubsub)  # pub/sub sharded on Redis 7 Cluster
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
        for rounds in self._audit_rounds():  # the checkpoints first: they look for workers of the old audit chain
            await rounds.start()
        await self._start_loops()
        if self.settings.canary_interval:  # the write path proved end to end, every CANARY_INTERVAL (bot/api/canary.py)
            self._canary = asyncio.create_task(Canary(
                store=self.store, waiters=self.api.waiters, metrics=self.metrics, worker_id=self.worker_id,
                every=self.settings.canary_interval).keep(), name="canary")
        self.approvals.policies.start(self.background)
        if self.msteams is not None:  # the SDK's handler of /teams/messages registered: Teams is served from now
            await self.msteams.start()
        if not self.settings.admin_users:  # (dev mode names its own person)
            log.warning("ADMIN_USERS is not set: nobody can name a channel's first admin, so no setting that widens"
                        " who may decide can be set; set it to your admins' user ids (U…, comma-separated)")
        log.info("worker %s ready", self.worker_id)

    def _audit_rounds(self) -> list[Rounds]:
        """The audit log's work off the write path a worker holds by lease: checkpoints, archive, watch, SIEM."""
        return [r for r in (self.checkpoints, self.archiver, self.watch, self.siem) if r is not None]

    async def _start_loops(self) -> None:
        """The worker's loops, once whatever the number of tenants: decisions heard (one subscription), the
        heartbeat, and each kind of due work of the tenants the due index names (bot/store/due.py)."""
        await self.waiter.start()
        await self.supervisor.start(scan=False)
        await DueWork.repair([self.store.due])  # (the other tenants': `Tenancy.start`)
        if self.tickets is not None:  # change tickets of approvals whose worker died before telling the desk
            self.background.spawn(self.tickets.catch_up(), name="tickets-catch-up")
        for loop in self.loops.values():
            await loop.start()
        if self.freeze_spread is not None:
            await self.freeze_spread.start()

    async def close(self) -> None:
        if self.base is not None:  # a tenant's parts: the work under way; loops and connections are the worker's
            await self.runs.shutdown()
            await self.webhooks.stop()
            await asyncio.gather(self.cards.close(grace=3.0), self.homes.close())
            await self.waiter.stop()
            return
        await stop_task(self._canary)
        await asyncio.gather(*(loop.stop() for loop in self.loops.values()))
        if self.freeze_spread is not None:
            await self.freeze_spread.stop()
        await self.runs.shutdown()
        await self.supervisor.stop()
        for rounds in self._audit_rounds():
            await rounds.stop()
        await self.sweeper.stop()
        await self.nudger.stop()
        await self.webhooks.stop()
        await self.approvals.policies.stop()
        await asyncio.gather(self.background.drain(), self.cards.close(grace=3.0))
        await asyncio.gather(self.homes.close(), *([self.push.close()] if self.push is not None else []))
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


def due_parts(parts: Services) -> dict[str, Sweeps]:
    """The parts that do their tenant's due work of each kind (bot/store/due.py): each surface's due set its own
    (`Drain`), apart from the runs' and from each other's; a surface these parts lack has none (no loop of it: a
    worker without Teams leaves Teams' due set to those with it)."""
    found: dict[str, Sweeps] = {"deadlines": parts.sweeper, "nudges": parts.nudger, "webhooks": parts.webhooks,
                                "runs": parts.supervisor, "slack": Drain(parts.supervisor.cards.drain),
                                "homes": parts.homes, "digest": parts.digest, "reach": parts.reach}
    if parts.msteams is not None:
        found["teams"] = Drain(parts.msteams.delivery.drain)
    for kind, part in (("email", parts.email), ("push", parts.push), ("tickets", parts.tickets)):
        if part is not None:  # (e-mail and push: a surface; the change tickets: drawn the same way)
            found[kind] = Drain(part.drain)
    return found


def team_options(settings: Settings) -> TeamOptions:
    return TeamOptions(
        outbox_dir=settings.outbox_dir,
        code_execution=settings.enable_code_execution,
        code_work_dir=settings.code_work_dir,
        code_timeout=settings.code_timeout,
    )


def hidden_keyring(settings: Settings) -> HiddenKeyring | None:
    """SECRETS_KEY's keyring for hidden values (None when it is not set: values are hidden all the same, and not
    kept: said once at start)."""
    text = reveal(settings.secrets_key)
    return None if text is None else HiddenKeyring.from_setting(text)


def settings_store(settings: Settings, redis: Redis, *, click_window: float | None = None) -> Store:
    """A store on `redis` as the settings say (STORE_PREFIX, the retentions), SECRETS_KEY's keyring in use."""
    store = Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded,
                  audit_retention=settings.audit_retention, run_retention=settings.run_retention,
                  click_window=click_window)
    store.hidden.use(hidden_keyring(settings))
    return store


def home_parts(settings: Settings, metrics: Metrics) -> tuple[Redis, Store, CountingWebClient]:
    """What the App Home work uses instead of the worker's: its own Redis client, a blocking pool of
    `HOME_REDIS_CONNECTIONS` (a redraw storm waits for these, never for those of clicks, timeouts,
    reminders and run starts), the store on it, and a Web API client that does not retry a 429 itself
    (Home publishing is paused for its Retry-After instead, every worker's: `bot/store/home_queue.py`)."""
    redis = connect(
        settings.redis_url.get_secret_value(),
        max_connections=settings.home_redis_connections,
        command_timeout=settings.redis_timeout,
    )
    return redis, settings_store(settings, redis), create_slack_client(settings, metrics, retry_429=False)


def tenant_home_parts(
    settings: Settings, base: Services, *, store: Store, slack: AsyncWebClient
) -> tuple[Redis, Store, AsyncWebClient]:
    """`home_parts` of a tenant: the base's Home connections, a store on them with the tenant's keys (so its Home
    queue and `views.publish` budget are its own: one workspace's redraw storm never pauses another's Homes), and a
    client with the tenant's token that does not retry a 429 itself."""
    home_store = Store(base.home_redis, prefix=store.keys.prefix, root=store.keys.root, sharded=store.keys.sharded,
                       audit_retention=settings.audit_retention, run_retention=settings.run_retention)
    home_slack = create_workspace_client(settings, base.metrics, token=str(slack.token or ""), retry_429=False)
    home_slack.session = slack.session
    return base.home_redis, home_store, home_slack


def footing(
    settings: Settings, *, worker_id: str | None, base: Services | None, store: Store | None,
    slack: AsyncWebClient | None,
) -> tuple[str, Redis, Metrics, dict[str, Any], Store, AsyncWebClient]:
    """What a worker's parts stand on: its id, Redis, metrics, model config, store and Slack client; a tenant's
    (`base` given) are the base's but for its own `store` and `slack`."""
    if base is not None:
        assert store is not None and slack is not None, "a tenant's parts need its store and Slack client"
        return base.worker_id, base.redis, base.metrics, base.model_config, store, slack
    model_config = resolve_model_config(
        model_config_path=settings.model_config_path, openai_api_key=reveal(settings.openai_api_key)
    )
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    # a click counts only if Redis runs it well before the worker stops waiting (and answers "try again")
    store = settings_store(settings, redis, click_window=settings.redis_timeout * 0.75)
    if not store.hidden.ready:
        log.warning("SECRETS_KEY is not set: values hidden in tool calls' arguments are not kept (a program's GET"
                    " answers the redacted arguments, arguments_redacted true; nothing to reveal);"
                    " see docs/operators/sensitive-values.md")
    metrics = Metrics(commit=build_commit(), top_people=settings.metrics_top_people)
    return worker_id or new_worker_id(), redis, metrics, model_config, store, create_slack_client(settings, metrics)


def home_service(
    settings: Settings, *, store: Store, slack: AsyncWebClient, directory: Directory, worker_id: str,
    background: Background, people: People,
) -> HomeService:
    """The App Homes, on the Home work's own store and client (`home_parts`)."""
    return HomeService(store=store, slack=slack, directory=directory, worker_id=worker_id, background=background,
                       admin_users=settings.admin_users, publishes_per_minute=settings.home_publishes_per_minute,
                       budget_window=settings.home_budget_window, people=people)


def api_senders(
    settings: Settings, store: Store, *, signing: SigningKeys | None, worker_id: str, directory: Directory,
    cards: CardService, metrics: Metrics,
) -> tuple[ReceiptIssuer | None, WebhookSender]:
    """The Approvals API's receipts (when signing keys are set) and its webhook sender."""
    receipts = None if signing is None else ReceiptIssuer(
        store, signing, issuer=issuer_of(settings.receipt_issuer, settings.public_url), ttl=settings.receipt_ttl,
        announcer=KeyAnnouncer(store, worker=worker_id), names=directory.name_of,
    )
    webhooks = WebhookSender(
        store, allow_private=settings.api_allow_private_callbacks, lease=settings.webhook_lease_seconds,
        names=directory.name_of, receipts=receipts, not_taken=cards.note_not_taken,
        counted=lambda outcome: metrics.webhooks.labels(outcome).inc(),
    )
    return receipts, webhooks


def run_manager(
    settings: Settings, *, store: Store, redis: Redis, approvals: ApprovalService, threads: RunThreads,
    background: Background, worker_id: str, model_config: dict[str, Any], metrics: Metrics, homes: HomeService,
) -> RunManager:
    """The bot's own `/agent` runs."""
    return RunManager(store=store, approvals=approvals, threads=threads, background=background, worker_id=worker_id,
                      model_config=model_config, metrics=metrics, team_options=team_options(settings),
                      model_cache=model_cache(settings, redis), max_runs_per_user=settings.max_runs_per_user,
                      max_runs_per_channel=settings.max_runs_per_channel, secrets=secrets_of(settings),
                      lease_seconds=settings.heartbeat_seconds, homes=homes)


def step_up_parts(
    settings: Settings, *, store: Store, approvals: ApprovalService, directory: Directory, homes: HomeService,
    slack: AsyncWebClient, background: Background, metrics: Metrics,
) -> tuple[Enrolment, Confirmation, Reveal]:
    """Passkeys: their enrolment, the step-up votes' confirmations and the reveals of hidden values."""
    rp = relying_party(settings.step_up_url or settings.public_url)

    async def tell(person: str, text: str) -> None:
        """A direct message to `person`, sent at once in the background (a passkey of theirs added or removed)."""
        background.spawn(direct_message(slack, directory, person, text), name=f"tell-{person}")

    cooloff = settings.step_up_new_passkey_cooloff
    stepup = Enrolment(store, directory, rp, changed=homes.refresh_person, tell=tell, cooloff=cooloff)
    confirmations = Confirmation(store, approvals, directory, approvals.policies, rp, cooloff=cooloff,
                                 counted=lambda outcome: metrics.stepup.labels(outcome).inc())
    return stepup, confirmations, Reveal(store, approvals, rp, cooloff=cooloff)


def supervisor_of(
    settings: Settings, *, store: Store, runs: RunManager, approvals: ApprovalService, cards: CardService,
    worker_id: str, base: Services | None,
) -> Supervisor:
    """The runs' supervisor: heartbeats, orphaned runs, their unseen cards posted through Slack's due work (`SlackDue`,
    whose drain of the outbox is its own loop's: `Drain` in `due_parts`)."""
    slack_due = SlackDue(store=store, cards=cards, delivery=approvals.delivery, worker_id=worker_id)
    return Supervisor(store=store, runs=runs, cards=slack_due, worker_id=worker_id,
                      ttl=settings.heartbeat_seconds,
                      scan_every=max(0.5, settings.heartbeat_seconds / 2),
                      heart=None if base is None else base.supervisor)


def audit_parts(
    settings: Settings, store: Store, *, signing: SigningKeys | None, slack: AsyncWebClient, metrics: Metrics,
    worker_id: str,
) -> tuple[AuditCheckpoints, AuditArchiver | None, AlertsChannel, AuditWatch]:
    """The worker's audit parts (a tenant's are the worker's: each writes or watches every tenant's chain,
    bot/audit/chains.py): checkpoints, the archive's writer, the alerts channel and the watcher."""
    checkpoints = AuditCheckpoints(
        store, signing, worker=worker_id, every=settings.audit_checkpoint_every,
        interval=settings.audit_checkpoint_seconds, retention=redis_keep(settings),
        archive=bool(settings.audit_archive),
    )
    archiver = archiver_of(settings, store, signing, worker_id)
    alerts = AlertsChannel(slack, settings.alerts_channel)
    return checkpoints, archiver, alerts, watch_of(settings, store, signing, slack, metrics, worker_id)


def watch_of(
    settings: Settings, store: Store, signing: SigningKeys | None, slack: AsyncWebClient, metrics: Metrics,
    worker: str,
) -> AuditWatch:
    """The audit watcher (bot/audit/watch.py) and where its alerts go: ALERTS_CHANNEL, ALERT_WEBHOOK_URL signed with
    ALERT_WEBHOOK_SECRET as the API's webhooks are."""
    channel, secret = settings.alerts_channel, reveal(settings.alert_webhook_secret) or ""

    async def post(text: str) -> None:
        try:
            await slack.chat_postMessage(channel=channel, text=text)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.error("an audit alert could not be posted in ALERTS_CHANNEL (%s)", type(exc).__name__)

    def signed(body: bytes) -> dict[str, str]:
        stamp = str(int(time.time()))
        return {TIMESTAMP: stamp, SIGNATURE: sign(secret, stamp, body)}

    alerter = Alerter(metrics, post=post if channel else None, escape=escape, url=settings.alert_webhook_url,
                      signed=signed, worker=worker)
    return AuditWatch(store, signing, alerter, metrics, worker=worker, interval=settings.audit_watch_seconds,
                      full_every=settings.audit_watch_full_seconds, stalled=settings.audit_stalled_seconds,
                      retention=redis_keep(settings), archive=bool(settings.audit_archive),
                      archive_store=open_archive(settings.audit_archive, retain=settings.audit_archive_retain)
                      if settings.audit_archive else None)


def archiver_of(settings: Settings, store: Store, signing: SigningKeys | None, worker: str) -> AuditArchiver | None:
    """The audit archive's writer when AUDIT_ARCHIVE is set (it needs the signing keys: without them nothing is
    archived, and nothing trimmed)."""
    if not settings.audit_archive:
        return None
    if signing is None:
        log.warning("AUDIT_ARCHIVE is set but no signing key is: nothing is archived (nor trimmed from Redis) until"
                    " SIGNING_KEYS_FILE or SIGNING_KEYS is set")
        return None
    archive = open_archive(settings.audit_archive, retain=settings.audit_archive_retain)
    return AuditArchiver(store, signing, archive, worker=worker)
