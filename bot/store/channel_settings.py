"""Per-channel settings (`/agent config`), read as `ChannelSettings` over the worker's defaults.

Each read comes with what the hash held, field by field. A worker keeps its last read of a channel (`copy`): the
decision chain decides on that copy, and the open step that stores what it decided compares the hash with it,
atomically, so a decision stands only under the settings it was made under (a changed channel is read again and
the request decided again). No writer needs to say that it changed settings.

Two indexes are kept with the settings, in the same transaction as each change: `settings:channels`
(the channels that have settings, by their last change: ADMIN_USERS's Homes list them) and, for the
`admins` setting, `admin_of:<user>` (the channels that name each person an admin: their Home shows
those channels), changed by the difference between the old and the new list.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import chain

from redis.exceptions import WatchError

from bot.core.channel_options import named, read_settings
from bot.core.records import SLACK_ID, ChannelSettings
from bot.store.audit import AuditLog
from bot.store.connection import aw
from bot.store.shared import Shared

COPIES = 4096  # channels whose settings a worker keeps a copy of (the least recently read go first)


@dataclass(frozen=True, slots=True)
class ReadSettings:
    """A channel's settings as read, and what its hash held then (field, value, ... in the hash's order: what the
    open step compares it with)."""

    settings: ChannelSettings
    held: tuple[str, ...]


class ChannelSettingsStore:
    def __init__(self, shared: Shared, audit: AuditLog) -> None:
        self._s = shared
        self._audit = audit
        self._copies: dict[tuple[str, int], ReadSettings] = {}

    async def get(self, channel: str, *, default_timeout: int) -> ChannelSettings:
        """The channel's settings: what its hash holds (each setting under its name, as `parse_setting`
        returned it), read by their declarations (`bot.core.channel_options`)."""
        return (await self.read(channel, default_timeout=default_timeout)).settings

    async def read(self, channel: str, *, default_timeout: int) -> ReadSettings:
        """The channel's settings now, with what their hash held; kept as this worker's copy of them."""
        raw = await aw(self._s.redis.hgetall(self._s.keys.settings(channel)))
        held = tuple(chain.from_iterable(raw.items()))  # (in the hash's order, as the open step reads it again)
        read = ReadSettings(read_settings(raw, default_timeout=default_timeout), held)
        copies, key = self._copies, (channel, default_timeout)
        copies.pop(key, None)
        if len(copies) >= COPIES:
            del copies[next(iter(copies))]
        copies[key] = read
        return read

    async def copy(self, channel: str, *, default_timeout: int) -> ReadSettings:
        """This worker's last read of the channel's settings (read now if it has none): maybe changed since, for a
        step that compares the hash with it (the open step: `Approvals.open(settings=...)`)."""
        found = self._copies.get((channel, default_timeout))
        return found if found is not None else await self.read(channel, default_timeout=default_timeout)

    async def set(self, channel: str, key: str, value: str, *, by: str) -> str | None:
        """Change one setting; audited with before and after. Returns the value it had. A change of
        `admins` moves the channel between people's `admin_of` sets in the same transaction."""
        k = self._s.keys
        settings_key = k.settings(channel)
        async with self._s.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(settings_key)  # the diff below is of the value this transaction replaces
                    before = await aw(pipe.hget(settings_key, key))
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(settings_key, key, value)
                    pipe.zadd(k.settings_channels, {channel: time.time()})
                    if key == "admins":
                        old, new = set(named(before)), set(named(value))
                        for user in sorted(old - new):
                            pipe.srem(k.admin_of(user), channel)
                        for user in sorted(new - old):
                            pipe.sadd(k.admin_of(user), channel)
                    await pipe.execute()
                    break
                except WatchError:  # changed meanwhile: read it again
                    continue
        await self._audit.append(
            "settings_changed", origin_channel=channel, by=by, setting=key, before=before or "", after=value
        )
        return str(before) if before is not None else None

    async def rebuild_indexes(self) -> int:
        """Add to `admin_of` and `settings:channels` what settings written before they existed hold
        (idempotent; settings changed since are already indexed, and keep their time), once per Redis
        (noted in `migrated:admin-index`). Returns how many channels' settings were read."""
        k = self._s.keys
        done = k.migrated("admin-index")
        if await self._s.redis.exists(done):  # once per Redis, not at every worker's start
            return 0
        prefix = k.settings("")
        count = 0
        async for raw_key in self._s.redis.scan_iter(match=prefix + "*", count=500, _type="HASH"):
            key = str(raw_key)
            channel = key[len(prefix) :]
            if not SLACK_ID.fullmatch(channel):
                continue
            async with self._s.redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)  # (a change meanwhile would be undone by adding the old admins)
                        admins = await aw(pipe.hget(key, "admins"))
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.zadd(k.settings_channels, {channel: 0.0}, nx=True)
                        for user in named(admins):
                            pipe.sadd(k.admin_of(user), channel)
                        await pipe.execute()
                        break
                    except WatchError:
                        continue
            count += 1
        await self._s.redis.set(done, repr(time.time()))
        return count

    async def admin_of(self, user: str) -> list[str]:
        """The channels whose `admins` name `user` (sorted)."""
        return sorted(await aw(self._s.redis.smembers(self._s.keys.admin_of(user))))

    async def channels(self, *, limit: int) -> list[tuple[str, float]]:
        """The channels that have settings, most recently changed first: (channel, when), at most `limit`."""
        found = await self._s.redis.zrevrange(self._s.keys.settings_channels, 0, limit - 1, withscores=True)
        return [(str(channel), float(score)) for channel, score in found]

