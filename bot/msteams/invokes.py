"""A click on a card in Teams (`adaptiveCard/action`, an `Action.Execute`), decided through the approval core's one
door: `Decisions.decide(person, "teams", verb, ...)`.

Who clicked: the activity's sender, with their email and role from the conversation's roster (`TeamsApp.member`),
mapped to one person by the people part (`decider`: the Slack user with the same verified email, else the Teams
person of the Teams file), or refused (another tenant, a guest, unknown: audited, answered with the card read-only
and why). Then the verb: `refresh` (Teams asks for the card as one of the approvers should see it) answers the card
with buttons when they may decide it now, else read-only; `triage_reverse` reverses a triage model's held approval
through the core's one step (`ApprovalService.reverse_triage`: the channel's admins only, anyone else told so and
audited); `approve`, `reject` and `revise` decide (or vote), and
every copy of the card, in Slack and Teams, is redrawn by the core's events. A Revise whose arguments differ from
the card's is the Slack Revise's edit of them as JSON (bot/approvals/revisions.py: the same checks and words, hidden
values left as their masks kept whole, the edited call encoded in the agent's feedback, its `edit_hidden`), and so is
one whose arguments were edited one input each (bot/core/field_edits.py, as Slack's field form: each typed as its
kind says, the edit noted for the card of the edited call). Every answer is an updated card for the clicker (the
SDK's `AdaptiveCardActionCardResponse`), with a notice saying what came of the click in the core's words
(bot/approvals/refusals.py) written for Teams (`TeamsWriting`: plain text, people by name, which the card makes
inert). A replayed or concurrent invoke counts once: the decide step claims the vote or the decision once, whatever
races it."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from microsoft_teams.api.activities.invoke.adaptive_card import AdaptiveCardInvokeActivity
from microsoft_teams.api.models.adaptive_card.adaptive_card_action_response import (
    AdaptiveCardActionCardResponse,
    AdaptiveCardActionErrorResponse,
    AdaptiveCardActionMessageResponse,
)
from microsoft_teams.api.models.error import HttpError, InnerHttpError
from microsoft_teams.api.models.invoke_response import AdaptiveCardInvokeResponse
from microsoft_teams.apps import ActivityContext
from microsoft_teams.cards import AdaptiveCard

from bot.approvals import REFUSAL_QUIET, ApprovalService, Edited, Revision, Verb, Writing, not_editable
from bot.approvals.refusals import STORAGE_DOWN, refusal_text
from bot.core.field_edits import NOT_BY_FIELD, changed_fields
from bot.core.people import SurfaceName
from bot.core.records import ApprovalRecord
from bot.msteams.app import TeamsApp
from bot.msteams.cards import (
    INPUT_ARGUMENTS,
    INPUT_REASON,
    VERB_APPROVE,
    VERB_REFRESH,
    VERB_REJECT,
    VERB_REVISE,
    VERB_SAVE_APPROVE,
    VERB_TRIAGE_REVERSE,
    DrawCard,
    TeamsWriting,
    notice_card,
)
from bot.msteams.field_inputs import EDIT_LIMIT, field_id, form_fields
from bot.msteams.people import TeamsPeople
from bot.store import DecideResult, StoreUnavailable
from bot.store.msteams import CLAIMED

log = logging.getLogger(__name__)

# each card action's verb at the one entry (`Decisions.decide`): a Save & approve is a revision with the edit
VERBS: dict[str, Verb] = {VERB_APPROVE: "approve", VERB_REJECT: "reject", VERB_REVISE: "revise",
                          VERB_SAVE_APPROVE: "revise"}
STILL_THEIRS = ("frozen", "unspread", "step_up", "attestation", "details", "policy")  # Reject (the rest) still theirs
MAX_ID = 200  # an approval id as the cards carry it; longer: not one of ours
MAX_NOTE = 3000  # a reason or a revision's note, as the Slack forms take it
UNKNOWN = "This approval is no longer known (it expired or was removed). Nothing changed."
FAILED = "The bot could not answer this click; open the card again to see where the approval stands."
FOR_RUNS_ONLY = ("Save & approve is for a run's own call: a program asks about an edited call again itself, on a new"
                 " card. Send the edit back instead. Nothing was sent.")
NOTHING_EDITED = "Change a field to Save & approve the edited call, or Send back a note. Nothing was sent."


SURFACE: SurfaceName = "teams"  # where these clicks are made, as the audit names it (`bot.core.msteams.SURFACES`)


class StepUp(Protocol):
    """What a person whose Approve needs their passkey is told (bot/stepup/votes.py `Confirmation.answer`): the page's
    one-time link, which keeps the `surface` they clicked on for the vote it confirms."""

    def __call__(self, user: str, approval: ApprovalRecord, *, writing: Writing, surface: str) -> Awaitable[str]: ...


_MENTION = re.compile(r"<@([^>|]+)>")
_GROUP = re.compile(r"<!subteam\^([^>|]+)(?:\|([^>]*))?>")
_TEAMS_PERSON = re.compile(r"teams:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_LINK = re.compile(r"<(https?://[^>|\s]+)\|([^>]*)>")


def plain_words(text: str, names: Mapping[str, str]) -> str:
    """Words that may hold mrkdwn (mentions, links, escapes, bold) as plain text for a Teams card's notice (the card
    builder makes it inert): people by name, a link as "label: URL". The refusals are written for Teams at once
    (`TeamsWriting`)."""
    said = _MENTION.sub(lambda m: names.get(m.group(1)) or m.group(1), text)
    said = _GROUP.sub(lambda m: m.group(2) or names.get(m.group(1)) or m.group(1), said)
    said = _LINK.sub(lambda m: f"{m.group(2)}: {m.group(1)}", said)
    said = _TEAMS_PERSON.sub(lambda m: names.get(m.group(0)) or m.group(0), said)  # (inert in Slack's words)
    return html.unescape(said.replace("*", "").replace("`", ""))


def error_answer(message: str) -> AdaptiveCardActionErrorResponse:
    return AdaptiveCardActionErrorResponse(status_code=400, value=HttpError(
        code="BadRequest", message=message, inner_http_error=InnerHttpError(status_code=400, body=None)))


class Invokes:
    """The `adaptiveCard/action` handler (`handle`), registered on the SDK app by `register`."""

    def __init__(self, app: TeamsApp, *, approvals: ApprovalService, people: TeamsPeople, draw: DrawCard,
                 step_up: StepUp | None = None, details_url: Callable[[str], str] | None = None) -> None:
        self.app = app
        self.approvals = approvals
        self.people = people
        self.draw = draw
        self.step_up = step_up
        self.details_url = details_url or (lambda _: "")

    def register(self) -> None:
        self.app.sdk.on_card_action(self.handle)

    async def handle(self, ctx: ActivityContext[AdaptiveCardInvokeActivity]) -> AdaptiveCardInvokeResponse:
        """Answer one card action; whatever fails here is answered (never the SDK's 500), nothing half done."""
        action = ctx.activity.value.action
        approval_id = action.data.get("approval")
        verb = action.verb or ""
        if not isinstance(approval_id, str) or not approval_id or len(approval_id) > MAX_ID:
            return error_answer("this card action names no approval")
        if verb not in (VERB_REFRESH, VERB_TRIAGE_REVERSE) and verb not in VERBS:
            return error_answer(f"unknown card action {verb[:40]!r}")
        try:
            return await self._answer(ctx, approval_id, verb, action.data)
        except StoreUnavailable:
            return AdaptiveCardActionMessageResponse(value=STORAGE_DOWN)
        except Exception:
            log.exception("Teams: a card action on %s failed", approval_id)
            return AdaptiveCardActionMessageResponse(value=FAILED)

    async def _answer(self, ctx: ActivityContext[AdaptiveCardInvokeActivity], approval_id: str, verb: str,
                      data: Mapping[str, Any]) -> AdaptiveCardInvokeResponse:
        member = await self.app.member(ctx)
        person = await self.people.decider(member)
        approval = await self.approvals.store.approvals.get(approval_id)
        if not isinstance(person, str):  # (audited by the people part, naming them and the surface)
            return await self._card(approval, actions=False, notice=person.words) if approval else _unknown()
        if approval is None:
            return _unknown()
        if verb == VERB_REFRESH:
            checked = await self.approvals.decisions.may_decide(person, SURFACE, "approve", approval_id=approval_id)
            return await self._card(checked.approval or approval, actions=checked.status == "allowed")
        if not await self._on_its_card(ctx, approval_id, person):
            return await self._card(approval, actions=False, notice=DecideResult("mismatch", approval))
        if verb == VERB_TRIAGE_REVERSE:  # the core's one reverse step decides who may (the channel's admins)
            said = (await self.approvals.reverse_triage(person, SURFACE, approval_id=approval_id)).words
            now = await self.approvals.store.approvals.get(approval_id) or approval
            checked = await self.approvals.decisions.may_decide(person, SURFACE, "approve", approval_id=approval_id)
            return await self._card(now, actions=checked.status == "allowed", notice=said)
        revised = await self._revision(approval, verb, data, person=person)
        if not isinstance(revised, Revision):  # (a bad edit of the arguments, refused: nothing sent, nothing changed)
            return await self._card(approval, actions=True, notice=revised)
        decisions = self.approvals.decisions
        result = await decisions.decide(person, SURFACE, VERBS[verb], approval_id=approval_id,
                                        feedback=revised.feedback, edit_hidden=revised.edit_hidden)
        decisions.redraw_after(result, surface=SURFACE)
        actions = result.status in STILL_THEIRS and (await decisions.may_decide(
            person, SURFACE, "reject", approval_id=approval_id)).status == "allowed"
        return await self._card(result.approval or approval, actions=actions, notice=await self._said(person, result))

    async def _revision(self, approval: ApprovalRecord, verb: str, data: Mapping[str, Any], *,
                        person: str) -> Revision | str | DecideResult:
        """What the click sends: the note typed, or for a Revise with the arguments edited (one input each, or as
        JSON, as Slack's Revise takes them: bot/approvals/revisions.py) the edited call with the note, noted for the
        card of the edited call (Save & approve: approved by `person` at once, `Edits.approve`); else why nothing is
        sent."""
        note = str(data.get(INPUT_REASON) or "")[:MAX_NOTE]
        approve = verb == VERB_SAVE_APPROVE
        if verb not in (VERB_REVISE, VERB_SAVE_APPROVE):
            return Revision(note)
        if approve and (refused := await self._no_save_approve(approval, person)):
            return refused
        revisions = self.approvals.revisions
        given = data.get(INPUT_ARGUMENTS)
        if not approve and given is not None and given != "":
            return await revisions.of_json(approval, str(given), note=note, limit=EDIT_LIMIT)
        if field_id(0) not in data:
            return NOTHING_EDITED if approve else Revision(note)
        fields = form_fields(approval)
        if fields is None:  # (a form this card never showed: its arguments are not edited one field each)
            return not_editable(approval) or NOT_BY_FIELD

        def text_of(index: int) -> str | None:
            value = data.get(field_id(index))
            return None if value is None else str(value)

        edited = await revisions.of_fields(approval, text_of, note=note, fields=fields)
        if not isinstance(edited, Edited):
            return NOTHING_EDITED if approve and isinstance(edited, Revision) else edited
        changes = changed_fields(json.loads(approval.arguments or "{}"), edited.redacted)
        await self.approvals.edits.note(approval, edited.full, by=person, approve=approve, changes=changes,
                                        surface=SURFACE)
        return edited.revision(note)

    async def _no_save_approve(self, approval: ApprovalRecord, person: str) -> str | DecideResult:
        """Why `person` may not Save & approve an edit of `approval` ("" when they may): as Slack's Revise offers it,
        to who may approve it now, on a run's own call."""
        if refused := not_editable(approval):
            return refused
        if approval.asked_by:
            return FOR_RUNS_ONLY
        checked = await self.approvals.decisions.may_decide(person, SURFACE, "approve", approval_id=approval.id)
        return "" if checked.status == "allowed" else checked

    async def confirm_edit(self, user: str, approval: ApprovalRecord, card: tuple[str, str]) -> None:
        """A Teams editor's Save & approve of a call that needs their passkey (`Edits.approve`, surface `teams`):
        what an Approve clicked in Teams is told (the page's one-time link, keeping the surface), in their personal
        chat with the bot, where the edited call's card is not (`card`, its Slack card, is not theirs)."""
        if self.step_up is None:
            return
        said = await self.step_up(user, approval, writing=TeamsWriting(), surface=SURFACE)
        account = (await self.people.accounts([user])).get(user)
        if account is None:  # (they clicked in Teams: the people part keeps their account)
            log.warning("Teams: no account of %s to send the step-up link of %s", user, approval.id)
            return
        names = dict(await self.people.names([user]))
        await self.app.post(await self.app.personal_chat(account), notice_card(plain_words(said, names)))

    async def _on_its_card(self, ctx: ActivityContext[AdaptiveCardInvokeActivity], approval_id: str,
                           person: str) -> bool:
        """Whether the card clicked is one of the approval's copies (its activity in that conversation, or one being
        posted there), as a Slack click's card must show its approval; a click on another card is refused and
        audited (the first of a person's in the quiet window at once, the rest counted)."""
        activity = ctx.activity
        conversation = activity.conversation.id.split(";")[0]
        shown = await self.approvals.store.msteams.shown_in(approval_id, conversation)
        if shown is not None and (shown.startswith(CLAIMED) or shown == activity.reply_to_id):
            return True
        await self.approvals.store.audit.refusal(
            f"mismatch:{person}:{approval_id}", "refused", window=REFUSAL_QUIET, approval=approval_id, by=person,
            reason="approval not on this card", surface=SURFACE, card_conversation=conversation[:200])
        return False

    async def _said(self, person: str, result: DecideResult) -> str | DecideResult:
        """What the clicker is told of their click: nothing when it decided, the step-up's link, else the refusal
        (`_card` writes it)."""
        if result.status == "ok":
            return ""
        if result.status == "step_up" and result.approval is not None and self.step_up is not None:
            return await self.step_up(person, result.approval, writing=TeamsWriting(), surface=SURFACE)
        return result

    async def _card(self, approval: ApprovalRecord, *, actions: bool,
                    notice: str | DecideResult = "") -> AdaptiveCardInvokeResponse:
        """The clicker's card now: buttons only when they may decide it, a notice on top (a refusal in the core's
        words written for Teams, people by name)."""
        people = [*approval.approvers, approval.requester, approval.decided_by, *approval.voters]
        names = dict(await self.people.names([p for p in people if p]))
        users = [a.user_id for a in (await self.people.accounts(approval.approvers)).values()] if (
            approval.status == "pending") else []
        said = (refusal_text(notice, writing=TeamsWriting(names)) if isinstance(notice, DecideResult)
                else plain_words(notice, names))
        card = self.draw(approval, names=names, actions=actions, refresh_users=users,
                         notice=said, details_url=self.details_url(approval.id))
        return AdaptiveCardActionCardResponse(value=AdaptiveCard.model_validate(card))


def _unknown() -> AdaptiveCardActionMessageResponse:
    return AdaptiveCardActionMessageResponse(value=UNKNOWN)
