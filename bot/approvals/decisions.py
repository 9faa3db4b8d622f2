"""The one entry a surface's vote comes in by (issue 88): `decide(person, surface, verb, ...)`, whatever the surface.

    decide(person, surface, verb, approval_id=, where=)  -> the decide step (`bot/store/lua/lib/decide.lua`) with every
                                                           approver rule; `surface` audited on the vote and decision
    may_decide(person, surface, verb, approval_id=, where=) -> the same rules asked without deciding (before a form)
    decide_as_model(model, approval_id=, feedback=)      -> a triage model's approve (#92), by `model:<name>`
    redraw_after(result, surface=)                       -> say it was decided or voted (`events`: cards redrawn, ...)
    redraw_refused(result, approval_id, where=)          -> a refused click's card brought up to date

`where` is the surface's opaque place: "C…/ts" for a Slack card or copy (the decide step checks that it shows the
approval: another's is `mismatch`), "" for a Slack Home and on every other surface (nothing there to check).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, get_args

from bot.approvals.attesting import brief_page, unheld_scope
from bot.approvals.decider_policies import DeciderPolicies
from bot.approvals.events import Events, VoteCounted
from bot.approvals.ports import CardRedraws, Verb
from bot.approvals.rights import may_decide_across
from bot.approvals.waiter import DecisionWaiter
from bot.core.attestations import NEEDS, refusal_words
from bot.core.passkeys import Assurance
from bot.core.people import SURFACES, CannotCheck, PersonId, SurfaceName, surface_of
from bot.core.tasks import Background
from bot.core.workspaces import WorkspaceRef
from bot.people import People
from bot.redaction import Hiding
from bot.store import DecideResult, Store

log = logging.getLogger(__name__)

ATTACH_WAIT = 3.0  # seconds a click may wait for its card's ts to be stored
# A refused click is answered once per person and card (an answer that can never change: the approval is
# decided, gone, or not this card's; a forged one is audited with it) or once per person, approval, refusal
# and button (who may not decide, the requester, a second vote) in this many seconds: replayed clicks (a
# double-click storm, a client retrying, a script) cost one Redis SET each, nothing more.
REFUSAL_QUIET = 10
VERBS: tuple[Verb, ...] = get_args(Verb)
OUTCOMES: dict[Verb, str] = {"approve": "approved", "reject": "rejected", "revise": "revised"}


def verb_of(outcome: str) -> Verb:
    """The verb of a decide step's outcome (`approved` -> `approve`); ValueError for none of the three."""
    for verb, said in OUTCOMES.items():
        if said == outcome:
            return verb
    raise ValueError(f"{outcome!r} is no person's outcome (approved, rejected or revised)")


def surface_named(word: str) -> SurfaceName:
    """The surface a stored word names: "" (a link or note kept before the word was always written) is Slack."""
    return next((s for s in SURFACES if s == word), "slack")


def card_place(card: tuple[str, str] | None) -> str:
    """A Slack card's (channel, ts) as the opaque `where` of `decide`: "C…/ts"; "" for none (a Home)."""
    return f"{card[0]}/{card[1]}" if card else ""


def _card_of(surface: SurfaceName, where: str) -> tuple[str, str] | None:
    """The Slack card `where` names ("C…/ts"); None on another surface or a Home. ValueError for a bad place."""
    if surface != "slack" or not where:
        return None
    channel, _, ts = where.partition("/")
    if not channel or not ts or "/" in ts:
        raise ValueError(f"{where[:80]!r} is no Slack card's place (channel/ts)")
    return channel, ts


