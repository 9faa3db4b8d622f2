"""The composition root: the one module where a worker's parts are built and wired.

    create_services   the parts of one worker (or, with `base`, of another tenant it serves): each built once, with
                      what it is told of (hooks) set here and nowhere else
    approval_service  the approval core and its decision chain: the deciders listed, in order
    listen            who listens to the approval core's events (bot/approvals/events.py): cards, Homes, redaction,
                      metrics, runs, a run's thread and session (a new surface, Teams, once built: create_services)
    create_worker     the worker over HTTP and Socket Mode: its parts, the workspaces, every tenant's parts, the Bolt
                      app, the uninstall hook (registered once) and what a tenant's parts are told when built
    create_web_app    the worker's HTTP server (bot/server.py mounts it)

tests/test_root.py fails when a part is wired outside this module (a hook set, appended to or registered
elsewhere), and when a surface imports the approval core's internals."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from functools import partial

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.api.receipts import ReceiptIssuer, issuer_of
from bot.api.service import ApiWaiters, ApprovalsApi
from bot.api.webhooks import SIGNATURE, TIMESTAMP, WebhookSender, sign
from bot.approvals.card_sync import CardService
from bot.approvals.chain import DecisionChain
from bot.approvals.deciders.freeze import Freeze
from bot.approvals.deciders.mode import Mode
from bot.approvals.deciders.person import Person
from bot.approvals.deciders.policies import Policies, unknown_groups
from bot.approvals.deciders.rules import Rules
from bot.approvals.delivery import Delivery
from bot.approvals.digest import WeeklyDigest
from bot.approvals.events import ApprovalDecided, CardPosted, Event, Events
from bot.approvals.fatigue import FatigueRouting
from bot.approvals.homes import IDLE_POLL, HomeService
from bot.approvals.nudges import Nudger
from bot.approvals.rulebook import RuleBook
from bot.approvals.service import ApprovalService
from bot.approvals.waiter import DeadlineSweeper, DecisionWaiter, Together, tell_loops, worker_loops
from bot.audit.archive.stores import open_archive
from bot.audit.archive.writer import AuditArchiver
from bot.audit.checkpoints import AuditCheckpoints, KeyAnnouncer, redis_keep
from bot.audit.watch import Alerter, AuditWatch
from bot.core.detectors import DETECTORS
from bot.core.ids import new_worker_id
from bot.core.metrics import Metrics
from bot.core.passkeys import relying_party
from bot.core.records import API_OWNER, SLACK_ID, ApprovalRecord
from bot.core.sealing import HiddenKeyring
from bot.core.security import secrets_of
from bot.core.settings import Settings, SettingsError, reveal
from bot.core.signing import SigningKeys, worker_signing_keys
from bot.core.tasks import Background, RunsFirst
from bot.core.version import build_commit
from bot.core.workspaces import WorkspaceRef
from bot.policy.bundle import PolicyError
from bot.policy.engine import PolicyEngine
from bot.redaction import Hiding
from bot.runs.manager import RunManager
from bot.runs.models import resolve_model_config
from bot.runs.response_cache import model_cache
from bot.runs.summaries import ModelSummaries
from bot.runs.supervisor import Supervisor
from bot.runs.teams import TeamOptions
from bot.server import Worker, serve_worker, withdraw_on_uninstall
from bot.services import Services, direct_message, due_parts
from bot.sessions import RunThreads, ThreadsTold
from bot.slack.alerts_channel import AlertsChannel
from bot.slack.blocks.text import escape
from bot.slack.client import CountingWebClient, create_slack_client, create_workspace_client
from bot.slack.directory import Directory
from bot.slackapp.app import Edge, create_bolt_app, create_workspaces
from bot.slackapp.context import tenant_answer, tenant_of
from bot.slackapp.members import why_not
from bot.stepup.enrolment import Enrolment
from bot.stepup.reveal import Reveal
from bot.stepup.votes import Confirmation
from bot.store import DecideResult, Store, connect
from bot.teams import create_teams
from bot.teams.people import TeamsPeople
from bot.tenancy import Tenancy

log = logging.getLogger(__name__)


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
    store = Store(
        redis,
        prefix=settings.store_prefix,
        audit_retention=settings.audit_retention,
        run_retention=settings.run_retention,
    )
    store.hidden.use(hidden_keyring(settings))
    return redis, store, create_slack_client(settings, metrics, retry_429=False)


def tenant_home_parts(
    settings: Settings, base: Services, *, store: Store, slack: AsyncWebClient
) -> tuple[Redis, Store, AsyncWebClient]:
    """`home_parts` of a tenant: the base's Home connections, a store on them with the tenant's keys (so its Home
    queue and `views.publish` budget are its own: one workspace's redraw storm never pauses another's Homes), and a
    client with the tenant's token that does not retry a 429 itself."""
    home_store = Store(base.home_redis, prefix=store.keys.prefix, root=store.keys.root,
                       audit_retention=settings.audit_retention, run_retention=settings.run_retention)
    home_slack = create_workspace_client(settings, base.metrics, token=str(slack.token or ""), retry_429=False)
    home_slack.session = slack.session
    return base.home_redis, home_store, home_slack


