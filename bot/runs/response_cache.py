"""The model response cache in Redis (`MODEL_CACHE`): an `bot.runs.models.AsyncCacheStore` on the
worker's async Redis client, its entries kept by the store (`bot/store/model_cache.py`).

Each entry is one response as JSON (`bot.runs.models.dump_cached`) under `{prefix}:modelcache:<sha256 of
the request>`, kept 7 days. Redis is asked with a time limit (`REDIS_TIMEOUT`), and a Redis that fails
or is slow is a cache miss: a model call never fails, or waits longer than that, because of the cache.
"""

from __future__ import annotations

import asyncio
import logging

from autogen_ext.models.cache import CHAT_CACHE_VALUE_TYPE
from redis.asyncio import Redis

from bot.core.settings import Settings
from bot.runs.caching_client import dump_cached, load_cached
from bot.store import StoreUnavailable
from bot.store.keys import MODEL_CACHE_SECONDS
from bot.store.model_cache import ModelCacheEntries

log = logging.getLogger(__name__)

MODEL_CACHE_TIMEOUT = 2.0  # seconds Redis may take to answer before the cache counts as a miss (REDIS_TIMEOUT)


class RedisModelCache:
    """Model responses in Redis (`Keys.model_cache`), each kept `ttl` seconds."""

    def __init__(
        self, redis: Redis, *, prefix: str, ttl: int = MODEL_CACHE_SECONDS, timeout: float = MODEL_CACHE_TIMEOUT
    ) -> None:
        self._entries = ModelCacheEntries(redis, prefix=prefix, ttl=ttl)
        self._timeout = timeout

    async def get(self, key: str) -> CHAT_CACHE_VALUE_TYPE | None:
        try:
            async with asyncio.timeout(self._timeout):
                raw = await self._entries.get(key)
        except (StoreUnavailable, TimeoutError) as exc:
            log.warning("model cache: Redis did not answer (%s); asking the model", type(exc).__name__)
            return None
        return load_cached(raw) if raw is not None else None

    async def set(self, key: str, value: CHAT_CACHE_VALUE_TYPE) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._entries.set(key, dump_cached(value))
        except (StoreUnavailable, TimeoutError) as exc:
            log.warning("model cache: a response was not kept (%s)", type(exc).__name__)


def model_cache(settings: Settings, redis: Redis) -> RedisModelCache | None:
    """The model response cache on `redis` when `MODEL_CACHE` is on, else None."""
    if not settings.model_cache:
        return None
    return RedisModelCache(redis, prefix=settings.store_prefix, timeout=settings.redis_timeout)