class Decisions:
    """The people's decisions of one worker's (or one tenant's) approvals, from any surface (the module docstring).

    Args:
        on_decided: what any decision does after, on the worker that made it (`ApprovalService.on_decided`).
        external_teams: EXTERNAL_TEAMS: partners who decide as before (`may_decide_across`).
    """

    def __init__(
        self, *, store: Store, waiter: DecisionWaiter, cards: CardRedraws, events: Events, background: Background,
        hiding: Hiding, deciders: DeciderPolicies, people: People, external_teams: Collection[str],
        on_decided: Callable[..., None],
    ) -> None:
        self.store = store
        self.people = people
        self.external_teams = external_teams
        self.deciders = deciders
        self.clock: Callable[[], float] = time.time  # when attestations are judged (a test moves it)
        self.pages_url = ""  # where the bot's pages are (a brief's page: /attest/<scope>); "" when unknown
        self._waiter = waiter
        self._cards = cards
        self._events = events
        self._background = background
        self._hiding = hiding
        self._on_decided = on_decided

    async def decide(
        self, person: PersonId | str, surface: SurfaceName, verb: Verb, *, approval_id: str, where: str = "",
        feedback: str = "", dry_run: bool = False, assurance: Assurance | None = None, edit_hidden: str = "",
        artifacts: str = "",
    ) -> DecideResult:
        """`person`'s `verb` on `surface` through the decide step, with every approver rule applied there:
        the card clicked (`where`, Slack) must show the approval, the requester may not decide (unless the channel
        allows it), only named approvers (or the same person by another account, as People says: the Slack user whose
        verified email an `email:<address>` approver is) or members of named user groups may, and an Approve of an
        approval that needs step-up counts only with the `assurance` of their passkey (else status `step_up`: the
        caller sends them to confirm it, bot/stepup/). `dry_run`: only whether they may (status `allowed`),
        nothing changes; refusals are audited either way. A person of another workspace than the approval's decides
        it only as `rights.may_decide_across` says (refused and audited otherwise: `other_workspace`). `edit_hidden`:
        what a reviewer's edit of a call with nothing hidden hid (`Hiding.keep_edit`), kept on the decided record.
        `artifacts`: the approval's artefacts with a reviewer's edit (bot/core/artifact_edits.py), kept on the record
        by the step that decides it. `surface` is audited on the vote and the decision. ValueError for a verb or a
        surface not known, or a Slack `where` that is no place."""
        if verb not in OUTCOMES:
            raise ValueError(f"{str(verb)[:40]!r} is no verb a person decides with: one of {', '.join(VERBS)}")
        if surface not in SURFACES:
            raise ValueError(f"{str(surface)[:40]!r} is no surface: one of {', '.join(SURFACES)}")
        card, outcome, user = _card_of(surface, where), OUTCOMES[verb], str(person)
        standing = await self._workspace_of(user)
        if feedback and not dry_run:  # a reviewer's note, a revision's, a reject's reason: the one door of free text
            feedback = await self._hiding.said(approval_id, feedback)
        decide = partial(
            self.store.approvals.decide, approval_id, outcome=outcome, by=user, feedback=feedback, card=card,
            check_auth=True, dry_run=dry_run, assurance=assurance.to_json() if assurance is not None else "",
            team=standing.team if standing is not None else "?", home_team=(await self._home()).team,
            edit_hidden=edit_hidden, artifacts=artifacts, surface=surface, same="",
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
            approval_id, outcome=outcome, user=user, surface=surface, person=standing,
            check=lambda: self._decided(lambda **more: decide(**{**more, "dry_run": True}), user, standing))
        fit = fit or await self._unfit(approval_id, outcome=outcome, user=user, person=standing, decide=decide)
        result = fit if fit is not None else await self._decided(step, user, standing)
        if result.status == "attestation" and not result.attest:  # the decide step found one ended or revoked since
            scope = await unheld_scope(self.store, approval_id, user, now=self.clock())
            result = replace(result, attest=scope, page=brief_page(self.pages_url, scope))
        if not dry_run:  # a person's click (or a page's vote): what it asked and what came of it
            log.info("approval %s: %s by %s: %s (on %s)", approval_id, outcome, user, result.status, surface,
                     extra={"approval_id": approval_id, "surface": surface})
        return result

    async def decide_as_model(self, model: str, *, approval_id: str, feedback: str) -> DecideResult:
        """A triage model's approve (bot/approvals/triage.py, #92): the decide step by `model:<name>`, which is no
        person (no approver rule applies, and it is no vote toward a quorum: the floor was checked before the model
        was asked, and a model approves only an approval of one approval and no step-up), then everything a decision
        does after (the card redrawn, the run or program woken, the requester told)."""
        said = await self._hiding.said(approval_id, feedback)
        with self._waiter.deciding(approval_id) as take:  # its run waits here: the decision taken for it at once
            result = await self.store.approvals.decide(approval_id, outcome="approved", by=f"model:{model}",
                                                       feedback=said, take=take)
            if result.taken:
                self._waiter.wake(approval_id, result)
        self.redraw_after(result)
        return result

    def surface_said(self, person: PersonId | str, word: str) -> SurfaceName:
        """The surface a stored or passed `word` names; "" (a link or caller that said none) the person's own, where
        they decide when nobody says (a Teams-only person's: `teams`)."""
        return surface_named(word) if word else self.people.surface(str(person))

    async def may_decide(
        self, person: PersonId | str, surface: SurfaceName, verb: Verb, *, approval_id: str, where: str = ""
    ) -> DecideResult:
        """Whether `person` may `verb` it from `where` on `surface` now (`allowed`), by the same rules."""
        return await self.decide(person, surface, verb, approval_id=approval_id, where=where, dry_run=True)

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
        it); None when it cannot be said or nobody is. A person of no workspace (a Teams-only person: bot/msteams/ let
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
        if result.status == "check_people" and result.approval is not None:  # an approver by another account?
            known["same"] = await self._approver_as(user, result.approval.approvers)
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

    async def _approver_as(self, user: str, approvers: Sequence[str]) -> str:
        """The approver `user` is, named by another account of theirs (People: the Slack user whose verified email
        an `email:<address>` approver is, #88): they decide as that approver, one vote whichever surface; "-" when
        none (or People cannot say now: refused as not theirs, never let through)."""
        for approver in approvers:
            if surface_of(approver) not in (None, surface_of(user)):  # (one surface's two accounts: two people)
                try:
                    if await self.people.same(user, approver):
                        return approver
                except CannotCheck:
                    return "-"
        return "-"

    def redraw_after(self, result: DecideResult, *, surface: str = "") -> bool:
        """Bring every card up to date after a decision or vote (`surface`: where it was made, as its `VoteCounted`
        says; the run continued if its worker is gone); False when nothing was decided."""
        if result.approval is None or result.status not in ("ok", "vote"):
            return False
        if result.status == "ok":
            self._on_decided(result.approval, owner_heard=result.owner_heard)
        else:
            self._cards.schedule(result.approval)
            self._events.publish(VoteCounted(result.approval, surface=surface))
        return True

    async def redraw_refused(self, result: DecideResult, approval_id: str, *, where: str = "") -> None:
        """What a refused (and answered) click still does to the cards: an approval decided already whose clicked
        card still showed buttons is drawn decided; a click on an extra card of an approval (`where`: a Slack card
        showing it; its worker died between posting the card and noting it, and another worker posted it again) gets
        the approval's state drawn there, without buttons."""
        if result.status == "already" and result.approval is not None and not self._cards.shows(result.approval):
            self._cards.schedule(result.approval)
        card = _card_of("slack", where)
        if result.status != "mismatch" or card is None:
            return
        approval = await self.store.approvals.get(approval_id)
        channel, ts = card
        if approval is None or approval.card_channel != channel or not approval.card_ts or approval.card_ts == ts:
            return
        self._background.spawn(self._cards.show_on_copy(approval, channel=channel, ts=ts), name="card-copy")

