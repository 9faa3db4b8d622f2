"""The approval service: every step of an approval, for every surface, in one place.

The waiting side (the worker that owns the run)::

    ask(request, run)   -> open: the decision chain (bot/approvals/chain.py: policies, the input mode, a rule,
                           a person), walked once; for a person, store it (fenced), post its card, note the card,
                           mark the run waiting (the port `CardDelivery`: Slack's, bot/slack/delivery.py; its
                           thread's waiting line and header follow in the background, in order)
                        -> wait: the owner's pub/sub subscription wakes it (nothing else is read from it)
                        -> take: consume the decision from the record, once (fenced), as a `Decision`

The deciding side (a click, a modal, a timeout, a cancel, on any worker)::

    decisions.decide(person, surface, verb)  -> the one entry of a person's vote, whatever the surface
                                                (bot/approvals/decisions.py: the decide step with every approver rule)
    reverse_triage(person, surface)          -> the one step of a Reverse of a triage model's held approval, whatever
                                                the surface: who may (the channel's admins), refused and audited else
    on_decided(approval)                     -> say it was decided (`events.ApprovalDecided`: its card(s) redrawn, the
                                                run continued here if its worker is gone, ...)

What happens after (a card redrawn on every surface, a Home, a run's thread, the metrics) is published once
(bot/approvals/events.py) to the listeners bot/root.py lists. What stays a direct call is what the core needs before
it answers: the chain and its redaction, the waiter (the hot path), `RunsFirst`, the decide step's answers to a click,
the edits (bot/approvals/edits.py) and a Revise's arguments as JSON (bot/approvals/revisions.py: `revisions`). The
runs (bot/runs/manager.py) and the Approvals API ask here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import replace

from agent_approvals.approver import ApprovalRequest, Cancellation, Decision, Outcome
from agent_approvals.modes import Verdict

from bot.approvals.chain import Ask, DecisionChain, End
from bot.approvals.decider_policies import DeciderPolicies
from bot.approvals.deciders.mode import automatic_entry
from bot.approvals.decisions import REFUSAL_QUIET, Decisions
from bot.approvals.edits import Edits
from bot.approvals.events import ApprovalDecided, ApprovalEnded, ApprovalOpened, Events
from bot.approvals.opening import Opened, OpenRefused, ProgramAsk, changes_line, request_record
from bot.approvals.ports import CardDelivery, CardRedraws, NameDirectory
from bot.approvals.revisions import Revisions
from bot.approvals.rights import is_admin
from bot.approvals.triage_hold import Reversal, reverse_triage
from bot.approvals.waiter import DecisionWaiter
from bot.core.metrics import Metrics
from bot.core.people import SurfaceName, surface_of
from bot.core.records import API_OWNER, ApprovalRecord, ChannelSettings, RunRecord
from bot.core.tasks import Background, RunsFirst
from bot.core.workspaces import WorkspaceRef
from bot.people import People
from bot.policy.engine import PolicyEngine
from bot.store import DecideResult, Fence, Fenced, Store, persistently
from bot.store.runs import Consumed

log = logging.getLogger(__name__)

NAME_WITHIN = 2.0  # seconds a person's name is waited for (users.info) before their id stands for it
NO_OPINION = Verdict("")  # the input mode leaves the step to a person


class ApprovalService:
    """One worker's (or one program's) approvals: asking, deciding, showing (see the module docstring).

    Args:
        worker_id: the owner of the runs this service asks for.
        approvals_channel: where cards go unless a channel's settings name another.
        default_timeout: seconds, unless a channel's settings set their own.
        chain: the decision chain every approval is opened through (its deciders listed by bot/root.py).
        cards: the Slack card's redraws a vote still asks for (Slack's `CardService`, bot/slack/card_sync.py).
        delivery: where a pending approval's card goes (the chain's end, `Person`, posts it through it).
        directory: who a person is by name (`name_of`; the root gives Slack's directory).
        policies: the worker's policy engine (its bundle, reloads and counts; the chain's policies link judges with
            it).
        events: where what happened is published (its listeners subscribed by bot/root.py); the delivery's.
    """

    def __init__(
        self,
        *,
        store: Store,
        cards: CardRedraws,
        waiter: DecisionWaiter,
        directory: NameDirectory,
        background: Background,
        worker_id: str,
        approvals_channel: str,
        default_timeout: int,
        chain: DecisionChain,
        delivery: CardDelivery,
        policies: PolicyEngine,
        metrics: Metrics | None = None,
        runs_first: RunsFirst | None = None,
        external_teams: Collection[str] = (), people: People, admin_users: Collection[str] = (),
    ) -> None:
        self.people = people  # who is who across surfaces (bot/people/): their workspace, their groups
        self.store = store
        self.runs_first = runs_first or RunsFirst()  # a run a decision woke goes before the redraws it set off
        self.delivery = delivery
        self.events: Events = delivery.events
        self.chain = chain
        self.policies = policies
        self.cards = cards
        self.worker_id = worker_id
        self.approvals_channel = approvals_channel
        self.default_timeout = default_timeout
        self.admin_users = tuple(admin_users)  # ADMIN_USERS: admins of every channel (who may Reverse a model)
        # a triage model's decision under way, awaited before a program's ask answers (`Triage.settled`; the root's)
        self.model_settled: Callable[[str], Awaitable[None]] | None = None
        self._waiter = waiter
        self._directory = directory
        self._background = background
        self._metrics = metrics or Metrics()
        self.decisions = Decisions(  # the one entry of a person's vote, whatever the surface
            store=store, waiter=waiter, cards=cards, events=self.events, background=background, hiding=chain.hiding,
            deciders=DeciderPolicies(policies, store, quiet=REFUSAL_QUIET), people=people,
            external_teams=external_teams, on_decided=self.on_decided)
        self.edits = Edits(store, decisions=self.decisions, background=background)
        self.revisions = Revisions(chain.hiding)  # a Revise of the arguments as JSON, from any surface

    async def channel_settings(self, channel: str) -> ChannelSettings:
        """A channel's settings, for a run's next step (read again through a Redis blip)."""
        return await persistently(
            lambda: self.store.settings.get(channel, default_timeout=self.default_timeout),
            what=f"reading the settings of {channel}",
        )

    async def reverse_triage(self, person: str, surface: SurfaceName, *, approval_id: str) -> Reversal:
        """`person`'s Reverse of a triage model's held approval (TRIAGE_HOLD), clicked on any `surface`: the one step
        that decides who may (the approval's channel's admins, ADMIN_USERS: `rights.is_admin`), refuses and audits
        anyone else, and reverses it (bot/approvals/triage_hold.py); what came of it, and what they are told."""
        async def admin(user: str, channel: str) -> bool:
            return is_admin(user, await self.channel_settings(channel), self.admin_users)

        return await reverse_triage(self.store, admin, user=person, approval_id=approval_id, surface=surface)

    # asking --------------------------------------------------------------------------------
    async def ask(
        self,
        request: ApprovalRequest,
        *,
        run: RunRecord,
        fence: Fence,
        tokens: Sequence[Cancellation | None],
        mode: Verdict = NO_OPINION,
    ) -> Decision:
        """Decide a step of the bot's own run: open its approval (the decision chain, with the run's gate's `mode`
        verdict) and, when nobody decided at once, wait for a person's decision (the hot path's waiting end).
        Cancelling any of `tokens` abandons the wait. Raises `Fenced` when another worker took the run over."""
        woken = self._waiter.expect(request.approval_id, take=(run.id, fence))
        try:
            edit = await self.edits.made(request, run)
            if edit is not None and edit.get("changes"):
                request = replace(request, why=changes_line(edit["changes"], request.why))
            # (waiting: the thread's waiting line and the header, off the agent's path, `events.ApprovalOpened`)
            opened = await self.open_request(request, run=run, owner=self.worker_id, fence=fence, mode=mode,
                                             waits=True)
            self.runs_first.arrived(run.id)  # its next step is taken (its card posted): the redraws may go
            if opened.decided is not None:
                return opened.decided
            if opened.status == "exists":  # an ask tried again: decided meanwhile, perhaps (read before waiting)
                self._waiter.wake(request.approval_id)
            if edit is not None and edit.get("approve") and opened.card[1]:
                await self.edits.approve(opened.approval_id, str(edit["by"]), opened.card,
                                         surface=str(edit.get("surface") or ""))
            return await self._wait(run, request.approval_id, fence=fence, woken=woken, tokens=tokens)
        except BaseException:
            self.runs_first.arrived(run.id)
            raise
        finally:
            self._waiter.forget(request.approval_id)

    async def open_request(
        self,
        request: ApprovalRequest,
        *,
        run: RunRecord,
        owner: str,
        fence: Fence | None = None,
        program: ProgramAsk | None = None,
        mode: Verdict | None = None,
        listed: str = "",
        end: End | None = None,
        waits: bool = False,
    ) -> Opened:
        """The one way a request is decided, for a run's step (`ask`, with its gate's `mode` verdict), a program's
        ask (bot/api/service.py) and a call a program's allow-list let through (`listed`, walked to another `end`:
        recorded as allowed, bot/api/allowed.py): the decision chain walked once (bot/approvals/chain.py: the
        deciders bot/root.py lists: the policies, the input mode, a live "always allow" rule, a person), whatever
        decides stored by the store's one atomic open step (`Approvals.open`: limits, idempotency, a rule's use and
        the policy windows in it), so every decision, a person's, a policy's, a rule's or the mode's, is an approval
        that can be read and used once. A pending one gets its card. Said once opened (`events.ApprovalOpened`; `waits`:
        a run's own step, `ask`, waiting for a person).

        Raises `Fenced` (another worker took the run over) or `OpenRefused` (`program`'s limits or idempotency).
        """
        read = await self.chain.settings_of(run.channel)  # (the worker's copy: the open step checks it)
        way = "run" if program is None else "workflow" if program.workflow else program.way
        try:
            opened = await self.chain.walk(Ask(request, run, owner, read.settings, settings_held=read.held,
                                               mode=mode, fence=fence, program=program, listed=listed), end=end)
        except OpenRefused:
            self._metrics.asks.labels(way, "refused").inc()
            raise
        decided = opened.decided
        outcome = ("allowed" if listed else "asked") if decided is None else (  # (a listed call: recorded allowed)
            "allowed" if decided.outcome == "approved" else "denied")
        self._metrics.asks.labels(way, outcome).inc()
        self.events.publish(ApprovalOpened(run, request, opened, line=opened.line, waits=waits))
        if decided is None and program is not None and self.model_settled is not None:
            await self.model_settled(opened.approval_id)  # the model's decision, when it takes one, in its answer
        return opened

    async def walk_quietly(self, request: ApprovalRequest, *, run: RunRecord, owner: str, program: ProgramAsk,
                           end: End) -> Opened:
        """The decision chain walked for `request` to `end`, as `open_request` walks it, with nothing counted or said
        (no ask in the metrics, no `ApprovalOpened`): an AuthZEN evaluation's (bot/api/evaluations.py), a question
        whose end stores nothing. What a person must decide is then asked through `open_request`."""
        read = await self.chain.settings_of(run.channel)
        return await self.chain.walk(Ask(request, run, owner, read.settings, settings_held=read.held,
                                         program=program, quiet=True), end=end)

    async def _wait(
        self,
        run: RunRecord,
        approval_id: str,
        *,
        fence: Fence,
        woken: asyncio.Future[DecideResult | None],
        tokens: Sequence[Cancellation | None],
    ) -> Decision:
        """Wait until the owner's subscription says the approval was decided, then take the decision
        from its record, once, the run marked "running" again in the same step (a run that ended meanwhile keeps
        its final status, and its header is redrawn by who ended it); a decision made on this worker was taken so
        by its decide step already (`take`), and comes with the wake-up. A wake-up that finds it still pending (a
        stray message) waits on. The agent waits for no Slack answer: the thread's line and the header are drawn
        in the background, and its next card is posted at once."""
        take = (run.id, fence)
        while True:
            for token in tokens:
                if token is not None:
                    token.link_future(woken)
            taken = await woken
            self.runs_first.going(run.id)  # (decided on another worker: here, its thread and header wait too)
            woken = self._waiter.expect(approval_id, take=take)  # before reading: a decision from now on wakes it
            status: Consumed
            approval: ApprovalRecord | None
            if taken is not None and taken.approval is not None:  # taken for this run by the decide step here
                status, approval, running = "ok", taken.approval, taken.running
            else:
                status, approval, running = await persistently(
                    lambda: self.store.runs.consume(run.id, approval_id, fence=fence),
                    what=f"taking the decision of approval {approval_id}",
                )
            if status in ("fenced", "taken"):
                raise Fenced(run.id)  # this worker looked dead and another one took the run over
            if status == "pending":
                self.runs_first.arrived(run.id)
                continue
            # its thread says how it was decided (a cancel says so itself, where it is made), or that it was
            # withdrawn while the run goes on; its header "running" again: off the agent's path (`events.ApprovalEnded`)
            self.events.publish(ApprovalEnded(run, approval_id, approval, running=running,
                                      announce=approval is not None and approval.status != "cancelled"))
            if approval is not None:
                return await self.chain.hiding.decision_of(approval)  # (an edit: with the values it kept hidden)
            # missing: expired or removed before its decision was read
            return Decision(approval_id, "cancelled", decided_by="system", feedback="the approval is gone")

    def announce(self, run: RunRecord, approval: ApprovalRecord) -> None:
        """Say in the run's thread how the approval was decided (`events.ApprovalEnded`: an adopted run handed its
        decision; in the background, the agent resumes at once)."""
        self.events.publish(ApprovalEnded(run, approval.id, approval))

    async def name_of(self, user: str, *, within: float = NAME_WITHIN) -> str:
        """Who `user` is in plain text (a task's title): their name when Slack gives it within `within` seconds (a
        run's end and its stream wait on it), else the id as given (a failed or slow lookup; not a person's:
        `system`, a rule). Untrusted: made inert by the builder it goes into."""
        if surface_of(user) != "slack":  # (a Teams or e-mail person's id as given, as before)
            return user
        try:
            return await asyncio.wait_for(self._directory.name_of(user), within) or user
        except TimeoutError:
            log.info("no name for %s within %ss: their id instead", user, within)
            return user

    async def audit_automatic(self, event: str, request: ApprovalRequest, *, rule: str, run: RunRecord) -> None:
        """An `auto_approved` / `auto_rejected` audit entry for a step a run's team took by its input mode without
        asking (`agent_approvals.modes.ModeGate`; nothing is opened), through a Redis blip."""
        outcome: Outcome = "approved" if event == "auto_approved" else "rejected"
        entry = automatic_entry(request_record(request, run=run), Decision(request.approval_id, outcome), rule=rule,
                                run=run)
        await persistently(lambda: self.store.audit.append(entry.pop("event"), **entry), what="auditing a step")

    # what a click refuses, next to the decision --------------------------------------------------
    async def first_refusal(self, what: str, user: str) -> bool:
        """Whether `user` has not been told the refusal `what` in the last `REFUSAL_QUIET` seconds, on any worker
        (the store's do-once step); from now on, they have: a replayed click is not answered again."""
        return await self.store.workers.claim(what, user, seconds=REFUSAL_QUIET)

    async def opened(self, approval_id: str, user: str) -> str:
        """The one recorder of a person opening an approval's details (its page `/approvals/<id>`, the full diff at
        `/approvals/<id>/diff`, a modal: Details, Show all, Reject, Revise): the first time is kept for their
        decision's audit entry (`opened_at`) and counts for a policy's @require_details (bot/store/oversight.py).
        Returns "ok", "seen", "decided" or "missing"."""
        return await self.store.oversight.opened(approval_id, user)

    def on_decided(self, approval: ApprovalRecord, *, owner_heard: bool = False) -> None:
        """After any decision, on whichever worker made it: the run it wakes here goes first, then it is said
        (`events.ApprovalDecided`: counted, its card redrawn, its hidden values ended, a program's requester told
        and, if the run's owner may be gone, the run continued here). `owner_heard`: the owner's worker was
        subscribed when the decision was published, so it is alive and continues the run itself (nobody continues an
        API approval's run: its program reads the decision). (A decision the decide step took for the run waiting
        here was handed to it by `decide` already.)"""
        if approval.owner == self.worker_id and approval.run_id and approval.status != "cancelled":
            self.runs_first.going(approval.run_id)  # before the redraws: the run it wakes goes first
        self._waiter.decided_here(approval.owner, approval.id)  # the run (or long-poll) here goes on at once
        orphaned = not (owner_heard or approval.owner in (self.worker_id, API_OWNER) or approval.status == "cancelled")
        self.events.publish(ApprovalDecided(approval, orphaned=orphaned))

    async def cancel(self, approval_id: str, *, by: str, reason: str) -> DecideResult:
        """The one way an approval is cancelled (a run cancelled or ended, a program's withdrawal, a card Slack
        refused): the decide step (once, whatever races it), then everything a decision does after (its card
        redrawn saying so, its waiters woken). `status` "ok" when this cancelled it; `approval` as it stands."""
        reason = self.chain.hiding.text(reason)  # (free text: a run's end may quote anything)
        result = await self.store.approvals.decide(approval_id, outcome="cancelled", by=by, feedback=reason)
        if result.status == "ok" and result.approval is not None:
            self.on_decided(result.approval)
        return result

    async def withdraw_workspace(self, workspace: WorkspaceRef, *, by: str, reason: str) -> list[str]:
        """Cancel every pending approval of `workspace`, each as `cancel` does (audited, its card redrawn saying
        `reason`, its waiters woken): what an uninstall of that workspace does (Slack's `app_uninstalled`,
        `tokens_revoked`; `by` says which). Returns the ids this cancelled."""
        home = await self.store.tenants.home() or WorkspaceRef("")
        ids = await self.store.approvals.pending_of_workspace(workspace, home=home)
        return [i for i in ids if (await self.cancel(i, by=by, reason=reason)).status == "ok"]

    async def cancel_pending(self, run_id: str, *, by: str, reason: str) -> int:
        """Cancel a run's pending approvals (atomically, each) and say so on their cards."""
        cancelled = 0
        for approval in await self.store.approvals.of_run(run_id):
            if approval.pending and (await self.cancel(approval.id, by=by, reason=reason)).status == "ok":
                cancelled += 1
        return cancelled
