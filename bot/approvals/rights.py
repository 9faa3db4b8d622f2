"""Who may do what, answered here and nowhere else (pure): a channel's admins, who may change its settings, who may
cancel a run. Who may decide an approval is the decide step's (`lua/lib/decide.lua`, with `ApprovalRecord.
may_decide` for what a Home shows); who may create or revoke a rule is the rule book's (`rulebook.py`), which asks
`is_admin` here."""

from __future__ import annotations

from collections.abc import Collection

from bot.core.records import ChannelSettings, RunRecord


def is_admin(user: str, current: ChannelSettings, admin_users: Collection[str]) -> bool:
    """Named admins only: the channel's `admins` and ADMIN_USERS (an unset `admins` names nobody)."""
    return user in admin_users or user in current.admins


def may_change_settings(user: str, current: ChannelSettings, admin_users: Collection[str]) -> bool:
    """Admins of the channel (anyone until some are set), and ADMIN_USERS everywhere."""
    return user in admin_users or not current.admins or user in current.admins


def may_cancel(user: str, run: RunRecord, current: ChannelSettings, admin_users: Collection[str]) -> bool:
    """Who started the run, the channel's `admins`, and ADMIN_USERS."""
    return (bool(run.requester) and user == run.requester) or is_admin(user, current, admin_users)
