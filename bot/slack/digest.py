"""The channel admins' weekly oversight digest (issue 80): once a week (the due work kind `digest`, bot/store/due.py:
the worker's one loop visits each tenant whose digest is due; no loop per person), the week's signals of each
channel (`oversight:week`, kept by the decide step: lua/lib/oversight.lua) are taken whole, kept as the channel's
digest (shown in its admins' App Home, *Oversight this week*) and sent to each admin in one direct message: the
channel's named `admins`, and ADMIN_USERS. Parked approvals (timeout `never`, issue 90) are named to the admins of
their channel in a message of their own, weekly while any is (the due member `parked`, taken by one worker); an
admin without Slack (`email:<address>`) gets it by e-mail (`mail_parked`: the root gives e-mail's)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.oversight import week_by_channel
from bot.core.people import surface_of
from bot.core.records import ApprovalRecord
from bot.slack.blocks.oversight import build_digest_message, parked_digest
from bot.slack.directory import Directory
from bot.store import Store

log = logging.getLogger(__name__)

ParkedMail = Callable[[str, Sequence[ApprovalRecord]], Awaitable[bool]]  # (admin, parked approvals): mailed?


class WeeklyDigest:
    """One tenant's weekly digest (its `sweep` is the due work's part of kind `digest`)."""

    def __init__(self, *, store: Store, slack: AsyncWebClient, directory: Directory, admin_users: Sequence[str],
                 mark_due: Callable[[Iterable[str]], Awaitable[bool]], mail_parked: ParkedMail | None = None) -> None:
        self._mail_parked = mail_parked  # an `email:<address>` admin's parked digest (the root gives e-mail's)
        self._store = store
        self._slack = slack
        self._directory = directory
        self._admin_users = tuple(admin_users)
        self._mark_due = mark_due

    async def sweep(self, now: float | None = None) -> int:
        """If the digest is due by `now` (default: the clock's), send it: how many admins were told (0: not due);
        and the digest of parked approvals, when due (once across workers)."""
        now = time.time() if now is None else now
        oversight = self._store.oversight
        told = await self._parked(now) if await oversight.take_parked(now) else 0
        if not await oversight.digest_due(now):
            return told
        channels = week_by_channel(await oversight.take_week(now))
        digests: dict[str, dict[str, Any]] = {
            channel: {"at": now, "reviewers": [{**asdict(r), "flags": list(r.flags)} for r in reviewers]}
            for channel, reviewers in channels.items()}
        await oversight.keep_digest(digests)
        by_admin: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for channel, digest in sorted(digests.items()):
            settings = await self._store.settings.get(channel, default_timeout=0)
            for admin in dict.fromkeys([*settings.admins, *self._admin_users]):
                by_admin.setdefault(admin, []).append((channel, digest))
        for admin, theirs in by_admin.items():
            theirs.sort(key=lambda pair: -sum(1 for r in pair[1]["reviewers"] if r["flags"]))
            await self._tell(admin, theirs)
        await self._mark_due(by_admin)  # their Homes show it
        return len(by_admin)

    async def _parked(self, now: float) -> int:
        """Name each parked approval (pending, never timing out) to its channel's admins (and ADMIN_USERS), one DM
        each; how many were told."""
        parked = [a for a in await self._store.approvals.pending() if a.never_times_out and not a.canary]
        whole = [await self._store.approvals.get(a.id) for a in parked]  # (`pending` reads no long text: the task)
        parked = [a for a in whole if a is not None and a.pending]
        by_admin: dict[str, list[ApprovalRecord]] = {}
        for approval in sorted(parked, key=lambda a: a.created_at):
            settings = await self._store.settings.get(approval.origin_channel, default_timeout=0)
            for admin in dict.fromkeys([*settings.admins, *self._admin_users]):
                by_admin.setdefault(admin, []).append(approval)
        for admin, theirs in by_admin.items():
            if surface_of(admin) == "email":  # no Slack to DM: by e-mail, with SMTP_URL
                if self._mail_parked is None or not await self._mail_parked(admin, theirs):
                    log.warning("the digest of parked approvals to an e-mail admin was not sent (%s)",
                                "the mail server did not take it" if self._mail_parked else "no SMTP_URL")
                continue
            text, blocks = parked_digest(theirs)
            await self._post(admin, text, blocks)
        return len(by_admin)

    async def _tell(self, admin: str, digests: list[tuple[str, dict[str, Any]]]) -> None:
        text, blocks = build_digest_message(digests)
        await self._post(admin, text, blocks)

    async def _post(self, admin: str, text: str, blocks: list[dict[str, Any]]) -> None:
        channel = await self._directory.dm_channel(admin)
        if channel is None:
            return
        try:
            await self._slack.chat_postMessage(channel=channel, text=text, blocks=blocks)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("the weekly digest to %s could not be sent (%s)", admin, error)
