"""Where an approval's cards go in Microsoft Teams, and every copy kept current (issue 81), whatever Slack does.

    ApprovalOpened (the core,    -> the channel's Teams route (`/agent config teams`, else TEAMS_FILE's route for
    pending), CardPosted            it): the card read-only for everyone there, its `refresh.userIds` the approvers'
                                    Teams user ids (at most 60), so they see buttons; with `teams_personal` (or the
                                    route's `personal`) each approver's personal chat with the bot: their card with
                                    buttons (a delegate of someone away: theirs)
    VoteCounted, ApprovalDecided -> every Teams copy updated in place as the approval now is in Redis (a vote, the
    Nudged (an escalation)          decision, an escalation); a copy not posted yet posted (pending)
    a redraw of the Slack card   -> the same, a second trigger (what changes a card with no event of its own: a
    (`CardService.after_draw`)      freeze, a revoked key's cancels)
    Nudged (the core)            -> a reminder or escalation in each told person's personal chat, their card there
                                    first if it is not

Slack and Teams never hold each other. The Teams copies follow the core's events, not Slack's card: while Slack is
down (or refuses its updates), the Teams card is posted, a Teams approver decides on it and it shows the decision;
the Slack card catches up through its own outbox (`store.outbox`) when Slack is back. While Teams is down, the Slack
card goes on alone: what Teams could not take for now (down, a 5xx, a 429) goes to Teams' own due set
(`store.teams_due.add`, `{p}:teams:due`: bot/store/surface_due.py), which every worker's loop of Teams' due work
drains (`drain`, in the background: a slow Teams never slows that loop), apart from the Slack outbox's loop. An
approval is put there before its copies are drawn (`refresh`), and taken out only once they show its state as Redis
has it then (`teams_due.done`: a newer state keeps it due), so a worker dying meanwhile leaves it to any other, and
the last state is the one drawn. A copy's first post notes the approval shown (`teams_due.shown`: a timeout that
approves may approve it, as one shown in Slack). One Teams
refused for good (a 4xx: the app or the card is not there any more) is logged and not tried again. Each copy is
claimed in Redis before it is posted (`store.msteams.claim_copy`, for `CLAIM_LEASE` seconds: a worker killed between
its claim and its post leaves it to another once the lease ran out), so two workers never leave two cards in one
conversation.

Example (bot/root.py, with the Teams part built):
    `events.subscribe(teams.delivery.listener)`, `cards.after_draw = teams.delivery.after_draw(homes.refresh_for)`
    and `drain` as the `teams` due work's part (bot/services.py `due_parts`)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

import httpx
import microsoft_teams.cards as ac

from bot.approvals import ApprovalDecided, ApprovalOpened, CardPosted, Event, Nudged, VoteCounted
from bot.core.metrics import Metrics
from bot.core.msteams import MAX_REFRESH_USERS, TeamsConversation, TeamsCopy
from bot.core.msteams_file import TeamsRoute
from bot.core.records import ApprovalRecord
from bot.core.tasks import Background
from bot.msteams.cards import DrawCard
from bot.people import UserDirectory
from bot.store import Store, StoreUnavailable
from bot.store.msteams import TeamsAccount

log = logging.getLogger(__name__)

RETRY_AFTER = 5.0  # seconds before a copy Teams refused is tried again (its due time in Teams' due set)
CLAIM_LEASE = 60.0  # seconds a worker's claim to post a copy holds (a worker that died meanwhile: another posts it)
DRAWING = 30.0  # seconds an approval is kept due while a worker draws its copies (it died: another draws them then)
Drawn = Callable[[ApprovalRecord], Awaitable[bool]]  # `CardService.after_draw`: what a card's redraw also redraws


class TeamsPoster(Protocol):
    """What delivery asks of the Teams app (`TeamsApp`, the SDK's app on the worker)."""

    async def post(self, conversation: TeamsConversation, card: dict[str, Any]) -> str: ...

    async def update(self, conversation: TeamsConversation, activity_id: str, card: dict[str, Any]) -> None: ...

    async def personal_chat(self, account: TeamsAccount) -> TeamsConversation: ...


class TeamsPeopleView(Protocol):
    """What delivery asks of Teams' people (`TeamsPeople`: who a Teams decider is, their accounts and names)."""

    async def accounts(self, people: Sequence[str]) -> dict[str, TeamsAccount]: ...

    async def names(self, people: Sequence[str]) -> dict[str, str]: ...


class TeamsDelivery:
    """Posts an approval's cards in Teams and keeps every copy current (see the module docstring)."""

    def __init__(
        self,
        *,
        store: Store,
        app: TeamsPoster,
        people: TeamsPeopleView,
        directory: UserDirectory,
        background: Background,
        card: DrawCard,
        routes: Mapping[str, TeamsRoute] | None = None,
        retry_after: float = RETRY_AFTER,
        drawing: float = DRAWING,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._app = app
        self._people = people
        self._directory = directory
        self._background = background
        self._card = card
        self._routes = routes or {}  # TEAMS_FILE's: channel id -> route, where a channel sets no `teams`
        self._retry_after = retry_after
        self._drawing = drawing
        self._busy: set[str] = set()  # approvals whose copies this worker draws now (one draw at a time each)
        self._again: set[str] = set()  # ... and which changed meanwhile: drawn once more, as Redis has them then
        self._missed: set[str] = set()  # ... and which a target did not take (not there, refused for good)
        self._metrics = metrics or Metrics()  # refusals, delivery times (hitl_teams_*)
        self.word = "ok"  # Teams' last word as a surface (/healthz, hitl_surface_up): "ok", "refused (401)"...

    def _said(self, exc: BaseException | None) -> None:
        """One send's outcome as the surface's word and metrics (`exc`: how Teams refused, None: it took it)."""
        if exc is None:
            self.word = "ok"
            return
        status = status_of(exc)
        self._metrics.teams_refused.labels(status).inc()
        if status in DOWN:  # (a 404, a 400: one conversation or card, not Teams)
            self.word = f"refused ({status})" if status != "unreachable" else f"unreachable ({type(exc).__name__})"

    # what the root wires --------------------------------------------------------------------
    def after_draw(self, before: Drawn | None) -> Drawn:
        """`CardService.after_draw` with the Teams copies: what `before` did (the Homes), and every Teams copy drawn
        as the approval now is, in the background (`refresh`: what Teams could not take goes to Teams' own due set).
        Answers what `before` did alone: a Teams outage (or a slow Teams) never keeps the Slack card in its outbox.
        The root: `cards.after_draw = delivery.after_draw(homes.refresh_for)`."""

        async def drawn(approval: ApprovalRecord) -> bool:
            self._background.spawn(self.refresh(approval.id), name=f"teams-draw-{approval.id}")
            return True if before is None else await before(approval)

        return drawn

    def listener(self, event: Event) -> None:
        """The core's events (synchronous and quick: the work is spawned): an approval opened pending (whether or not
        Slack took its card) or its card posted, a vote, a decision and an escalation: its Teams copies drawn as it
        now is (`refresh`); a reminder or an escalation told in the personal chats too (`nudged`)."""
        approval_id = ""
        if isinstance(event, ApprovalOpened):
            if event.answer.decided is None and event.answer.status in ("ok", "exists"):
                approval_id = event.answer.approval_id
        elif isinstance(event, (CardPosted, VoteCounted, ApprovalDecided)):
            approval_id = event.approval.id
        elif isinstance(event, Nudged):
            self._background.spawn(self.nudged(event), name=f"teams-nudge-{event.approval.id}")
            if event.kind == "escalate":  # "Escalated to …" on the card
                approval_id = event.approval.id
        if approval_id:
            self._background.spawn(self.refresh(approval_id), name=f"teams-draw-{approval_id}")

    async def drain(self) -> int:
        """Teams' due set (the run supervisor's sweep, on every worker): the approvals due now, each claimed for a
        while, drawn in the background (a Teams slow or down never holds the supervisor); how many were taken."""
        found = await self._store.teams_due.take(self._store.approvals, lease=self._drawing)
        self._background.each([a.id for a in found], self.refresh, name="teams-due")
        return len(found)

    # drawing, retried through Teams' due set ---------------------------------------------------------
    async def refresh(self, approval_id: str) -> None:
        """Draw `approval_id`'s Teams copies as Redis has it now, where it goes to Teams at all: due first (a worker
        dying meanwhile leaves it to any other's supervisor), then drawn (`draw`). One draw of an approval at a time
        on a worker: one asked meanwhile (a vote, then the decision) draws it once more after, as it is then, so an
        older state read first is never drawn last, and a card every copy shows already is not sent again (an update
        resets the card each person refreshed: their buttons gone until Teams refreshes it again)."""
        if approval_id in self._busy:
            self._again.add(approval_id)
            return
        self._busy.add(approval_id)
        try:
            shown = ""
            while True:
                self._again.discard(approval_id)
                shown = await self._refresh_once(approval_id, shown)
                if approval_id not in self._again:
                    return
        finally:
            self._busy.discard(approval_id)
            self._missed.discard(approval_id)  # (noted for its rounds only: kept, it would outlive the approval)

    async def _refresh_once(self, approval_id: str, shown: str) -> str:
        """One round of `refresh`; `shown`: the card (JSON) the round before drew on every copy and target ("" none).
        Answers the card this round drew so ("" when Teams refused one, or a target was not there)."""
        try:
            approval = await self._store.approvals.get(approval_id)
            if approval is None or not (await self._store.msteams.copies(approval_id) or
                                        (approval.pending and await self.where(approval) is not None)):
                await self._store.teams_due.forget([approval_id])  # (were it due: nothing left to draw)
                return ""  # gone, or nothing of it in Teams
            view = json.dumps(self._card(approval, names={}, actions=True), sort_keys=True)
            if view == shown:  # every copy shows it already
                await self._store.teams_due.done([approval])
                return shown
            await self._store.teams_due.add(approval_id, due=time.time() + self._drawing)
        except StoreUnavailable as exc:
            log.warning("approval %s: its Teams cards wait for Redis (%s)", approval_id, exc.cause)
            return ""
        self._missed.discard(approval_id)
        drawn = await self.draw(approval)
        return view if drawn and approval_id not in self._missed else ""

    async def draw(self, approval: ApprovalRecord) -> bool:
        """Every Teams copy of `approval` drawn as this record has it (`sync`); then out of Teams' due set unless the
        approval changed since, else due again in `retry_after` seconds. Whether every copy shows it."""
        ok = await self.sync(approval)
        try:
            if ok:
                await self._store.teams_due.done([approval])
            else:
                await self._retry_later(approval)
        except StoreUnavailable as exc:  # (an entry left due is drawn again: harmless)
            log.warning("approval %s: its Teams cards' due entry not settled (%s)", approval.id, exc.cause)
        return ok

    # where ----------------------------------------------------------------------------------
    async def where(self, approval: ApprovalRecord) -> TeamsRoute | None:
        """The approval's Teams route: its channel's `teams` setting (with `teams_personal`), else TEAMS_FILE's
        route for its channel; None when it has none."""
        settings = await self._store.settings.get(approval.origin_channel, default_timeout=0)
        if settings.teams:
            return TeamsRoute(settings.teams, settings.teams_personal)
        route = self._routes.get(approval.origin_channel)
        if route is None:
            return None
        return replace(route, personal=route.personal or settings.teams_personal)

    async def routed(self, approval: ApprovalRecord) -> bool:
        """Whether `approval` goes to Teams at all (the core's `Delivery.elsewhere`)."""
        return await self.where(approval) is not None

    async def deciders(self, approval: ApprovalRecord) -> list[str]:
        """Who may decide `approval` now, as people (user groups' members): its approvers, not its requester (unless
        the channel allows it), someone away replaced by their delegate. Empty when anyone may decide."""
        if not approval.approvers:
            return []
        people = await self._directory.people(approval.approvers)
        if not approval.allow_self_approval:
            people.discard(approval.requester)
        away = await self._store.away.many(sorted(people), now=time.time())
        deciders: list[str] = []
        for person in sorted(people):
            state = away.get(person)
            if state is None:
                deciders.append(person)
            elif state.delegate and approval.may_decide_for(state.delegate, person):
                deciders.append(state.delegate)
        return list(dict.fromkeys(deciders))

    # posting --------------------------------------------------------------------------------
    async def posted(self, approval: ApprovalRecord) -> None:
        """A pending approval's Teams cards posted now (its copies drawn: `refresh`); what Teams refused, later
        (Teams' due set)."""
        await self.refresh(approval.id)

    async def _post_missing(self, approval: ApprovalRecord, where: TeamsRoute | None = None,
                            only: Sequence[str] | None = None) -> bool:
        """Post the approval's Teams cards not posted yet (each claimed first); False when Teams refused one.
        `only`: just these people's personal cards (a reminder's)."""
        if not approval.pending:
            return True
        where = where or await self.where(approval)
        if where is None:
            return True
        have = {copy.conversation_id for copy in await self._store.msteams.copies(approval.id)}
        deciders = await self.deciders(approval)
        accounts = await self._people.accounts(deciders) if deciders else {}
        names = await self._names(approval)
        ok = True
        if only is None and where.conversation not in have:
            conversation = await self._store.msteams.conversation(where.conversation)
            if conversation is None:  # the app is not in it (yet): `/agent config teams` said how to add it
                self._missed.add(approval.id)
                log.warning("approval %s: the bot is not in its Teams conversation %s", approval.id,
                            where.conversation)
            else:
                users = [accounts[p].user_id for p in deciders if p in accounts][:MAX_REFRESH_USERS]
                card = self._card(approval, names=names, actions=not approval.approvers, refresh_users=users)
                ok &= await self._post(approval, conversation, card)
        if where.personal or only is not None:
            for person in deciders if only is None else [p for p in only if p in accounts]:
                account = accounts.get(person)
                if account is None:
                    continue
                ok &= await self._post_personal(approval, account, names, have)
        return ok

    async def _post_personal(self, approval: ApprovalRecord, account: TeamsAccount, names: Mapping[str, str],
                             have: set[str]) -> bool:
        try:
            chat = await self._app.personal_chat(account)
        except Exception as exc:  # Teams is down (tried again: the due set), or the person has no chat with the app
            self._said(exc)
            log.warning("approval %s: no personal chat in Teams for %s (%s)", approval.id, account.object_id,
                        said(exc))
            return self._gave_up(approval, exc)
        if chat.id in have:
            return True
        await self._store.msteams.keep_conversation(chat)  # its copy is updated in place: kept where copies are read
        card = self._card(approval, names=names, actions=True, refresh_users=(account.user_id,))
        return await self._post(approval, chat, card)

    async def _post(self, approval: ApprovalRecord, conversation: TeamsConversation, card: dict[str, Any]) -> bool:
        """Post one card, claimed first (False when Teams refused it: the claim is released)."""
        claim = await self._store.msteams.claim_copy(approval.id, conversation.id, lease=CLAIM_LEASE)
        if claim == "posted":  # (by another worker meanwhile: drawn as it had the approval)
            self._missed.add(approval.id)
            return True
        if claim == "busy":  # another worker posts it now: seen again later (the due set), posted by then, or its claim
            return False  # run out (that worker died) and taken then
        try:
            activity = await self._app.post(conversation, card)
        except Exception as exc:  # Teams refused or is down
            self._said(exc)
            log.warning("approval %s: its card was not posted in Teams conversation %s (%s)", approval.id,
                        conversation.id, said(exc))
            await self._store.msteams.release_copy(approval.id, conversation.id)
            return self._gave_up(approval, exc)  # the app is not there (any more): no use trying again and again
        self._said(None)
        self._metrics.teams_latency.observe(max(0.0, time.time() - approval.created_at))
        await self._store.msteams.note_copy(approval.id, TeamsCopy(conversation.id, activity))
        await self._store.teams_due.shown(approval.id)  # shown to people: a timeout may approve it (note_shown.lua)
        return True

    def _gave_up(self, approval: ApprovalRecord, exc: BaseException) -> bool:
        """Whether Teams refused for good (`lasting`: not tried again), noted as a target missed."""
        if lasting(exc):
            self._missed.add(approval.id)
            return True
        return False

    async def _retry_later(self, approval: ApprovalRecord) -> None:
        """Teams refused something: the approval due again in Teams' due set, for any worker's supervisor."""
        try:
            await self._store.teams_due.add(approval.id, due=time.time() + self._retry_after)
        except StoreUnavailable as exc:
            log.warning("approval %s: its Teams cards could not be kept due (%s)", approval.id, exc.cause)

    # keeping copies current -------------------------------------------------------------------
    async def sync(self, approval: ApprovalRecord) -> bool:
        """Every Teams copy of `approval` drawn as this record has it, and those still missing posted (pending);
        False when Teams refused one for now (`draw` keeps the approval in Teams' due set, to try again)."""
        try:
            copies = await self._store.msteams.copies(approval.id)
            where = await self.where(approval) if approval.pending else None
            if not copies and where is None:
                return True
            ok = await self._post_missing(approval, where) if where is not None else True
            names = await self._names(approval) if copies else {}
            # who sees buttons on a pending card: its deciders (on a personal chat's card only its owner is there)
            users = await self._refresh_users(approval) if copies and approval.pending else []
            for copy in copies:
                ok &= await self._update(approval, copy, names, users)
            return ok
        except StoreUnavailable as exc:
            log.warning("approval %s: its Teams copies wait for Redis (%s)", approval.id, exc.cause)
            return False

    async def _refresh_users(self, approval: ApprovalRecord) -> list[str]:
        """The Teams user ids a pending card is refreshed for: its deciders' (at most 60)."""
        deciders = await self.deciders(approval)
        accounts = await self._people.accounts(deciders) if deciders else {}
        return [accounts[p].user_id for p in deciders if p in accounts][:MAX_REFRESH_USERS]

    async def _update(self, approval: ApprovalRecord, copy: TeamsCopy, names: Mapping[str, str],
                      users: Sequence[str]) -> bool:
        conversation = await self._store.msteams.conversation(copy.conversation_id)
        if conversation is None:  # the app was removed from it: nothing to update there
            self._missed.add(approval.id)
            return True
        personal = conversation.kind == "personal"
        card = self._card(approval, names=names, actions=approval.pending and (personal or not approval.approvers),
                          refresh_users=users)
        try:
            await self._app.update(conversation, copy.activity_id, card)
        except Exception as exc:  # Teams is down: tried again (the due set); it refused for good (the card or the app
            # gone from there): nothing more to draw there
            self._said(exc)
            log.warning("approval %s: its Teams copy in %s was not updated (%s)", approval.id, copy.conversation_id,
                        said(exc))
            return self._gave_up(approval, exc)
        self._said(None)
        return True

    async def _names(self, approval: ApprovalRecord) -> dict[str, str]:
        """Display names of who the card names (requester, voters, decider)."""
        people = [p for p in (approval.requester, *approval.voters, approval.decided_by, approval.on_behalf) if p]
        return await self._people.names(list(dict.fromkeys(people))) if people else {}

    # reminders and escalations ------------------------------------------------------------------
    async def nudged(self, event: Nudged) -> None:
        """A reminder or escalation told in Slack: in each told person's personal chat in Teams too (their card
        there first), where the approval goes to Teams at all."""
        approval = event.approval
        try:
            where = await self.where(approval)
            if where is None or not event.people:
                return
            accounts = await self._people.accounts(list(event.people))
            if not accounts:
                return
            if not await self._post_missing(approval, where, only=sorted(accounts)):
                await self._retry_later(approval)
            delegated = dict(event.delegated)
            for person, account in sorted(accounts.items()):
                await self._tell(approval, account, nudge_card(event, delegate=person in delegated))
        except StoreUnavailable as exc:
            log.warning("approval %s: its Teams reminder was not sent (%s)", approval.id, exc.cause)

    async def _tell(self, approval: ApprovalRecord, account: TeamsAccount, card: dict[str, Any]) -> None:
        try:
            chat = await self._app.personal_chat(account)
            await self._app.post(chat, card)
        except Exception as exc:  # the reminder was told in Slack; Teams' is best effort
            log.warning("approval %s: a reminder was not sent in Teams to %s (%s)", approval.id, account.object_id,
                        said(exc))


def lasting(exc: BaseException) -> bool:
    """Whether Teams refused for good (a 4xx but 429: the conversation, the activity or the app is not there, or the
    card is refused), not for now (a 5xx, a 429, a connection or a timeout: tried again through Teams' due set)."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return 400 <= status < 500 and status != 429
    return False


DOWN = frozenset({"401", "403", "5xx", "sign-in", "unreachable"})  # what says Teams is down (the app refused, or out)


def status_of(exc: BaseException) -> str:
    """A failed send as a bounded label: Teams' 4xx status, "5xx", "sign-in" (the bot's token refused), or
    "unreachable" (no answer)."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return "5xx" if status >= 500 else str(status)
    return "sign-in" if isinstance(exc, RuntimeError) else "unreachable"  # (sign-in refused: bot/msteams/app.py)


def said(exc: BaseException) -> str:
    """A failure as the log says it (Teams' status, else the kind of error)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"{type(exc).__name__} {exc.response.status_code}"
    return type(exc).__name__


def nudge_card(event: Nudged, *, delegate: bool = False) -> dict[str, Any]:
    """A reminder's or escalation's message in a personal chat (no text of the approval's own: its card is there)."""
    if event.kind == "escalate":
        text = "Escalated: you may now decide this approval. Its card is in this chat."
    else:
        text = f"Reminder {event.number}: an approval waits for your decision. Its card is in this chat."
    lines = [ac.TextBlock(text=text, wrap=True, weight="Bolder")]
    if delegate:
        lines.append(ac.TextBlock(text="You decide it for someone who is away and delegated to you.", wrap=True,
                                  is_subtle=True))
    card = ac.AdaptiveCard(body=list(lines))
    made: dict[str, Any] = card.model_dump(by_alias=True, exclude_none=True)
    return made

