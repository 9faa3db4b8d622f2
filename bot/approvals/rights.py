"""Who may do what, answered here and nowhere else (pure): a channel's admins, who may change its settings, who may
cancel a run. Who may decide an approval is the decide step's (`lua/lib/decide.lua`, with `ApprovalRecord.
may_decide` for what a Home shows), but for a person of another workspace than the approval's (`may_decide_across`,
which the step asks for); who may create or revoke a rule is the rule book's (`rulebook.py`), which asks `is_admin`
here. Who may act at all (`outsider`): the people of the installing workspace or organisation."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from bot.core.records import ApprovalRecord, ChannelSettings, RunRecord, workspace_of
from bot.core.workspaces import WorkspaceRef
from bot.people.ports import DirectoryUser

Outsider = Literal["unknown", "deactivated", "external", "guest"]


@dataclass(frozen=True, slots=True)
class Organisation:
    """The workspace the bot is installed in (its `auth.test`): its team, its Enterprise Grid organisation ("" when
    none) and name."""

    team_id: str
    enterprise_id: str
    name: str


def outsider(
    person: DirectoryUser | None, *, said_team: str, ours: Organisation, external_teams: Collection[str],
    allowed_guests: Collection[str],
) -> Outsider | None:
    """Why `person` may not act on this bot's approvals, runs or settings, or None when they may. `said_team` is
    the team the request gives for them (a click's `user.team_id`; "" when it gives none); `person` is what Slack
    says of them (None: Slack knows no such user). People of the installing workspace (or of its Enterprise Grid
    organisation) may; people of another team or organisation only when `external_teams` names it (EXTERNAL_TEAMS);
    guests (restricted accounts) only when `allowed_guests` names them (ALLOWED_GUESTS); deactivated accounts and
    ids Slack does not know, never."""
    if person is None:
        return "unknown"
    if person.deleted:
        return "deactivated"
    in_org = bool(ours.enterprise_id) and person.enterprise_id == ours.enterprise_id
    teams = {said_team, person.team_id} - {"", ours.team_id}
    allowed = (
        (bool(person.enterprise_id) and person.enterprise_id in external_teams)
        or (bool(teams) and teams <= set(external_teams))
    )
    if teams and not (in_org and said_team in ("", person.team_id)) and not allowed:
        return "external"
    if not person.team_id:  # Slack always says a person's team: without one, nothing tells they are ours
        return "external"
    if person.guest and person.id not in allowed_guests:
        return "guest"
    return None


def may_decide_across(
    approval: ApprovalRecord, *, user: str, person: WorkspaceRef | None, home: WorkspaceRef,
    external_teams: Collection[str],
) -> bool:
    """Whether `user`, of the workspace `person` (None: Slack could not say), may decide `approval` when it is of
    another workspace (issue 65.5): a person of one workspace never decides another's approvals unless both are of
    our organisation (one Enterprise Grid organisation) and the approval's approvers name them (by their id: not a
    user group, not "anyone"). A team or organisation EXTERNAL_TEAMS names (a Slack Connect partner the operator let
    in) decides as before. An approval without a workspace is the `home` one's."""
    if person is None:
        return False
    theirs = workspace_of(approval.team, approval.enterprise, home=home)
    if person.team == theirs.team:
        return True
    if person.team in external_teams or (person.enterprise is not None and person.enterprise in external_teams):
        return True
    same_organisation = theirs.enterprise is not None and person.enterprise == theirs.enterprise
    return same_organisation and user in approval.approvers


def is_admin(user: str, current: ChannelSettings, admin_users: Collection[str]) -> bool:
    """Named admins only: the channel's `admins` and ADMIN_USERS (an unset `admins` names nobody)."""
    return user in admin_users or user in current.admins


def may_name_admins(user: str, current: ChannelSettings, admin_users: Collection[str]) -> bool:
    """Who may set a channel's `admins`: its named admins and ADMIN_USERS only. A channel none are named for has
    none to claim: the first come never names themselves (ADMIN_USERS, the operator's, names the first)."""
    return is_admin(user, current, admin_users)


def may_change_settings(user: str, current: ChannelSettings, admin_users: Collection[str]) -> bool:
    """Admins of the channel (anyone until some are set), and ADMIN_USERS everywhere; `admins` itself and what
    widens who may decide are a named admin's only (`may_name_admins`, `is_admin`)."""
    return user in admin_users or not current.admins or user in current.admins


def may_cancel(user: str, run: RunRecord, current: ChannelSettings, admin_users: Collection[str]) -> bool:
    """Who started the run, the channel's `admins`, and ADMIN_USERS."""
    return (bool(run.requester) and user == run.requester) or is_admin(user, current, admin_users)
