"""Fit to decide (issue 80.5): attesting to a brief, granting and revoking an attestation, writing a brief, and who
may. One way for every door: `/agent attest ...` (bot/slackapp/listeners/attest.py), the brief's page
(bot/stepup/brief_page.py); the reminders are the nudger's (bot/approvals/nudges.py).

Who owns a brief (writes it, grants and revokes attestations to it): ADMIN_USERS for a policy's (`policy:NAME`: the
operator's policies), a channel's named admins and ADMIN_USERS for a channel's (`channel:C…`). Anyone else is
refused, and the refusal audited (`refused`, naming who and what). A reply's words are the core's, written as the
surface writes a person, a channel, a command and a date (`writing`, bot/approvals/ports.py: Slack's mrkdwn, each
reader's own time zone; a page's plain text and UTC)."""

from __future__ import annotations

import time
from collections.abc import Collection

from bot.approvals.ports import Writing
from bot.approvals.rights import is_admin
from bot.core.attestations import shown
from bot.core.durations import format_duration
from bot.core.records import ChannelSettings
from bot.store import Store


def brief_words(scope: str, writing: Writing) -> str:
    """A scope in a reply: "the brief `refunds`", "the brief of #sales" (ids and names checked: `SCOPE`)."""
    kind, _, name = scope.partition(":")
    return f"the brief of {writing.channel(name)}" if kind == "channel" else f"the brief {writing.code(name)}"


def command(scope: str, writing: Writing) -> str:
    """The command that attests to `scope`, as typed (`/agent attest refunds`, `/agent attest #sales`)."""
    kind, _, name = scope.partition(":")
    return writing.code(f"/agent attest {writing.channel(name)}" if kind == "channel" else f"/agent attest {name}")


def may_own(user: str, scope: str, *, channel_settings: ChannelSettings | None, admin_users: Collection[str]) -> bool:
    """Whether `user` owns the brief of `scope`: ADMIN_USERS for a policy's, the channel's admins for a channel's
    (`channel_settings`: that channel's)."""
    if scope.startswith("channel:") and channel_settings is not None:
        return is_admin(user, channel_settings, admin_users)
    return user in admin_users


def who_owns(scope: str, writing: Writing) -> str:
    """Who owns `scope`'s brief, in words (a refusal says it)."""
    if scope.startswith("channel:"):
        return f"the admins of {writing.channel(scope.partition(':')[2])} (or ADMIN_USERS)"
    return "the operator's admins (ADMIN_USERS)"


async def attest(store: Store, user: str, scope: str, *, writing: Writing, now: float | None = None) -> str:
    """`user` attests to `scope`'s brief (audited `attested`); the reply in words."""
    brief = await store.attestations.brief(scope)
    if brief is None:
        return no_brief(scope, writing)
    until = await store.attestations.attest(user, scope, valid=brief.valid, by=user, now=now)
    return (f"You attested to {brief_words(scope, writing)}: you may decide its approvals until {writing.date(until)}"
            f" ({format_duration(brief.valid)}; you are reminded a week before). Audited.")


async def grant(store: Store, admin: str, person: str, scope: str, *, writing: Writing) -> str:
    """An admin grants `person` an attestation to `scope` (audited `attestation_granted`); the reply."""
    brief = await store.attestations.brief(scope)
    if brief is None:
        return no_brief(scope, writing)
    until = await store.attestations.attest(person, scope, valid=brief.valid, by=admin)
    return (f"Granted: {writing.person(person)} may decide approvals needing {brief_words(scope, writing)} until"
            f" {writing.date(until)}. Audited.")


async def revoke(store: Store, admin: str, person: str, scope: str, *, writing: Writing) -> str:
    """An admin revokes `person`'s attestation to `scope` (audited `attestation_revoked`); the reply."""
    who, what = writing.person(person), brief_words(scope, writing)
    if not await store.attestations.revoke(person, scope, by=admin):
        return f"{who} holds no attestation to {what}. Nothing changed."
    return (f"Revoked: {who} may no longer approve or revise approvals needing {what} until they attest again"
            f" ({command(scope, writing)}). Audited.")


async def refused(store: Store, user: str, scope: str, *, action: str, writing: Writing) -> str:
    """A refusal of one who does not own `scope`'s brief: audited (`refused`), said."""
    await store.audit.append("refused", by=user, action=action, scope=scope,
                             reason=f"{action} of {scope}: only its brief's owners may")
    doing = {"attestation_grant": "grant attestations to", "attestation_revoke": "revoke attestations to",
             "attestation_brief": "write"}.get(action, action)
    return f"Only {who_owns(scope, writing)} may {doing} {brief_words(scope, writing)}. Nothing changed."


def no_brief(scope: str, writing: Writing) -> str:
    typed = f"/agent attest brief {shown(scope) if scope.startswith('policy:') else '#channel'}"
    return (f"Nobody has written {brief_words(scope, writing)} yet: its owner writes it first"
            f" ({writing.code(typed)}). Nothing changed.")


def reminder_text(scope: str, until: float, *, writing: Writing, now: float | None = None) -> str:
    """The words that say an attestation ends soon (Slack's DM puts an hourglass before them)."""
    left = format_duration(max(60, int(until - (time.time() if now is None else now)) // 3600 * 3600))
    return (f"Your attestation to {brief_words(scope, writing)} ends {writing.date(until)} (in about {left})."
            f" Read it again and attest ({command(scope, writing)}) to keep deciding its approvals.")


def brief_page(pages_url: str, scope: str) -> str:
    """The brief's page of `scope` on the bot ("" when the pages' address is unknown)."""
    return f"{pages_url}/attest/{scope}" if pages_url and scope else ""


async def unheld_scope(store: Store, approval_id: str, user: str, *, now: float) -> str:
    """The first scope `approval_id` needs that `user` holds no current attestation to (the first it needs when the
    decide step refused one that ended or was revoked between the service's check and the step)."""
    scopes = await store.attestations.required(approval_id)
    missing = await store.attestations.missing(user, scopes, now=now)
    return (missing or list(scopes) or [""])[0]
