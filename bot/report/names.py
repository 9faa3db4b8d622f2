"""People's names for the report and the audit export: the audit log keeps Slack ids (`U0123ABCD`), and the
store keeps no names, so they are asked of Slack (`users.info`, with SLACK_BOT_TOKEN and SLACK_API_URL when set:
`bot.core.settings.NamingSettings`).

Offline, without a token, or when Slack refuses or does not answer, a person is shown by id alone: naming is a
courtesy, never a reason for the command to fail or to wait long (`LOOKUP_SECONDS` in all).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from bot.core.settings import NamingSettings, SettingsError, reveal

PERSON = re.compile(r"^[UW][A-Z0-9]{2,20}$")  # a Slack user id
PEOPLE_FIELDS = ("by", "for", "delegate", "requester", "mentioned", "to")  # audit fields that may name people
LOOKUP_SECONDS = 10.0
MOST_PEOPLE = 500  # asked of Slack per command, at most
AT_ONCE = 8


def people_in(entries: Iterable[Mapping[str, str]]) -> set[str]:
    """The user ids the entries name (in `PEOPLE_FIELDS`; `mentioned` and `to` hold lists)."""
    found: set[str] = set()
    for entry in entries:
        for field in PEOPLE_FIELDS:
            found.update(part for part in re.split(r"[,\s]+", entry.get(field) or "") if PERSON.fullmatch(part))
    return found


def display_name(user: Mapping[str, Any]) -> str:
    """What Slack shows for a person: their display name, else their real name, else their handle."""
    profile = user.get("profile") or {}
    for name in (profile.get("display_name"), profile.get("real_name"), user.get("real_name"), user.get("name")):
        if isinstance(name, str) and name.strip():
            return name.strip()[:80]
    return ""


async def names_of(
    ids: Iterable[str], *, settings: NamingSettings | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Names of the people `ids` names, by id, as far as Slack tells them within `LOOKUP_SECONDS` (none without
    SLACK_BOT_TOKEN). `settings`: `NamingSettings.from_env(environ)` when None (the environment when both are)."""
    try:
        settings = NamingSettings.from_env(environ) if settings is None else settings
    except SettingsError:
        return {}
    token = reveal(settings.slack_bot_token)
    wanted = sorted(i for i in set(ids) if PERSON.fullmatch(i))[:MOST_PEOPLE]
    if not token or not wanted:
        return {}
    from slack_sdk.web.async_client import AsyncWebClient

    slack = AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=5)
    names: dict[str, str] = {}
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(user_id: str) -> None:
        async with gate:
            try:
                response = await slack.users_info(user=user_id)
            except Exception:  # refused, unreachable, rate-limited: the id alone
                return
            name = display_name(response.get("user") or {})
            if name:
                names[user_id] = name

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in wanted)), timeout=LOOKUP_SECONDS)
    with contextlib.suppress(Exception):
        session = getattr(slack, "session", None)
        if session is not None:
            await session.close()
    return names


def named(user_id: str, names: Mapping[str, str]) -> str:
    """`bob (U0123ABCD)` when the name is known, else the id."""
    name = names.get(user_id)
    return f"{name} ({user_id})" if name else user_id


def names_fields(entry: Mapping[str, str], names: Mapping[str, str]) -> dict[str, str]:
    """The names next to an entry's ids: `by_name`, `for_name`, `delegate_name`, `requester_name`, and
    `mentioned_names`, `to_names` (comma-separated, in the order of the ids; an unknown one as its id). Only
    fields with at least one known name."""
    extra: dict[str, str] = {}
    for field in PEOPLE_FIELDS:
        parts = [p for p in re.split(r"[,\s]+", entry.get(field) or "") if p]
        if not any(p in names for p in parts):
            continue
        if field in ("mentioned", "to"):
            extra[f"{field}_names"] = ",".join(names.get(p, p) for p in parts)
        else:
            extra[f"{field}_name"] = names.get(parts[0], parts[0]) if len(parts) == 1 else ",".join(
                names.get(p, p) for p in parts
            )
    return extra


def with_names(figures: Any, names: Mapping[str, str]) -> Any:
    """`figures` (bot.report.figures.Figures) with each person shown as `name (id)` where the name is known."""
    if not names:
        return figures
    return dataclasses.replace(
        figures,
        by_approver=tuple(dataclasses.replace(s, label=named(s.label, names)) for s in figures.by_approver),
        approvers=tuple(dataclasses.replace(a, user=named(a.user, names)) for a in figures.approvers),
    )