def approval_service(
    *, store: Store, cards: CardService, waiter: DecisionWaiter, directory: Directory, events: Events,
    background: Background, worker_id: str, approvals_channel: str, default_timeout: int,
    policies: PolicyEngine | None = None, admin_users: Sequence[str] = (), metrics: Metrics | None = None,
    sweeper_wake: Callable[[], None] | None = None, runs_first: RunsFirst | None = None,
    external_teams: Sequence[str] = (), detectors: Sequence[str] = DETECTORS,
) -> ApprovalService:
    """The approval core of one worker, with its decision chain: the deciders listed in order (bot/approvals/
    deciders/: a new one is a module there and a line here) and its end, where a person decides. `policies`: the
    worker's engine (None: the shipped defaults alone); `events`: where the core says what happened (its listeners
    subscribed by the caller); `sweeper_wake`: called when an approval's card is posted."""
    policies = policies or PolicyEngine.load(None, store=store)
    delivery = Delivery(store=store, cards=cards, directory=directory, events=events, sweeper_wake=sweeper_wake,
                        cancel=lambda approval_id, by, reason: approvals.cancel(approval_id, by=by, reason=reason))
    engine = policies
    hiding = Hiding(store, rules=lambda: engine.bundle.redact, detectors=detectors)  # the chain's end stores redacted
    fatigue = FatigueRouting(store, rerouted=metrics.fatigue_rerouted.inc if metrics is not None else None)
    chain = DecisionChain(
        store=store, approvals_channel=approvals_channel, default_timeout=default_timeout, hiding=hiding,
        links=[
            Freeze(store),  # first: a frozen scope refuses every new ask in it at once
            Policies(policies, store=store, background=background, admin_users=admin_users),
            Mode(),
            Rules(store),
        ],
        # a person decides (routed around approvers over `max_asks_per_hour`); what a link decided at once is stored
        end=Person(store, delivery, fatigue=fatigue),
    )
    approvals = ApprovalService(
        store=store, cards=cards, waiter=waiter, directory=directory, background=background,
        worker_id=worker_id, approvals_channel=approvals_channel, default_timeout=default_timeout, chain=chain,
        delivery=delivery, policies=policies, metrics=metrics, runs_first=runs_first, external_teams=external_teams,
    )
    return approvals


