"""Fit to decide (issue 80.5), pure: what an attestation is about (its scope), what an approval needs, the words a
person refused for want of one is told.

A scope is `policy:NAME` (an ask policy's `@require_attestation("NAME")`) or `channel:C…` (the channel setting
`require_attestation`). Its brief is the text its owner wrote (ADMIN_USERS for a policy's, the channel's admins for
a channel's: `/agent attest brief NAME|#channel`), with how long an attestation to it stays valid; a person reads it
on the bot's page (`/attest/<scope>`) and attests there or with `/agent attest NAME|#channel`. Approving or revising
an approval that needs one counts only with the voter's current attestation to each of its scopes (Reject never
needs it: stopping is always allowed)."""

from __future__ import annotations

import re
from collections.abc import Iterable

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")  # a policy's attestation name (`@require_attestation("refunds")`)
SCOPE = re.compile(r"^(policy:[a-z0-9][a-z0-9_.-]{0,39}|channel:[CG][A-Z0-9]{2,23})$")
_CHANNEL_REF = re.compile(r"^(?:<#([CG][A-Z0-9]{2,23})(?:\|[^>]*)?>|#?([CG][A-Z0-9]{2,23}))$")
DEFAULT_VALID = 90 * 86400  # a brief's attestations are valid this long unless its owner says otherwise
MAX_VALID = 3 * 366 * 86400
REMIND_BEFORE = 7 * 86400  # the person is reminded (a DM) this long before their attestation ends
MAX_BRIEF = 2900  # characters of a brief (a modal's input holds 3000)
NEEDS = ("approved", "revised")  # the outcomes an attestation is needed for: Reject never needs one


def scope_of(word: str, *, channel: str) -> str | None:
    """The scope `word` names in a command: `#channel` (Slack's `<#C…|name>`) or `channel` (the one typed in) for a
    channel's, a name for a policy's; None when it names none."""
    if word == "channel":
        word = channel
    found = _CHANNEL_REF.fullmatch(word)
    if found:
        return f"channel:{found.group(1) or found.group(2)}"
    return f"policy:{word}" if NAME.fullmatch(word) else None


def needed(*, policies: Iterable[str] = (), channel: str = "", channel_requires: bool = False) -> tuple[str, ...]:
    """The scopes an approval needs: each policy name that asked for it, and its channel's when the channel's
    setting says so (a policy's is a floor: the channel's setting only adds)."""
    found = [f"policy:{name}" for name in policies if NAME.fullmatch(name)]
    if channel_requires and channel:
        found.append(f"channel:{channel}")
    return tuple(dict.fromkeys(found))


def shown(scope: str) -> str:
    """A scope as a command names it: `refunds`, `#C…` (plain: the caller escapes or links it)."""
    kind, _, name = scope.partition(":")
    return f"#{name}" if kind == "channel" else name


def command_of(scope: str) -> str:
    """The command that attests to `scope` (`/agent attest refunds`, `/agent attest <#C…>`)."""
    kind, _, name = scope.partition(":")
    return f"/agent attest <#{name}>" if kind == "channel" else f"/agent attest {name}"


def refusal_words(scope: str, *, page: str = "") -> str:
    """What a person refused for want of an attestation to `scope` is told (mrkdwn; `page`: the brief's page on
    the bot, "" when PUBLIC_URL is not set)."""
    kind, _, name = scope.partition(":")
    what = f"the brief of <#{name}>" if kind == "channel" else f"the brief `{name}`"
    read = f"read {what} (<{page}|open it>) and attest there, or" if page else f"read {what}, then"
    return (f"Deciding this needs your current attestation to {what}: {read} type `{command_of(scope)}`."
            " Nothing changed.")
