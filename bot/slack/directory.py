"""Who is who in Slack: users, user groups (cached with a short expiry) and channels."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, Generic, Protocol, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.msteams import is_teams_person
from bot.core.people import CannotCheck
from bot.people.ports import DirectoryUser

log = logging.getLogger(__name__)
NAME_SECONDS = 3600.0  # how long a person's record (`users.info`) is kept
UNKNOWN_SECONDS = 60.0  # how long "Slack knows no such person" (or a failed lookup, for names) is kept
NO_SUCH_USER = frozenset({"user_not_found", "users_not_found", "user_not_visible"})
NO_SUCH_GROUP = frozenset({"no_such_subteam", "subteam_not_found"})
V = TypeVar("V")


class _Kept(Generic[V]):
    """Values kept a while, by key: each until its deadline on `time.monotonic()` (the directory's caches)."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[float, V]] = {}

    def get(self, key: str) -> tuple[V] | None:
        """`(value,)` while `key`'s value is kept; None when none is (never kept, or its time is up)."""
        held = self._held.get(key)
        return (held[1],) if held is not None and held[0] > time.monotonic() else None

    def keep(self, key: str, value: V, seconds: float, *, since: float | None = None) -> None:
        """Keep `value` for `seconds` from now (or from `since`, a `time.monotonic()` reading)."""
        self._held[key] = ((time.monotonic() if since is None else since) + seconds, value)


class SharedPeople(Protocol):
    """Where the workers share who people are (`bot.store.people.People`): a record as JSON, kept `seconds`;
    `get` gives it with the seconds it has left."""

    async def get(self, user: str) -> tuple[str, float] | None: ...

    async def put(self, user: str, record: str, *, seconds: int) -> None: ...


class LookupFailed(CannotCheck):
    """Slack could not say who someone is right now (unreachable, rate limited, token refused): the core's
    `CannotCheck`, which the surfaces above catch without knowing Slack's."""


def _part(user: dict[str, Any], key: str) -> dict[str, Any]:
    part = user.get(key)
    return part if isinstance(part, dict) else {}


def _person(user: dict[str, Any]) -> DirectoryUser:
    profile, grid = _part(user, "profile"), _part(user, "enterprise_user")
    name = str(profile.get("display_name") or user.get("real_name") or user.get("name") or "") or None
    return DirectoryUser(
        id=str(user.get("id") or ""),
        name=name,
        team_id=str(user.get("team_id") or ""),
        enterprise_id=str(grid.get("enterprise_id") or ""),
        guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
        deleted=bool(user.get("deleted")),
        bot=bool(user.get("is_bot")),
        email=str(profile.get("email") or "").strip().lower(),
    )


class Directory:
    """Slack lookups for approver rules. Group membership is cached for `ttl` seconds
    (`usergroups.users.list` is a Tier 2 method)."""

    def __init__(self, slack: AsyncWebClient, *, ttl: float = 60.0, shared: SharedPeople | None = None,
                 team: str | None = None) -> None:
        self._slack = slack
        # with an Enterprise Grid org-wide token: the workspace its user-group calls name (Slack needs `team_id`)
        self._team = team
        # an org-wide token with no workspace named (the home installation's, SLACK_BOT_TOKEN): its first workspace
        # (`auth.teams.list`) is named, the others looked in as for `team`
        self.org_wide = False
        self._group_teams: dict[str, str] = {}  # an org-wide token's group -> the workspace it lives in (if not `team`)
        self._shared = shared  # who people are, shared by the workers (asked before Slack)
        self._ttl = ttl
        self._groups: _Kept[frozenset[str]] = _Kept()
        self.missing: set[str] = set()  # user groups Slack said do not exist (a typo, a deleted group)
        self._dms: dict[str, str] = {}  # person -> the bot's direct message channel with them (it never changes)
        self._people: _Kept[DirectoryUser | None] = _Kept()  # id -> who (None: no such person)
        self._names: _Kept[str | None] = _Kept()  # id -> None: a failed lookup, not asked again
        self._connected: _Kept[bool] = _Kept()  # channel -> shared with other organizations
        self._emails: _Kept[str | None] = _Kept()  # email -> user id (None: nobody)

    async def person(self, user_id: str, *, fresh: bool = False) -> DirectoryUser | None:
        """Who `user_id` is (`users.info`), kept `NAME_SECONDS`; None when Slack knows no such person (kept
        `UNKNOWN_SECONDS`). LookupFailed when Slack cannot say now (not kept: the next call asks again). `fresh`:
        Slack is asked whatever is kept (for a right used long after a click: a person deactivated meanwhile), and
        what it says is kept for the next. A Teams-only person (`teams:<object id>`) is nobody Slack knows: None,
        Slack not asked."""
        if is_teams_person(user_id):
            return None
        cached = None if fresh else self._people.get(user_id)
        if cached is not None:
            return cached[0]
        asked = time.monotonic()  # (before the read: the copy ends no later than the record, whatever the round trip)
        shared = None if fresh else await self._shared_person(user_id)
        if shared is not None:  # kept here only as long as the shared record itself lives (at most an hour)
            self._people.keep(user_id, shared[0], min(shared[1], NAME_SECONDS), since=asked)
            return shared[0]
        try:
            user = (await self._slack.users_info(user=user_id)).get("user") or {}
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if error not in NO_SUCH_USER:
                raise LookupFailed(error) from exc
            self._people.keep(user_id, None, UNKNOWN_SECONDS)
            return None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LookupFailed(type(exc).__name__) from exc
        found = _person(user) if isinstance(user, dict) else None
        self._people.keep(user_id, found, NAME_SECONDS if found else UNKNOWN_SECONDS)
        if found is not None and self._shared is not None:
            with contextlib.suppress(Exception):  # sharing is a saving: Slack is asked again when it fails
                await self._shared.put(user_id, json.dumps(asdict(found)), seconds=int(NAME_SECONDS))
        return found

    async def _shared_person(self, user_id: str) -> tuple[DirectoryUser, float] | None:
        """Who `user_id` is as another worker last asked Slack, and the seconds that record has left; None (not
        kept, or unreadable)."""
        if self._shared is None:
            return None
        try:
            found = await self._shared.get(user_id)
            return (DirectoryUser(**json.loads(found[0])), found[1]) if found else None
        except Exception:  # Redis down, or a record of another version: Slack is asked
            return None

    async def name_of(self, user_id: str) -> str | None:
        """`user_id`'s Slack display name (else real name, else user name); None when Slack does not say (a
        failed lookup is not asked again for `UNKNOWN_SECONDS`)."""
        if (cached := self._names.get(user_id)) is not None:
            return cached[0]
        try:
            found = await self.person(user_id)
        except LookupFailed as exc:
            log.info("no name for %s (%s)", user_id, exc)
            self._names.keep(user_id, None, UNKNOWN_SECONDS)
            return None
        if found is None:
            log.info("no name for %s (no such user)", user_id)
        return found.name if found else None

    async def user_by_email(self, email: str, *, strict: bool = False) -> str | None:
        """The id of the person whose Slack email is `email` (`users.lookupByEmail`, scope `users:read.email`),
        cached as names are; None when Slack knows no one with it (or will not say: the reason is logged). `strict`:
        None only on Slack's word (`users_not_found`), LookupFailed when it cannot say now (a Teams decider is mapped
        to a Slack user or to a Teams person only on Slack's answer: one person never counts twice)."""
        key = email.strip().lower()
        if (cached := self._emails.get(key)) is not None and (cached[0] is not None or not strict):
            return cached[0]
        found: str | None = None
        try:
            user = (await self._slack.users_lookupByEmail(email=key)).get("user") or {}
            found = str(user.get("id") or "") or None
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            error = str(exc.response.get("error")) if isinstance(exc, SlackApiError) else type(exc).__name__
            log.info("no Slack user found by email (%s)", error)
            if strict and error not in NO_SUCH_USER:
                raise LookupFailed(error) from exc
        self._emails.keep(key, found, NAME_SECONDS if found else UNKNOWN_SECONDS)
        return found

    async def group_members(self, group_id: str) -> frozenset[str]:
        """The members of user group `group_id`, cached `ttl` seconds. SlackApiError when Slack will not say
        (`no_such_subteam`: a typo, a deleted group; the id is then in `missing` until Slack answers for it)."""
        if (cached := self._groups.get(group_id)) is not None:
            return cached[0]
        try:
            response = await self._members_of(group_id)
        except SlackApiError as exc:
            if exc.response.get("error") in NO_SUCH_GROUP:
                self.missing.add(group_id)
            raise
        self.missing.discard(group_id)
        members = frozenset(str(u) for u in response.get("users") or [])
        self._groups.keep(group_id, members, self._ttl)
        return members

    async def _members_of(self, group_id: str) -> Any:
        """`usergroups.users.list` of `group_id`. With an org-wide token Slack reads a group only in its own
        workspace (`team_id`): one not found in this one is looked for in the organisation's others
        (`auth.teams.list`, then `usergroups.list` of each), and where it lives is kept."""
        if self._team is None and self.org_wide:
            teams = (await self._slack.auth_teams_list()).get("teams") or []
            self._team = next((str(t["id"]) for t in teams if isinstance(t, dict) and t.get("id")), None)
        team = self._group_teams.get(group_id, self._team)
        try:
            return await self._slack.usergroups_users_list(usergroup=group_id, team_id=team)
        except SlackApiError as exc:
            if self._team is None or group_id in self._group_teams or exc.response.get("error") not in NO_SUCH_GROUP:
                raise
            home = await self._workspace_of_group(group_id)
            if home is None:
                raise
        self._group_teams[group_id] = home
        return await self._slack.usergroups_users_list(usergroup=group_id, team_id=home)

    async def _workspace_of_group(self, group_id: str) -> str | None:
        """The workspace of the organisation whose user groups hold `group_id` (None: none of them)."""
        teams = (await self._slack.auth_teams_list()).get("teams") or []
        for team in (str(t.get("id") or "") for t in teams if isinstance(t, dict)):
            if not team or team == self._team:
                continue
            groups = (await self._slack.usergroups_list(team_id=team)).get("usergroups") or []
            if any(isinstance(g, dict) and g.get("id") == group_id for g in groups):
                return team
        return None

    async def counts_in_groups(self, user: str, ids: Sequence[str]) -> bool:
        """`in_any_group`, where a group Slack will not read (one that does not exist, Slack unreachable) counts as
        not holding `user` (logged): a click is then refused with a clear answer, never an error."""
        try:
            return await self.in_any_group(user, ids)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("user groups of %s could not be read (%s): not counted as a member", user, error)
            return False

    async def in_any_group(self, user: str, ids: Sequence[str]) -> bool:
        """Whether Slack user `user` is in any of the user groups among `ids` (the core asks People, which asks this
        only for Slack accounts: bot/slack/accounts.py; an id of no Slack user is in no group's members)."""
        for group_id in ids:
            if group_id.startswith("S") and user in await self.group_members(group_id):
                return True
        return False

    async def people(self, ids: Sequence[str]) -> set[str]:
        """The people that the users and user groups in `ids` name."""
        people = {i for i in ids if not i.startswith("S")}
        for group_id in ids:
            if group_id.startswith("S"):
                people |= await self.group_members(group_id)
        return people

    async def dm_channel(self, user_id: str) -> str | None:
        """The bot's direct message channel with `user_id` (`conversations.open`, asked once per person);
        None when Slack refuses (logged), and for a Teams-only person (`teams:<object id>`: no Slack account; their
        cards go to their Teams chat, bot/msteams/), whom Slack is not asked about."""
        if is_teams_person(user_id):
            return None
        if user_id not in self._dms:
            try:
                response = await self._slack.conversations_open(users=user_id)
            except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
                error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
                log.warning("no direct message with %s could be opened (%s)", user_id, error)
                return None
            self._dms[user_id] = str((response.get("channel") or {}).get("id") or "")
        return self._dms[user_id] or None

    async def problem_with_user(self, user_id: str) -> str | None:
        try:
            response = await self._slack.users_info(user=user_id)
        except SlackApiError as exc:
            return f"<@{user_id}> cannot be found ({exc.response.get('error')})"
        user = response.get("user") or {}
        if user.get("deleted"):
            return f"<@{user_id}> is deactivated"
        return None

    async def problem_with_group(self, group_id: str) -> str | None:
        try:
            await self.group_members(group_id)
        except SlackApiError as exc:
            return f"user group {group_id} cannot be read ({exc.response.get('error')})"
        return None

    async def shared(self, channel_id: str) -> bool:
        """Whether `channel_id` is shared with other organizations (Slack Connect: `is_ext_shared`), kept
        `NAME_SECONDS`; False when Slack does not say (logged; a card then says nothing of it, and the people check
        refuses outsiders all the same)."""
        if (cached := self._connected.get(channel_id)) is not None:
            return cached[0]
        try:
            channel = (await self._slack.conversations_info(channel=channel_id)).get("channel") or {}
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.info("not known whether %s is shared (%s)", channel_id, error)
            self._connected.keep(channel_id, False, UNKNOWN_SECONDS)
            return False
        shared = bool(channel.get("is_ext_shared")) if isinstance(channel, dict) else False
        self._connected.keep(channel_id, shared, NAME_SECONDS)
        return shared

    async def missing_groups(self, ids: Sequence[str]) -> tuple[list[str], str]:
        """Of the user groups among `ids`, those Slack says do not exist, and why the others could not all be
        checked ("" when they were)."""
        missing, unchecked = [], ""
        for group_id in dict.fromkeys(i for i in ids if i.startswith("S")):
            try:
                await self.group_members(group_id)
            except SlackApiError as exc:
                error = str(exc.response.get("error") or "")
                if error in NO_SUCH_GROUP:
                    missing.append(group_id)
                else:
                    unchecked = f"Slack answered {error}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                unchecked = f"Slack could not be reached ({type(exc).__name__})"
        return missing, unchecked

    async def problem_with_channel(self, channel_id: str) -> str | None:
        try:
            await self._slack.conversations_info(channel=channel_id)
        except SlackApiError as exc:
            return f"channel <#{channel_id}> cannot be used ({exc.response.get('error')})"
        return None

    async def count_people(self, ids: list[str]) -> int:
        """How many distinct people the users and groups in `ids` name."""
        return len(await self.people(ids))