def create_services(
    settings: Settings, *, worker_id: str | None = None, base: Services | None = None, store: Store | None = None,
    slack: AsyncWebClient | None = None, team: str | None = None,
) -> Services:
    """Wire one worker's parts. Nothing connects until `start()`. With `base` (the worker's home parts), the parts
    of another tenant (`bot.tenancy.Tenancy.parts`): its `store` (`Store.for_tenant`) and Slack client
    (`Workspaces.for_team`), sharing the base's Redis connections, metrics, worker id, background tasks, policy
    engine and signing keys; the audit log's checkpoints and archive stay the base's (one log for every tenant).
    `team`: with an org-wide token, the workspace named where Slack needs one (`team_id`)."""
    if base is not None:
        assert store is not None and slack is not None, "a tenant's parts need its store and Slack client"
        worker_id, redis, metrics = base.worker_id, base.redis, base.metrics
        model_config = base.model_config
    else:
        worker_id = worker_id or new_worker_id()
        model_config = resolve_model_config(
            model_config_path=settings.model_config_path, openai_api_key=reveal(settings.openai_api_key)
        )
        redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
        store = Store(
            redis,
            prefix=settings.store_prefix,
            audit_retention=settings.audit_retention,
            run_retention=settings.run_retention,
            # a click counts only if Redis runs it well before the worker stops waiting (and answers "try again")
            click_window=settings.redis_timeout * 0.75,
        )
        store.hidden.use(hidden_keyring(settings))
        if not store.hidden.ready:
            log.warning("SECRETS_KEY is not set: values hidden in tool calls' arguments are not kept (a program's GET"
                        " answers the redacted arguments, arguments_redacted true; nothing to reveal);"
                        " see docs/operators/sensitive-values.md")
        metrics = Metrics(commit=build_commit(), top_people=settings.metrics_top_people)
        slack = create_slack_client(settings, metrics)
    directory = Directory(slack, ttl=settings.usergroup_cache_seconds, shared=store.people, team=team)
    store.audit.refused = lambda reason: metrics.refusals.labels(reason).inc()
    store.approvals.refused = lambda reason: metrics.refusals.labels(reason).inc()  # the decide step's own
    runs_first = RunsFirst()  # after a decision, the run it woke goes before the Slack redraws it set off
    cards = CardService(slack, store=store, shared=directory.shared, runs_first=runs_first,
                        pages=settings.step_up_url or settings.public_url)
    events = Events()  # what the approval core says happened; its listeners subscribed below (`listen`)
    background = Background() if base is None else base.background
    threads = RunThreads(slack, background, runs_first)
    home_redis, home_store, home_slack = home_parts(settings, metrics) if base is None else tenant_home_parts(
        settings, base, store=store, slack=slack)
    homes = HomeService(
        store=home_store,
        slack=home_slack,
        directory=directory,
        worker_id=worker_id,
        background=background,
        admin_users=settings.admin_users,
        publishes_per_minute=settings.home_publishes_per_minute,
        budget_window=settings.home_budget_window,
    )
    # a redraw is done once every Home shows it too: the outbox awaits the answer (a direct hook, not an event)
    cards.after_draw = homes.refresh_for
    signing = worker_signing_keys(settings) if base is None else base.signing
    receipts = None if signing is None else ReceiptIssuer(
        store, signing, issuer=issuer_of(settings.receipt_issuer, settings.public_url), ttl=settings.receipt_ttl,
        announcer=KeyAnnouncer(store, worker=worker_id), names=directory.name_of,
    )
    webhooks = WebhookSender(
        store, allow_private=settings.api_allow_private_callbacks, lease=settings.webhook_lease_seconds,
        names=directory.name_of, receipts=receipts, not_taken=cards.note_not_taken,
        counted=lambda outcome: metrics.webhooks.labels(outcome).inc(),
    )
    # the Approvals API's long-polls: woken by decisions of API_OWNER's approvals (a tenant's through the worker's);
    # and the webhook sender: a decision of a program's may have a webhook to send now
    api_waiters = ApiWaiters(None if base is None else base.api.waiters)
    waiter = DecisionWaiter(store, worker_id, on_reconnect=metrics.redis_reconnects.inc, also={
        API_OWNER: Together(api_waiters, sweepers=[webhooks.wake])}) if base is None else base.waiter.view(store)

    async def on_timed_out(result: DecideResult) -> None:
        assert result.approval is not None
        approvals.on_decided(result.approval, owner_heard=result.owner_heard)

    sweeper = DeadlineSweeper(store, on_decided=on_timed_out)
    nudger = Nudger(store=store, slack=slack, directory=directory, cards=cards, breached=metrics.sla_breaches.inc,
                    events=events)

    def opened() -> None:  # a new approval: its deadline or first reminder may be the nearest
        sweeper.wake()
        nudger.wake()

    if base is not None:
        policies = base.approvals.policies  # one engine, one reload loop: Cedar sees `context.team` of each ask
    else:
        try:
            policies = PolicyEngine.load(settings.policy_dir or None, store=store, worker=worker_id,
                                         mode="shadow" if settings.policy_mode == "shadow" else "enforce")
        except PolicyError as exc:
            raise SettingsError(f"POLICY_DIR: {exc}") from None
        policies.vet = partial(unknown_groups, directory)
    approvals = approval_service(
        store=store,
        cards=cards,
        waiter=waiter,
        directory=directory,
        events=events,
        background=background,
        worker_id=worker_id,
        # APPROVALS_CHANNEL is the home workspace's: another's cards go to the ask's channel unless its settings
        # name an approvals channel (`/agent config approvals_channel`)
        approvals_channel=settings.approvals_channel if base is None else "",
        default_timeout=settings.approval_timeout,
        policies=policies,
        admin_users=settings.admin_users,
        external_teams=settings.external_teams,
        metrics=metrics,
        sweeper_wake=opened,
        runs_first=runs_first,
        detectors=settings.redact_detectors,
    )
    approvals.pages_url = settings.step_up_url or settings.public_url  # a brief's page (fit to decide)
    runs = RunManager(
        store=store,
        approvals=approvals,
        threads=threads,
        background=background,
        worker_id=worker_id,
        model_config=model_config,
        metrics=metrics,
        team_options=team_options(settings),
        model_cache=model_cache(settings, redis),
        max_runs_per_user=settings.max_runs_per_user,
        max_runs_per_channel=settings.max_runs_per_channel,
        secrets=secrets_of(settings),
        lease_seconds=settings.heartbeat_seconds,
        homes=homes,
    )
    told = ThreadsTold(threads, store=store, cards=cards, names=approvals.name_of)
    listen(events, metrics=metrics, cards=cards, directory=directory, hiding=approvals.chain.hiding, homes=homes,
           runs=runs, told=told, background=background)
    waiter.set_control_handler(runs.on_control)
    rules = RuleBook(store=store, approvals=approvals, admin_users=settings.admin_users)

    def rules_changed(channel: str) -> None:  # the channel's admins see its rules on their Home
        background.spawn(homes.refresh_admins(channel), name=f"rules-{channel}")

    rules.on_change = rules_changed
    rp = relying_party(settings.step_up_url or settings.public_url)

    async def tell(person: str, text: str) -> None:
        """A direct message to `person`, sent at once in the background (a passkey of theirs added or removed)."""
        background.spawn(direct_message(slack, directory, person, text), name=f"tell-{person}")

    cooloff = settings.step_up_new_passkey_cooloff
    stepup = Enrolment(store, directory, rp, changed=homes.refresh_person, tell=tell, cooloff=cooloff)
    confirmations = Confirmation(store, approvals, directory, approvals.policies, rp, cooloff=cooloff,
                                 counted=lambda outcome: metrics.stepup.labels(outcome).inc())
    reveals = Reveal(store, approvals, rp, cooloff=cooloff)

    async def confirm_edit(user: str, approval: ApprovalRecord, card: tuple[str, str]) -> None:  # a Save & approve
        await slack.chat_postEphemeral(channel=card[0], user=user, text=await confirmations.answer(user, approval))

    approvals.edits.set_step_up_handler(confirm_edit)
    if (teams := None if base is not None else create_teams(settings, store=store, approvals=approvals,
            directory=directory, background=background, step_up=confirmations.answer, metrics=metrics)) is not None:
        events.subscribe(teams.delivery.listener)  # a surface more, after the Slack cards: Teams' copies follow the
        cards.after_draw = teams.delivery.after_draw(cards.after_draw)  # core's events and each redraw of the card
        approvals.edits.set_step_up_handler(teams.invokes.confirm_edit, surface="teams")  # a Teams Save & approve
    parts = Services(
        settings=settings,
        worker_id=worker_id,
        redis=redis,
        store=store,
        slack=slack,
        home_redis=home_redis,
        home_slack=home_slack,
        cards=cards,
        directory=directory,
        waiter=waiter,
        sweeper=sweeper,
        nudger=nudger,
        approvals=approvals,
        rules=rules,
        homes=homes,
        runs=runs,
        supervisor=Supervisor(
            store=store,
            runs=runs,
            approvals=approvals,
            worker_id=worker_id,
            ttl=settings.heartbeat_seconds,
            scan_every=max(0.5, settings.heartbeat_seconds / 2),
            heart=None if base is None else base.supervisor,
        ),
        background=background,
        metrics=metrics,
        model_config=model_config,
        api=ApprovalsApi(store=store, approvals=approvals, waiters=api_waiters, names=directory.name_of,
                         receipts=receipts, user_by_email=directory.user_by_email,
                         summaries=ModelSummaries(model_config) if settings.model_config_path else None),
        webhooks=webhooks,
        stepup=stepup,
        confirmations=confirmations,
        reveals=reveals,
        digest=WeeklyDigest(store=store, slack=slack, directory=directory, admin_users=settings.admin_users,
                            mark_due=homes.mark_due),
        signing=signing,
        checkpoints=None if base is not None else AuditCheckpoints(
            store, signing, worker=worker_id, every=settings.audit_checkpoint_every,
            interval=settings.audit_checkpoint_seconds, retention=redis_keep(settings),
            archive=bool(settings.audit_archive),
        ),
        archiver=None if base is not None else archiver_of(settings, store, signing, worker_id),
        alerts=None if base is not None else AlertsChannel(slack, settings.alerts_channel),
        watch=None if base is not None else watch_of(settings, store, signing, slack, metrics, worker_id),
        base=base,
        teams=teams,
    )
    found = due_parts(parts)
    if base is None:  # the worker's loops, serving home alone until `Tenancy` serves every tenant through them
        parts.loops = worker_loops(store, home=found, pace={"runs": max(0.5, settings.heartbeat_seconds / 2),
                                                              "homes": IDLE_POLL})
    tell_loops(found, parts.loops if base is None else base.loops)
    return parts


