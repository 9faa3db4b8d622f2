"""The approval service: every step of an approval, for every surface, in one place.

The waiting side (the worker that owns the run)::

    ask(request, run)   -> open: the decision chain (bot/approvals/chain.py: policies, the input mode, a rule,
                           a person), walked once; for a person, store it (fenced), post its card, note the card,
                           mark the run waiting (bot/approvals/delivery.py; its thread's waiting line and
                           header follow in the background, in order)
                        -> wait: the owner's pub/sub subscription wakes it (nothing else is read from it)
                        -> take: consume the decision from the record, once (fenced), as a `Decision`

The deciding side (a click, a modal, a timeout, a cancel, on any worker)::

    decide(approval id, outcome, user, card) -> the decide step (`bot/store/lua/lib/decide.lua`) with
                                                every approver rule; `may_decide()` asks the same rules
                                                without deciding (before a modal opens)
    redraw_after(result)                     -> say it was decided (`events.ApprovalDecided`: its card(s) redrawn, the
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
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from agent_approvals.approver import ApprovalRequest, Cancellation, Decision, Outcome
from agent_approvals.modes import Verdict

from bot.approvals.attesting import brief_page, unheld_scope
from bot.approvals.card_sync import CardService
from bot.approvals.chain import Ask, DecisionChain, End
from bot.approvals.decider_policies import DeciderPolicies
from bot.approvals.deciders.mode import automatic_entry
from bot.approvals.delivery import Delivery
from bot.approvals.edits import Edits
from bot.approvals.events import ApprovalDecided, ApprovalEnded, ApprovalOpened, Events, VoteCounted
from bot.approvals.opening import Opened, OpenRefused, ProgramAsk, changes_line, request_record
from bot.approvals.revisions import Revisions
from bot.approvals.rights import may_decide_across
from bot.approvals.waiter import DecisionWaiter
from bot.core.attestations import NEEDS, refusal_words
from bot.core.metrics import Metrics
from bot.core.passkeys import Assurance
from bot.core.people import CannotCheck, surface_of
from bot.core.records import API_OWNER, ApprovalRecord, ChannelSettings, RunRecord
from bot.core.tasks import Background, RunsFirst
from bot.core.workspaces import WorkspaceRef
from bot.people import People
from bot.policy.engine import PolicyEngine
from bot.slack.directory import Directory
from bot.store import DecideResult, Fence, Fenced, Store, persistently
from bot.store.runs import Consumed

log = logging.getLogger(__name__)

ATTACH_WAIT = 3.0  # seconds a click may wait for its card's ts to be stored
NAME_WITHIN = 2.0  # seconds a person's name is waited for (users.info) before their id stands for it
# A refused click is answered once per person and card (an answer that can never change: the approval is
# decided, gone, or not this card's; a forged one is audited with it) or once per person, approval, refusal
# and button (who may not decide, the requester, a second vote) in this many seconds: replayed clicks (a
# double-click storm, a client retrying, a script) cost one Redis SET each, nothing more.
REFUSAL_QUIET = 10
NO_OPINION = Verdict("")  # the input mode leaves the step to a person


class ApprovalService:
    """One worker's (or one program's) approvals: asking, deciding, showing (see the module docstring).

    Args:
        worker_id: the owner of the runs this service asks for.
        approvals_channel: where cards go unless a channel's settings name another.
        default_timeout: seconds, unless a channel's settings set their own.
        chain: the decision chain every approval is opened through (its deciders listed by bot/root.py).
        delivery: where a pending approval's card goes (the chain's end, `Person`, posts it through it).
        policies: the worker's policy engine (its bundle, reloads and counts; the chain's policies link judges with
            it).
        events: where what happened is published (its listeners subscribed by bot/root.py); the delivery's.
    """

    def __init__(
        self,
        *,
        store: Store,
        cards: CardService,
        waiter: DecisionWaiter,
        directory: Directory,
        background: Background,
        worker_id: str,
        approvals_channel: str,
        default_timeout: int,
        chain: DecisionChain,
        delivery: Delivery,
        policies: PolicyEngine,
        metrics: Metrics | None = None,
        runs_first: RunsFirst | None = None,
        external_teams: Collection[str] = (), people: People,
    ) -> None:
        self.people = people  # who is who across surfaces (bot/people/): their workspace, their groups
        self.store = store
        self.external_teams = external_teams  # EXTERNAL_TEAMS: partners who decide as before (`may_decide_across`)
        self.runs_first = runs_first or RunsFirst()  # a run a decision woke goes before the redraws it set off
        self.delivery = delivery
        self.events: Events = delivery.events
        self.chain = chain
        self.policies = policies
        self.cards = cards
        self.worker_id = worker_id
        self.approvals_channel = approvals_channel
        self.default_timeout = default_timeout
        self._waiter = waiter
        self._directory = directory
        self._background = background
        self.clock: Callable[[], float] = time.time  # when attestations are judged (a test moves it)
        self.pages_url = ""  # where the bot's pages are (a brief's page: /attest/<scope>); "" when unknown
        self._metrics = metrics or Metrics()
        self.edits = Edits(store, decide=self.decide, redraw_after=self.redraw_after, background=background)
        self.revisions = Revisions(chain.hiding)  # a Revise of the arguments as JSON, from any surface
        self.deciders = DeciderPolicies(policies, store, quiet=REFUSAL_QUIET)  # policies about who decides, at a vote

    async def channel_settings(self, channel: str) -> ChannelSettings:
        """A channel's settings, for a run's next step (read again through a Redis blip)."""
        return await persistently(
            lambda: self.store.settings.get(channel, default_timeout=self.default_timeout),
            what=f"reading the settings of {channel}",
        )

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
        return opened

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

    # deciding ------------------------------------------------------------------------------
    async def decide(
        self,
        approval_id: str, *, outcome: str, user: str, card: tuple[str, str] | None, feedback: str = "",
        dry_run: bool = False, assurance: Assurance | None = None, edit_hidden: str = "", artifacts: str = "",
        surface: str = "",
    ) -> DecideResult:
        """A person's decision or vote through the decide step, with every approver rule applied there:
        the card clicked must show the approval, the requester may not decide (unless the channel
        allows it), only named approvers or members of named user groups may, and an Approve of an approval
        that needs step-up counts only with the `assurance` of their passkey (else status `step_up`: the
        caller sends them to confirm it, bot/stepup/). `dry_run`: only whether they may (status `allowed`),
        nothing changes; refusals are audited either way. A person of another workspace than the approval's decides
        it only as `rights.may_decide_across` says (refused and audited otherwise: `other_workspace`). `edit_hidden`:
        what a reviewer's edit of a call with nothing hidden hid (`Hiding.keep_edit`), kept on the decided record.
        `artifacts`: the approval's artefacts with a reviewer's edit (bot/core/artifact_edits.py), kept on the record
        by the step that decides it. `surface`: `teams` for a Teams click (`user` its person, `card` None), audited."""
        person = await self._workspace_of(user)
        if feedback and not dry_run:  # a reviewer's note, a revision's, a reject's reason: the one door of free text
            feedback = await self.chain.hiding.said(approval_id, feedback)
        decide = partial(
            self.store.approvals.decide,
            approval_id,
            outcome=outcome,
            by=user,
            feedback=feedback,
            card=card,
            check_auth=True,
            dry_run=dry_run,
            assurance=assurance.to_json() if assurance is not None else "",
            team=person.team if person is not None else "?",
            home_team=(await self._home()).team,
            edit_hidden=edit_hidden,
            artifacts=artifacts,
            surface=surface,
        )

        async def step(**more: Any) -> DecideResult:
            if dry_run:
                return await decide(**more)
            with self._waiter.deciding(approval_id) as take:  # its run waits here: the decision taken for it at once
                result = await decide(take=take, **more)
                if result.taken:
                    self._waiter.wake(approval_id, result)  # the run goes on with it, reading nothing
                return result

        fit = None if dry_run else await self.deciders.refused(  # a decider policy first, then fitness (attestations)
            approval_id, outcome=outcome, user=user, surface=surface or self.people.surface(user), person=person,
            check=lambda: self._decided(lambda **more: decide(**{**more, "dry_run": True}), user, person))
        fit = fit or await self._unfit(approval_id, outcome=outcome, user=user, person=person, decide=decide)
        result = fit if fit is not None else await self._decided(step, user, person)
        if result.status == "attestation" and not result.attest:  # the decide step found one ended or revoked since
            scope = await unheld_scope(self.store, approval_id, user, now=self.clock())
            result = replace(result, attest=scope, page=brief_page(self.pages_url, scope))
        if not dry_run:  # a person's click (or a page's vote): what it asked and what came of it
            log.info("approval %s: %s by %s: %s", approval_id, outcome, user, result.status,
                     extra={"approval_id": approval_id})
        return result

    async def _unfit(
        self, approval_id: str, *, outcome: str, user: str, person: WorkspaceRef | None,
        decide: Callable[..., Awaitable[DecideResult]],
    ) -> DecideResult | None:
        """Fit to decide: when the approval needs attestations (`ApprovalRecord.attest`) for this outcome and `user`
        may decide it (the decide step asked without deciding), their current attestation to each; the refusal
        (`attestation`, audited `refused` with action "vote" and the words to get one) when one is missing, else
        None (the decide step goes on, and refuses by its own rules). Reject never needs one."""
        if outcome not in NEEDS:
            return None
        scopes = await self.store.attestations.required(approval_id)
        if not scopes:
            return None
        checked = await self._decided(lambda **more: decide(**{**more, "dry_run": True}), user, person)
        if checked.status != "allowed":
            return None  # not theirs to decide (or decided already): the decide step says so, as ever
        missing = await self.store.attestations.missing(user, scopes, now=self.clock())
        if not missing:
            return None
        page = brief_page(self.pages_url, missing[0])
        words = refusal_words(missing[0], page=page)
        # every refused attempt audited: the first of this person's on this approval in the quiet window at once, a
        # flood of replayed clicks as one summarising entry (as the decide step's own refusals)
        await self.store.audit.refusal(f"attestation:{user}:{approval_id}:{outcome}", "refused",
                                       window=REFUSAL_QUIET, by=user, action="vote", approval=approval_id,
                                       outcome=outcome, scope=missing[0],
                                       reason=f"no current attestation to {missing[0]}: {words}")
        return DecideResult("attestation", checked.approval, attest=missing[0], page=page)

    async def _workspace_of(self, user: str) -> WorkspaceRef | None:
        """The workspace of the person `user` (their standing, as People keeps it: the request's gate has just asked
        it); None when it cannot be said or nobody is. A person of no workspace (a Teams-only person: bot/teams/ let
        only the company's own tenant through) is of the home workspace."""
        try:
            found = await self.people.standing(user)
        except CannotCheck:
            return None
        if found is None:
            return None
        return WorkspaceRef(found.team, found.enterprise or None) if found.team else await self._home()

    async def _home(self) -> WorkspaceRef:  # the home workspace (an approval without one is of it); "" until recorded
        return await self.store.tenants.home() or WorkspaceRef("")

    async def _decided(
        self, step: Callable[..., Awaitable[DecideResult]], user: str, person: WorkspaceRef | None
    ) -> DecideResult:
        """The decide step's answer, taken again as it asks: a card not yet attached, a person of another workspace,
        the user's groups, the delegations to them."""
        result = await step()
        deadline = time.monotonic() + ATTACH_WAIT
        while result.status == "unattached":  # a click within ms of the post, or the poster died in between
            await asyncio.sleep(0.01)
            result = await step(attach=time.monotonic() >= deadline)
        known: dict[str, Any] = {}
        if result.status == "check_workspace" and result.approval is not None:
            known["across"] = may_decide_across(result.approval, user=user, person=person, home=await self._home(),
                                                external_teams=self.external_teams)
            result = await step(**known)
        in_groups: bool | None = None
        if result.status == "check_groups" and result.approval is not None:
            # the step decides (or refuses and audits) with the membership the cached directory knows
            in_groups = await self.people.in_groups(user, result.approval.approvers)  # each surface's groups
            result = await step(in_groups=in_groups, **known)
        if result.status == "check_delegates" and result.approval is not None:
            # not allowed themselves: may they decide for someone away who delegated to them?
            principals = await self.store.away.principals(user, now=time.time())
            groups = [a for a in result.approval.approvers if a.startswith("S")]
            group_principal = ""
            for principal in principals if groups else []:  # the first in a group is enough
                if await self.people.in_groups(principal, groups):
                    group_principal = principal
                    break
            result = await step(in_groups=in_groups, principals=principals, group_principal=group_principal, **known)
        return result

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

    async def may_decide(
        self, approval_id: str, *, outcome: str, user: str, card: tuple[str, str] | None
    ) -> DecideResult:
        """Whether `user` may decide it from this card (None: their Home, Teams) now (`allowed`), by the same rules."""
        return await self.decide(approval_id, outcome=outcome, user=user, card=card, dry_run=True)

    def redraw_after(self, result: DecideResult, *, surface: str = "") -> bool:
        """Bring every card up to date after a decision or vote (`surface`: where it was clicked, when not Slack: its
        `VoteCounted` says it; the run continued if its worker is gone); False when nothing was decided."""
        if result.approval is None or result.status not in ("ok", "vote"):
            return False
        if result.status == "ok":
            self.on_decided(result.approval, owner_heard=result.owner_heard)
        else:
            self.cards.schedule(result.approval)
            self.events.publish(VoteCounted(result.approval, surface=surface))
        return True

    async def redraw_refused(self, result: DecideResult, approval_id: str, *, card: tuple[str, str] | None) -> None:
        """What a refused (and answered) click still does to the cards: an approval decided already whose clicked
        card still showed buttons is drawn decided; a click on an extra card of an approval (`card`: one showing
        it; its worker died between posting the card and noting it, and another worker posted it again) gets the
        approval's state drawn there, without buttons."""
        if result.status == "already" and result.approval is not None and not self.cards.shows(result.approval):
            self.cards.schedule(result.approval)
        if result.status != "mismatch" or card is None:
            return
        approval = await self.store.approvals.get(approval_id)
        channel, ts = card
        if approval is None or approval.card_channel != channel or not approval.card_ts or approval.card_ts == ts:
            return
        self._background.spawn(self.cards.show_on_copy(approval, channel=channel, ts=ts), name="card-copy")

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
        home = await self._home()
        ids = await self.store.approvals.pending_of_workspace(workspace, home=home)
        return [i for i in ids if (await self.cancel(i, by=by, reason=reason)).status == "ok"]

    async def cancel_pending(self, run_id: str, *, by: str, reason: str) -> int:
        """Cancel a run's pending approvals (atomically, each) and say so on their cards."""
        cancelled = 0
        for approval in await self.store.approvals.of_run(run_id):
            if approval.pending and (await self.cancel(approval.id, by=by, reason=reason)).status == "ok":
                cancelled += 1
        return cancelled
