"""A link's decision through the core (shared by the e-mail and push pages): the `decide` a link's page is given, and
its `reverse` (a triage model's held approval, through the core's one reverse step)."""

from __future__ import annotations

from typing import Literal, Protocol

from bot.approvals import ApprovalService, Writing
from bot.approvals.decisions import verb_of
from bot.approvals.refusals import refusal_text
from bot.core.records import ApprovalRecord
from bot.core.writing import PlainWriting
from bot.links.page import Answer, Decide, Reverse


class StepUp(Protocol):
    """The step-up votes (bot/stepup/votes.py `Confirmation`): a one-time link, what to tell."""

    async def link(self, user: str, approval: ApprovalRecord, *, surface: str = "") -> str | None: ...

    async def answer(self, user: str, approval: ApprovalRecord, *, writing: Writing, surface: str = "") -> str: ...


def link_decider(approvals: ApprovalService, step_up: StepUp, *, channel: Literal["email", "push"]) -> Decide:
    """The `decide` of `channel`'s link page ("email", "push"): the core decides, the surfaces redrawn; a step-up
    asked is its link (or what to tell), a refusal in plain words naming people by name."""

    async def decide(person: str, *, surface: str, verb: str, approval: str) -> Answer:
        result = await approvals.decisions.decide(person, channel, verb_of(verb), approval_id=approval)
        approvals.decisions.redraw_after(result, surface=channel)
        if result.status == "step_up" and result.approval is not None:
            go = await step_up.link(person, result.approval, surface=channel)
            said = "" if go else await step_up.answer(person, result.approval, writing=PlainWriting(), surface=channel)
            return Answer("step_up", said, go or "")
        if result.status == "ok":
            return Answer("ok", f"your decision ({verb}) is recorded.")
        return Answer(result.status, refusal_text(result, writing=await writing_of(approvals, result.approval)))

    return decide


def link_reverser(approvals: ApprovalService, *, channel: Literal["email", "push"]) -> Reverse:
    """The `reverse` of `channel`'s link page: the core's reverse step (`ApprovalService.reverse_triage`: the
    channel's admins only, anyone else refused and audited, naming them and the surface)."""

    async def reverse(person: str, *, approval: str) -> Answer:
        done = await approvals.reverse_triage(person, channel, approval_id=approval)
        return Answer(done.status, done.words)

    return reverse


async def writing_of(approvals: ApprovalService, approval: ApprovalRecord | None) -> PlainWriting:
    """Plain words, the people they name by name (as Slack says it; an id as given, else)."""
    ids = {*approval.approvers, approval.decided_by} - {""} if approval is not None else set()
    return PlainWriting({user: await approvals.name_of(user) for user in ids})