def create_worker(settings: Settings, *, services: Services | None = None) -> Worker:
    """One worker, wired (over HTTP, `create_web_app`, or Socket Mode, bot/__main__.py): its parts (`services`, or
    made here), the workspaces' tokens, every other workspace's parts (`Tenancy`, built as its first request comes),
    the home Bolt app, and what each is told of. Nothing connects until `bot.server.start_worker`."""
    services = services or create_services(settings)
    workspaces = create_workspaces(services)
    workspaces.on_added = services.store.tenants.note_added  # what `keys create` checks (bot/api/keys.py)
    tenancy = Tenancy(services, workspaces, build=create_services)
    services.waiter.on_notice.append(tenancy.heard)
    for kind, loop in services.loops.items():  # the worker's loops do every tenant's due work, through its parts
        loop.of = partial(tenancy.due_part, kind)  # another worker's word that a workspace was uninstalled
    workspaces.on_uninstalled.append(partial(withdraw_on_uninstall, tenancy))  # once, whichever way Slack comes in
    tenancy.on_built.append(tenant_votes_checked)
    # a vote's page checks its person as a click does, asking afresh (a Teams person: while TEAMS_FILE lists them)
    services.confirmations.people = TeamsPeople(settings, services.store, services.directory).checking(
        partial(why_not, services, workspaces.home.answer, fresh=True))
    return Worker(services, workspaces, tenancy, create_bolt_app(services, workspaces), Edge(tenancy))


