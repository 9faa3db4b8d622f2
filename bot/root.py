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
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.api.service import ApiWaiters, ApprovalsApi
from bot.api.webhooks import WebhookSender
from bot.approvals.chain import DecisionChain
from bot.approvals.deciders.freeze import Freeze
from bot.approvals.deciders.mode import Mode
from bot.approvals.deciders.person import Person
from bot.approvals.deciders.policies import Policies
from bot.approvals.deciders.rules import Rules
from bot.approvals.due_loops import DeadlineSweeper, tell_loops, worker_loops
from bot.approvals.events import ApprovalDecided, CardPosted, Event, Events
from bot.approvals.fatigue import FatigueRouting
from bot.approvals.freeze_spread import FreezeSpreader
from bot.approvals.nudges import Nudger
from bot.approvals.oncall import OnCallRouting
from bot.approvals.ports import OnCallSchedules, Reacher
from bot.approvals.reach import Reach
from bot.approvals.rulebook import RuleBook
from bot.approvals.service import ApprovalService
from bot.approvals.triage import TRIAGE_TIMEOUT, Triage, TriageModel
from bot.approvals.waiter import DecisionWaiter, Together
from bot.audit.siem.streamer import siem_of
from bot.core.detectors import DETECTORS
from bot.core.metrics import Metrics
from bot.core.records import API_OWNER, SLACK_ID, ApprovalRecord
from bot.core.settings import Settings, SettingsError, reveal
from bot.core.signing import worker_signing_keys
from bot.core.tasks import Background, RunsFirst
from bot.core.workspaces import WorkspaceRef
from bot.email.pages import email_people_ours
from bot.email.surface import EmailSurface, email_surface
from bot.msteams import Teams, create_teams
from bot.people import People
from bot.people.oncall import OnCall
from bot.people.oncall_providers import provider
from bot.policy.bundle import PolicyError
from bot.policy.engine import PolicyEngine
from bot.push.surface import PushSurface, push_surface
from bot.redaction import Hiding
from bot.runs.manager import RunManager
from bot.runs.summaries import ModelSummaries
from bot.runs.triage_model import ModelTriage, model_names
from bot.server import Worker, serve_worker, withdraw_on_uninstall
from bot.services import (
    Services,
    WhoIsWho,
    api_senders,
    audit_parts,
    due_parts,
    footing,
    home_parts,
    home_service,
    run_manager,
    step_up_parts,
    supervisor_of,
    tenant_home_parts,
    who_is_who,
)
from bot.sessions import RunThreads, ThreadsTold
from bot.slack.blocks.rules import rule_used_line
from bot.slack.card_sync import CardService
from bot.slack.delivery import Delivery
from bot.slack.digest import ParkedMail, WeeklyDigest
from bot.slack.directory import Directory
from bot.slack.homes import IDLE_POLL, HomeService
from bot.slack.nudges import SlackNudges
from bot.slack.policy_groups import unknown_groups
from bot.slack.reach import SlackReach
from bot.slack.refusals import SLACK
from bot.slackapp.app import Edge, create_bolt_app, create_workspaces
from bot.slackapp.context import tenant_answer, tenant_of
from bot.slackapp.members import why_not
from bot.stepup.votes import Confirmation
from bot.store import DecideResult, Store
from bot.store.connection import cluster_retries_of
from bot.tenancy import Tenancy
from bot.tickets.desk import TicketDesk, ticket_desk

log = logging.getLogger(__name__)


