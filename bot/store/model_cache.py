"""The model response cache's entries (`MODEL_CACHE`): one response as text under `{prefix}:modelcache:<sha256 of the
request>`, kept `MODEL_CACHE_SECONDS`. What a response is (its JSON) is the runs' (`bot/runs/response_cache.py`)."""

from __future__ import annotations

from redis.asyncio import Redis

from bot.store.keys import MODEL_CACHE_SECONDS, Keys


class ModelCacheEntries:
    def __init__(self, redis: Redis, *, prefix: str, ttl: int = MODEL_CACHE_SECONDS) -> None:
        self._redis = redis
        self._keys = Keys(prefix)
        self._ttl = ttl

    async def get(self, key: str) -> str | bytes | None:
        raw = await self._redis.get(self._keys.model_cache(key))
        return raw if isinstance(raw, str | bytes) else None

    async def set(self, key: str, text: str) -> None:
        await self._redis.set(self._keys.model_cache(key), text, ex=self._ttl)
