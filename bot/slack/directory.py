"""Who is who in Slack: users, user groups (cached with a short expiry) and channels."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)
NAME_SECONDS = 3600.0  # how long a person's display name is kept


class Directory:
    """Slack lookups for approver rules. Group membership is cached for `ttl` seconds
    (`usergroups.users.list` is a Tier 2 method)."""

    def __init__(self, slack: AsyncWebClient, *, ttl: float = 60.0) -> None:
        self._slack = slack
        self._ttl = ttl
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._dms: dict[str, str] = {}  # person -> the bot's direct message channel with them (it never changes)
        self._names: dict[str, tuple[float, str | None]] = {}  # person -> (until, display name; None: unknown)
        self._emails: dict[str, tuple[float, str | None]] = {}  # email -> (until, user id; None: nobody)

    async def name_of(self, user_id: str) -> str | None:
        """`user_id`'s Slack display name (else real name, else user name), cached `NAME_SECONDS` (an unknown one
        for a minute: a refused lookup is not asked again at once); None when Slack does not say."""
        cached = self._names.get(user_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        name: str | None = None
        try:
            user = (await self._slack.users_info(user=user_id)).get("user") or {}
            profile = user.get("profile") or {}
            name = str(profile.get("display_name") or user.get("real_name") or user.get("name") or "") or None
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.info("no name for %s (%s)", user_id, error)
        self._names[user_id] = (time.monotonic() + (NAME_SECONDS if name else 60.0), name)
        return name

    async def user_by_email(self, email: str) -> str | None:
        """The id of the person whose Slack email is `email` (`users.lookupByEmail`, scope `users:read.email`),
        cached as names are; None when Slack knows no one with it (or will not say: the reason is logged)."""
        key = email.strip().lower()
        cached = self._emails.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        found: str | None = None
        try:
            user = (await self._slack.users_lookupByEmail(email=key)).get("user") or {}
            found = str(user.get("id") or "") or None
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.info("no Slack user found by email (%s)", error)
        self._emails[key] = (time.monotonic() + (NAME_SECONDS if found else 60.0), found)
        return found

    async def group_members(self, group_id: str) -> frozenset[str]:
        cached = self._groups.get(group_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        response = await self._slack.usergroups_users_list(usergroup=group_id)
        members = frozenset(str(u) for u in response.get("users") or [])
        self._groups[group_id] = (time.monotonic() + self._ttl, members)
        return members

    async def in_any_group(self, user: str, ids: Sequence[str]) -> bool:
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
        None when Slack refuses (logged)."""
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

    async def problem_with_channel(self, channel_id: str) -> str | None:
        try:
            await self._slack.conversations_info(channel=channel_id)
        except SlackApiError as exc:
            return f"channel <#{channel_id}> cannot be used ({exc.response.get('error')})"
        return None

    async def count_people(self, ids: list[str]) -> int:
        """How many distinct people the users and groups in `ids` name."""
        return len(await self.people(ids))
