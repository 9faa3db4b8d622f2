"""The headline numbers of a channel (the last 7 days, as `/agent report` gives them) for its admins' Homes.

Reading 7 days of audit is too slow for every Home redraw, so the numbers are cached per channel in
Redis (`headline:<channel>`, `HEADLINE_SECONDS`), and a Home draw only reads the cache (one MGET for all
its channels). A channel whose numbers are not cached is drawn "computing…", and then, off the draw's
path (`refresh`):

    the person joins the channel's waiting set        (headline:<channel>:wait)
    claim the computation (SET NX, one worker at a time)
      won:  compute from the audit stream, cache it, take the waiting set -> redraw those Homes
      lost: if the numbers are cached now, take the waiting set -> redraw; else the claim's holder
            will take it (it caches before it takes, and we joined before we looked)

A holder that dies leaves its claim to expire (`CLAIM_SECONDS`); the Homes that waited show
"computing…" until their next draw, which tries again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.report import Headline, headline
from bot.store import Store

log = logging.getLogger(__name__)

HEADLINE_DAYS = 7  # as `/agent report`
CLAIM_SECONDS = 30.0  # a computation's claim (then another worker may compute)


@dataclass(frozen=True, slots=True)
class CachedHeadline:
    numbers: Headline
    at: float  # when they were computed


def encode(cached: CachedHeadline) -> str:
    return json.dumps({"at": cached.at, "numbers": dataclasses.asdict(cached.numbers)}, separators=(",", ":"))


def decode(raw: str) -> CachedHeadline | None:
    """The cached numbers, or None when they are not readable (then they are computed again)."""
    try:
        data = json.loads(raw)
        return CachedHeadline(numbers=Headline(**data["numbers"]), at=float(data["at"]))
    except (ValueError, KeyError, TypeError):
        return None


class Headlines:
    def __init__(self, store: Store, *, worker_id: str) -> None:
        self._store = store
        self._worker_id = worker_id

    async def cached(self, channels: Sequence[str]) -> dict[str, CachedHeadline]:
        """The cached numbers of those of `channels` that have them (one Redis command)."""
        found = {}
        for channel, raw in (await self._store.homes.headlines(channels)).items():
            decoded = decode(raw)
            if decoded is not None:
                found[channel] = decoded
        return found

    async def compute(self, channel: str) -> CachedHeadline:
        """`/agent report`'s numbers for `channel`: its audit entries of the last 7 days, and how many
        of its approvals wait now."""
        now = time.time()
        since = now - HEADLINE_DAYS * 86400
        entries = [entry async for entry in self._store.audit.export(since=since, channels=[channel])]
        waiting = (await self._store.approvals.waiting_by_channel()).get(channel, (0, 0.0))[0]
        return CachedHeadline(headline(entries, now=now, channel=channel, since=since, waiting=waiting), now)

    async def refresh(self, channel: str, user: str) -> list[str]:
        """`user`'s Home was drawn without `channel`'s numbers: have them computed (here, unless another
        worker is at it). Returns whose Homes to redraw now (those that waited), [] when none or when
        the worker computing them will."""
        homes = self._store.homes
        await homes.wait_for_headline(channel, user)
        holder = f"{self._worker_id}:{secrets.token_hex(4)}"
        if not await homes.claim_headline(channel, holder, seconds=CLAIM_SECONDS):
            if await self.cached([channel]):  # computed meanwhile (its holder may have taken the set before we joined)
                return await homes.take_headline_waiting(channel)
            return []  # the holder caches them, then takes the set (with us in it)
        try:
            if not await self.cached([channel]):  # (a holder before us may have just cached them)
                await homes.save_headline(channel, encode(await self.compute(channel)))
            return await homes.take_headline_waiting(channel)
        finally:
            await homes.release_headline(channel, holder)
