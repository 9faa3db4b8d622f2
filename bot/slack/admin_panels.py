"""What a channel's admins see of their channels on their App Home (the Homes draw it: `HomeService`): the channels
they administer (its `admins`; ADMIN_USERS every channel with settings or rules), the most active first, each with
its headline numbers, read from a cache only (`bot/report/headline_cache.py`: missing ones are computed in the
background and the Home redrawn then), and its live rules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from bot.core.tasks import Background
from bot.report.headline_cache import Headlines
from bot.slack.blocks.home import HOME_CHANNELS, ChannelPanel
from bot.store import Store

ADMIN_CANDIDATES = 30  # an admin's channels read at a draw (the most recently configured), to pick those shown
SETTINGS_CHANNELS_READ = 1000  # ADMIN_USERS: the channels with settings considered (the most recent)


class AdminPanels:
    """An admin's channel panels; `mark_due` marks Homes due a redraw (`HomeService.mark_due`)."""

    def __init__(
        self, *, store: Store, headlines: Headlines, background: Background, admin_users: Sequence[str],
        mark_due: Callable[[Iterable[str]], Awaitable[bool]],
    ) -> None:
        self.admin_users = tuple(admin_users)
        self.headlines = headlines
        self.mark_due = mark_due
        self._headlines_wanted: set[tuple[str, str]] = set()  # (channel, person) being computed for, here
        self._store = store
        self._background = background

    async def admin_channels(self, user: str) -> tuple[list[str], int, dict[str, float]]:
        """The channels `user` administers, the most recently configured first (at most
        `ADMIN_CANDIDATES`), how many in all, and when each was last configured (0: never)."""
        named = await self._store.settings.admin_of(user)
        if not named and user not in self.admin_users:
            return [], 0, {}  # (most people: one Redis command)
        recent = dict(await self._store.settings.channels(limit=SETTINGS_CHANNELS_READ))
        every = set(named)
        if user in self.admin_users:
            every |= set(recent) | set(await self._store.rules.channels())
        ordered = sorted(every, key=lambda c: (-recent.get(c, 0.0), c))
        return ordered[:ADMIN_CANDIDATES], len(every), recent

    async def channel_panels(self, user: str) -> tuple[list[ChannelPanel], int]:
        """What `user`'s Home shows of the channels they administer: the most active (configured, or
        with a rule, lately) first, at most `HOME_CHANNELS`, and how many they administer in all. The
        numbers are only read from the cache: those missing are computed in the background, and the
        Home redrawn then."""
        candidates, total, configured = await self.admin_channels(user)
        if not candidates:
            return [], 0
        now = time.time()
        rules = await asyncio.gather(*(self._store.rules.of_channel(c, now=now) for c in candidates))
        live = dict(zip(candidates, rules, strict=True))

        def activity(channel: str) -> float:
            return max([configured.get(channel, 0.0), *(r.created_at for r in live[channel])])

        shown = sorted(candidates, key=lambda c: (-activity(c), c))[:HOME_CHANNELS]
        cached = await self.headlines.cached(shown)
        digests = await asyncio.gather(*(self._store.oversight.digest_of(c) for c in shown))  # (issue 80)
        digest = dict(zip(shown, digests, strict=True))
        for channel in shown:
            if channel not in cached:
                self._want_headline(channel, user)
        panels = [
            ChannelPanel(
                channel=c,
                numbers=cached[c].numbers if c in cached else None,
                as_of=cached[c].at if c in cached else now,
                rules=live[c],
                digest=digest[c],
            )
            for c in shown
        ]
        return panels, total

    def _want_headline(self, channel: str, user: str) -> None:
        """Compute `channel`'s numbers in the background (unless this worker is already at it for
        `user`), then redraw the Homes that waited for them."""
        wanted = (channel, user)
        if wanted in self._headlines_wanted:
            return
        self._headlines_wanted.add(wanted)

        async def compute() -> None:
            try:
                people = await self.headlines.refresh(channel, user)
            finally:
                self._headlines_wanted.discard(wanted)
            await self.mark_due(people)

        self._background.spawn(compute(), name=f"headline-{channel}-{user}")
