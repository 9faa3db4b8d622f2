"""The core's refusal words (bot/approvals/refusals.py) in Slack's mrkdwn, through Slack's one escaping path
(bot/slack/blocks: `safe`, `user_ref`, `people_refs`, `channel_ref`): `SlackWriting`, and `refusal_text` and
`step_up_text` with it, which Slack's listeners call; and what someone who may not act in this workspace is told
(`outsider_text`, Slack's own refusal)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.approvals.refusals import refusal_text as core_refusal_text
from bot.approvals.refusals import step_up_text as core_step_up_text
from bot.slack.blocks import people_refs, safe, user_ref
from bot.slack.blocks.text import NO_NAMES, Names, channel_ref, date_ref
from bot.store import DecideResult


@dataclass(frozen=True)
class SlackWriting:
    """The core's words in mrkdwn (`bot.approvals.ports.Writing`): Slack users and groups mentioned, Teams-only
    people by the name `names` gives them (`user_ref`), untrusted text made inert by `safe`."""

    names: Names = field(default_factory=lambda: NO_NAMES)

    def person(self, user: str, /) -> str:
        return user_ref(user, self.names)

    def people(self, ids: Sequence[str], /) -> str:
        return people_refs(ids, self.names)

    def untrusted(self, text: str, limit: int, /) -> str:
        return safe(text, limit)

    def link(self, url: str, words: str, /) -> str:
        return f"<{url}|{words}>"

    def bold(self, words: str, /) -> str:
        return f"*{words}*"

    def code(self, words: str, /) -> str:
        return f"`{words}`"

    def channel(self, channel: str, /) -> str:
        return channel_ref(channel)

    def date(self, epoch: float, /) -> str:
        return date_ref(epoch)


SLACK = SlackWriting()


def refusal_text(result: DecideResult, *, missing: Sequence[str] = (), names: Names = NO_NAMES) -> str:
    """The core's `refusal_text` in mrkdwn; `names`: Teams-only people by name (`user_ref`)."""
    return core_refusal_text(result, writing=SlackWriting(names) if names else SLACK, missing=missing)


def step_up_text(url: str | None) -> str:
    """The core's `step_up_text` in mrkdwn (the link as `<url|words>`)."""
    return core_step_up_text(url, writing=SLACK)


def outsider_text(why: str, workspace: str) -> str:
    """What someone who may not act here (`rights.outsider`'s reason) is told; `workspace` is the installing one."""
    where = safe(workspace, 80) or "the workspace this app is installed in"
    if why == "external":
        return (
            f"Only people of {where} may act on these approvals; your account belongs to another Slack organization"
            " (a channel shared with it shows its cards too). Nothing was done. An admin can allow your team by id"
            " (EXTERNAL_TEAMS)."
        )
    if why == "guest":
        return (
            "Guest accounts may not act on these approvals. Nothing was done. An admin can allow you by id"
            " (ALLOWED_GUESTS)."
        )
    if why == "deactivated":
        return "Your account is deactivated in this workspace, so nothing was done."
    return f"Slack does not know your account as one of {where}, so nothing was done."