def approval_service(
    *, store: Store, cards: CardService, waiter: DecisionWaiter, directory: Directory, events: Events,
    background: Background, worker_id: str, approvals_channel: str, default_timeout: int,
    policies: PolicyEngine | None = None, admin_users: Sequence[str] = (), metrics: Metrics | None = None,
    sweeper_wake: Callable[[], None] | None = None, runs_first: RunsFirst | None = None,
    external_teams: Sequence[str] = (), detectors: Sequence[str] = DETECTORS, people: People,
    triage: TriageModel | None = None, triage_timeout: float = TRIAGE_TIMEOUT, triage_budget: int = 0,
    triage_hold: float = 0.0, oncall: OnCallRouting | None = None,
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
    triaging = None if triage is None else Triage(triage, hiding=hiding, store=store, background=background,
                                                  timeout=triage_timeout, deciders=engine.evaluator.has_voters,
                                                  budget=triage_budget, hold=triage_hold)
    chain = DecisionChain(
        store=store, approvals_channel=approvals_channel, default_timeout=default_timeout, hiding=hiding,
        links=[
            Freeze(store),  # first: a frozen scope refuses every new ask in it at once
            Policies(policies, store=store, background=background, admin_users=admin_users, triage=triaging),
            Mode(),
            Rules(store, line=rule_used_line),
        ],
        # a person decides (routed around approvers over `max_asks_per_hour`); what a link decided at once is stored
        end=Person(store, delivery, fatigue=fatigue, oncall=oncall),  # `oncall:` approvers read at the ask
    )
    approvals = ApprovalService(
        store=store, cards=cards, waiter=waiter, directory=directory, background=background, people=people,
        worker_id=worker_id, approvals_channel=approvals_channel, default_timeout=default_timeout, chain=chain,
        delivery=delivery, policies=policies, metrics=metrics, runs_first=runs_first, external_teams=external_teams,
        admin_users=admin_users,
    )
    if triaging is not None:  # @triage's model: it decides through the one decide entry, once the card is posted
        triaging.decide = approvals.decisions.decide_as_model
        approvals.model_settled = triaging.settled  # a program's ask answers the model's decision itself
        events.subscribe(triaging.listener)
    return approvals


def create_services(
    settings: Settings, *, worker_id: str | None = None, base: Services | None = None, store: Store | None = None,
    slack: AsyncWebClient | None = None, team: str | None = None,
) -> Services:
    """Wire one worker's parts. Nothing connects until `start()`. With `base` (the worker's home parts), the parts
    of another tenant (`bot.tenancy.Tenancy.parts`): its `store` (`Store.for_tenant`) and Slack client
    (`Workspaces.for_team`), sharing the base's Redis connections, metrics, worker id, background tasks, policy
    engine and signing keys; the audit log's checkpoints and archive stay the base's (every tenant's chain's).
    `team`: with an org-wide token, the workspace named where Slack needs one (`team_id`). The parts are built by
    bot/services.py's builders; what each is told of is set here."""
    worker_id, redis, metrics, model_config, store, slack = footing(
        settings, worker_id=worker_id, base=base, store=store, slack=slack)
    directory = Directory(slack, ttl=settings.usergroup_cache_seconds, shared=store.people, team=team)
    who = who_is_who(settings, store, directory, base)  # the surfaces' accounts under one People (issue 88)
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
    if base is None:  # a Redis Cluster's failovers ridden, counted once a client (a tenant's parts share them)
        count_failovers(metrics, redis, home_redis)
    homes = home_service(settings, store=home_store, slack=home_slack, directory=directory, worker_id=worker_id,
                         background=background, people=who.people)
    # a redraw is done once every Home shows it too: the outbox awaits the answer (a direct hook, not an event)
    cards.after_draw = homes.refresh_for
    signing = worker_signing_keys(settings) if base is None else base.signing
    receipts, webhooks = api_senders(settings, store, signing=signing, worker_id=worker_id, directory=directory,
                                     cards=cards, metrics=metrics)
    api_waiters = ApiWaiters(None if base is None else base.api.waiters)
    waiter, sweeper, nudger, approvals = approval_core(
        settings, base=base, store=store, slack=slack, directory=directory, cards=cards, events=events,
        background=background, metrics=metrics, worker_id=worker_id, runs_first=runs_first, api_waiters=api_waiters,
        webhooks=webhooks, people=who.people, model_config=model_config)
    runs = run_manager(settings, store=store, redis=redis, approvals=approvals, threads=threads,
                       background=background, worker_id=worker_id, model_config=model_config, metrics=metrics,
                       homes=homes)
    told = ThreadsTold(threads, store=store, cards=cards, names=approvals.name_of)
    listen(events, metrics=metrics, cards=cards, directory=directory, hiding=approvals.chain.hiding, homes=homes,
           runs=runs, told=told, background=background)
    waiter.set_control_handler(runs.on_control)
    rules = RuleBook(store=store, approvals=approvals, admin_users=settings.admin_users)
    rules.on_change = partial(rules_changed, background, homes)  # the channel's admins see its rules on their Home
    stepup, confirmations, reveals = step_up_parts(settings, store=store, approvals=approvals, directory=directory,
                                                   homes=homes, slack=slack, background=background, metrics=metrics)
    teams, email, push, reach = surfaces_told(
        settings, base=base, store=store, slack=slack, approvals=approvals, who=who, background=background,
        confirmations=confirmations, metrics=metrics, events=events, cards=cards, directory=directory)
    checkpoints, archiver, alerts, watch = (None, None, None, None) if base is not None else audit_parts(
        settings, store, signing=signing, slack=slack, metrics=metrics, worker_id=worker_id)
    parts = Services(
        settings=settings, worker_id=worker_id, redis=redis, store=store, slack=slack, home_redis=home_redis,
        home_slack=home_slack, cards=cards, directory=directory, waiter=waiter, sweeper=sweeper, nudger=nudger,
        approvals=approvals, rules=rules, homes=homes, runs=runs, background=background, metrics=metrics,
        supervisor=supervisor_of(settings, store=store, runs=runs, approvals=approvals, cards=cards,
                                 worker_id=worker_id, base=base), model_config=model_config,
        api=ApprovalsApi(store=store, approvals=approvals, waiters=api_waiters, names=directory.name_of,
                         receipts=receipts, user_by_email=directory.user_by_email,
                         summaries=ModelSummaries(model_config) if settings.model_config_path else None,
                         mails=email is not None or (base is not None and base.email is not None)),
        webhooks=webhooks, stepup=stepup, confirmations=confirmations, reveals=reveals, push=push, reach=reach,
        digest=WeeklyDigest(store=store, slack=slack, directory=directory, admin_users=settings.admin_users,
                            mark_due=homes.mark_due, mail_parked=parked_mailer(email, base)),
        signing=signing, checkpoints=checkpoints, archiver=archiver, alerts=alerts, watch=watch, base=base,
        msteams=teams, email=email, who=who, siem=None if base else siem_of(settings, store, metrics, worker_id),
        tickets=tickets_told(settings, store=store, events=events, background=background, metrics=metrics),
        freeze_spread=None if base is not None else FreezeSpreader(store),  # (sharded: a change the copies missed)
    )
    found = due_parts(parts)
    if base is None:  # the worker's loops, serving home alone until `Tenancy` serves every tenant through them
        parts.loops = worker_loops(store, home=found, pace={"runs": max(0.5, settings.heartbeat_seconds / 2),
                                                              "homes": IDLE_POLL})
    tell_loops(found, parts.loops if base is None else base.loops)
    return parts


def rules_changed(background: Background, homes: HomeService, channel: str) -> None:
    """A channel's rules changed: its admins' Homes redrawn (they show its rules)."""
    background.spawn(homes.refresh_admins(channel), name=f"rules-{channel}")


def count_failovers(metrics: Metrics, *clients: object) -> None:
    """Each client's failovers ridden (a Redis Cluster's MOVED, CLUSTERDOWN), counted once a client."""
    for client in {id(c): c for c in clients}.values():
        cluster_retries_of(client).listen(metrics.redis_cluster_retried)


def approval_core(
    settings: Settings, *, base: Services | None, store: Store, slack: AsyncWebClient, directory: Directory,
    cards: CardService, events: Events, background: Background, metrics: Metrics, worker_id: str,
    runs_first: RunsFirst, api_waiters: ApiWaiters, webhooks: WebhookSender, people: People,
    model_config: Mapping[str, object],
) -> tuple[DecisionWaiter, DeadlineSweeper, Nudger, ApprovalService]:
    """The approval core with its decision waiter, deadline sweeper and reminders, each told of the others."""
    # the Approvals API's long-polls: woken by decisions of API_OWNER's approvals (a tenant's through the worker's);
    # and the webhook sender: a decision of a program's may have a webhook to send now
    waiter = DecisionWaiter(store, worker_id, on_reconnect=metrics.redis_reconnects.inc, also={
        API_OWNER: Together(api_waiters, sweepers=[webhooks.wake])}) if base is None else base.waiter.view(store)

    async def on_timed_out(result: DecideResult) -> None:
        assert result.approval is not None
        approvals.on_decided(result.approval, owner_heard=result.owner_heard)

    sweeper = DeadlineSweeper(store, on_decided=on_timed_out)
    oncall = on_call(settings, store=store, people=people, metrics=metrics)
    nudger = Nudger(store=store, teller=SlackNudges(store=store, slack=slack, directory=directory, cards=cards),
                    cards=cards, breached=metrics.sla_breaches.inc, events=events, oncall=oncall)

    def opened() -> None:  # a new approval: its deadline or first reminder may be the nearest
        sweeper.wake()
        nudger.wake()

    models = model_names(model_config) if settings.model_config_path else frozenset()  # what @triage may name
    approvals = approval_service(
        store=store, cards=cards, waiter=waiter, directory=directory, events=events, background=background,
        worker_id=worker_id, default_timeout=settings.approval_timeout, admin_users=settings.admin_users,
        # APPROVALS_CHANNEL is the home workspace's: another's cards go to the ask's channel unless its settings
        # name an approvals channel (`/agent config approvals_channel`)
        approvals_channel=settings.approvals_channel if base is None else "",
        # one engine, one reload loop: Cedar sees `context.team` of each ask
        policies=policy_engine(settings, store, worker_id, directory, models=models) if base is None
        else base.approvals.policies,
        external_teams=settings.external_teams, metrics=metrics, sweeper_wake=opened, runs_first=runs_first,
        detectors=settings.redact_detectors, people=people, triage_timeout=settings.triage_timeout,
        triage_budget=settings.triage_budget, triage_hold=settings.triage_hold,
        triage=ModelTriage(model_config) if settings.model_config_path else None, oncall=oncall,
    )
    approvals.decisions.pages_url = settings.step_up_url or settings.public_url  # a brief's page (fit to decide)
    return waiter, sweeper, nudger, approvals


def on_call(settings: Settings, *, store: Store, people: People, metrics: Metrics) -> OnCallRouting:
    """`oncall:<schedule>` approvers (issue 90): who is on call now, as ONCALL_PROVIDER says (none set: no schedule
    can be read, their approvals go to the fallback approvers), kept a minute in Redis for every worker."""
    name, token = settings.oncall_provider, reveal(settings.oncall_token) or ""
    chosen = provider(name, base=settings.oncall_base, token=token) if name else None
    return OnCallRouting(OnCall(provider=chosen, people=people, kept=store.oncall, timeout=settings.oncall_timeout,
                                cache_seconds=settings.oncall_cache_seconds, counter=metrics.oncall_lookups), store)


def surfaces_told(
    settings: Settings, *, base: Services | None, store: Store, slack: AsyncWebClient, approvals: ApprovalService,
    who: WhoIsWho, background: Background, confirmations: Confirmation, metrics: Metrics, events: Events,
    cards: CardService, directory: Directory,
) -> tuple[Teams | None, EmailSurface | None, PushSurface | None, Reach]:
    """A Save & approve's step-up, in Slack; Teams (the worker's, when TEAMS_* are set), e-mail (with SMTP_URL) and
    Web Push (with VAPID_PRIVATE_KEY), told of the core; and the routes across surfaces, reaching people through them
    and whoever is on call (issue 90)."""
    async def confirm_edit(user: str, approval: ApprovalRecord, card: tuple[str, str]) -> None:  # a Save & approve
        said = await confirmations.answer(user, approval, writing=SLACK)
        await slack.chat_postEphemeral(channel=card[0], user=user, text=said)

    approvals.edits.set_step_up_handler(confirm_edit)
    email = None if base is not None else email_surface(settings, store=store, background=background, metrics=metrics,
                                                        same=who.people.same, email_of=who.people.email_of)
    if email is not None:  # a surface more: its mails follow the core's events; a reminder published is due in its
        events.subscribe(email.listener)  # due set in the same step as its mark (no crash loses its mail, #88)
        store.nudges.published_to.append(store.email_due)
    teams = None if base is not None else create_teams(settings, store=store, approvals=approvals, people=who.teams,
                                                       background=background, step_up=confirmations.answer,
                                                       metrics=metrics)
    if teams is not None:
        events.subscribe(teams.delivery.listener)  # a surface more, after the Slack cards: Teams' copies follow the
        cards.after_draw = teams.delivery.after_draw(cards.after_draw)  # core's events and each redraw of the card
        approvals.edits.set_step_up_handler(teams.invokes.confirm_edit, surface="teams")  # a Teams Save & approve
    if email is not None:  # Slack refusing its token: an approval with e-mail approvers waits for them (#88)
        approvals.delivery.elsewhere = email.elsewhere(approvals.delivery.elsewhere)
    push = None if base is not None else push_surface(settings, store=store, background=background, metrics=metrics,
                                                      same=who.people.same)
    if push is not None:  # a surface more: its pushes follow the core's events; a reminder published is due in its
        events.subscribe(push.listener)  # due set in the same step as its mark (as e-mail's, #90)
        store.nudges.published_to.append(store.push_due)
    slack_reach = SlackReach(store=store, directory=directory, cards=cards)
    reach = reach_told(store, events, background, {"slack": slack_reach, "email": email, "push": push},
                       oncall=on_call(settings, store=store, people=who.people, metrics=metrics).schedules)
    return teams, email, push, reach


def tickets_told(settings: Settings, *, store: Store, events: Events, background: Background,
                 metrics: Metrics) -> TicketDesk | None:
    """The change tickets' desk (with JIRA_URL or SERVICENOW_URL), told of the core: each tenant's its own, on its
    store (its due set drained by the worker's loop of the kind, `bot.tenancy`)."""
    desk = ticket_desk(settings, store=store, background=background, metrics=metrics)
    if desk is not None:
        events.subscribe(desk.listener)
    return desk


def parked_mailer(email: EmailSurface | None, base: Services | None) -> ParkedMail | None:
    """Where the weekly digest of parked approvals goes to an admin without Slack (`email:<address>`): e-mail, with
    SMTP_URL (a tenant's: the worker's)."""
    mailer = email if email is not None else base.email if base is not None else None
    return None if mailer is None else mailer.parked_digest


def reach_told(store: Store, events: Events, background: Background, reachers: Mapping[str, Reacher | None], *,
               oncall: OnCallSchedules) -> Reach:
    """Routes across surfaces (issue 90), told of the core: each surface's `Reacher` under its name (Slack's DMs,
    e-mail's approval mail, push; a surface not configured is left out: its step is said skipped), and who is on call
    for an `oncall:` step."""
    reach = Reach(store=store, reachers={name: r for name, r in reachers.items() if r is not None},
                  background=background, oncall=oncall)
    events.subscribe(reach.listener)
    return reach


def policy_engine(settings: Settings, store: Store, worker_id: str, directory: Directory, *,
                  models: frozenset[str] = frozenset()) -> PolicyEngine:
    """The worker's policy engine (POLICY_DIR; a bad bundle stops the start), its bundles' groups checked with Slack."""
    try:
        policies = PolicyEngine.load(settings.policy_dir or None, store=store, worker=worker_id, models=models,
                                     mode="shadow" if settings.policy_mode == "shadow" else "enforce")
    except PolicyError as exc:
        raise SettingsError(f"POLICY_DIR: {exc}") from None
    policies.vet = partial(unknown_groups, directory)
    return policies


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
    services.confirmations.people = services.who.teams.checking(partial(why_not, services, workspaces.home.answer,
                                                                        fresh=True))
    if services.email is not None:  # an e-mail-only person (their address verified at sign-in) is one of ours too
        services.confirmations.people = email_people_ours(services.confirmations.people)
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