def tenant_votes_checked(parts: Services, ref: WorkspaceRef) -> None:
    """A tenant's step-up votes check their person as its clicks do (against its workspace), asking Slack afresh."""
    parts.confirmations.people = partial(why_not, parts, partial(tenant_answer, tenant_of(ref)), fresh=True)


def create_web_app(settings: Settings, *, services: Services | None = None) -> web.Application:
    """The HTTP server of one worker (`create_worker`, mounted by bot/server.py). Its parts start with the server and
    stop with it."""
    return serve_worker(settings, create_worker(settings, services=services))


def listen(
    events: Events, *, metrics: Metrics, cards: CardService, directory: Directory, hiding: Hiding, homes: HomeService,
    runs: RunManager, told: ThreadsTold, background: Background,
) -> None:
    """Who listens to the approval core's events, in the order they are told (bot/approvals/events.py): a new
    surface is one more line here."""

    def counted(event: Event) -> None:  # the metrics: a decision and how long it took
        if isinstance(event, ApprovalDecided) and (approval := event.approval).decided_at:
            metrics.decided(approval.origin_channel, approval.status, approval.decided_at - approval.created_at)

    def drawn(event: Event) -> None:  # the cards: redrawn decided; a program's requester told in Slack
        if not isinstance(event, ApprovalDecided):
            return
        approval = event.approval
        cards.schedule(approval)
        if approval.owner == API_OWNER and SLACK_ID.fullmatch(approval.requester) and approval.status != "cancelled":
            background.spawn(cards.tell_requester(approval, directory), name=f"tell-{approval.id}")

    def hidden_ended(event: Event) -> None:  # the redaction: hidden values end with their approval
        if isinstance(event, ApprovalDecided) and (event.approval.hidden or event.approval.edit_hidden):
            background.spawn(hiding.ended(event.approval)(), name=f"hidden-{event.approval.id}")

    def shown_at_home(event: Event) -> None:  # the Homes: who may decide sees a posted card
        if isinstance(event, CardPosted):
            background.spawn(homes.refresh_for(event.approval), name=f"homes-{event.approval.id}")

    def adopted(event: Event) -> None:  # the runs: one whose worker may be gone continued here
        if isinstance(event, ApprovalDecided) and event.orphaned:
            background.spawn(runs.continue_if_orphaned(event.approval), name=f"adopt-{event.approval.run_id}")

    for listener in (counted, drawn, hidden_ended, shown_at_home, adopted, told.heard):
        events.subscribe(listener)


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
