"""Admission on one worker, before a request costs anything: one key's flood must not slow another key's clicks.

Pure and in-process (no Redis, no clock of its own: callers pass `now`). `Admission.admit(name, now)` is a token
bucket per name: `rate` requests a second, `burst` at once; it answers 0 (admitted) or the seconds until the
next would be (`Retry-After`). The API checks a key's bucket right after authenticating it, before it reads or
parses the body or does any Redis work (bot/api/routes.py); the key's own per-minute limit (`count_request`, in
Redis, for all workers) comes after. The receipt-spend endpoint, which has no key, has one bucket per client
address and one for everyone.

`LogThrottle` (bot/core/logs.py) keeps a flood from flooding the log: the first refusal of a kind is logged, then at
most one a `every` seconds, saying how many were left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.logs import LogThrottle

__all__ = ["Admission", "LogThrottle"]

KEY_RATE = 50.0  # requests a second one key may start on one worker (whatever its per-minute limit)
KEY_BURST = 100.0
KEY_READ_RATE = 500.0  # reads (GET, a long-poll each): a program may wait on each of its pending approvals at once
KEY_READ_BURST = 2000.0
SPEND_RATE = 20.0  # receipt spends (no key) a second from one client address, on one worker
SPEND_BURST = 40.0
SPEND_ALL_RATE = 200.0  # receipt spends a second from everyone, on one worker
SPEND_ALL_BURST = 400.0
MAX_BUCKETS = 10_000  # names remembered at most (the oldest full ones are forgotten first)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class Admission:
    """Token buckets by name (see the module docstring)."""

    def __init__(self, *, rate: float, burst: float, max_buckets: int = MAX_BUCKETS) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._max = max_buckets
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, name: str, now: float) -> float:
        """Take one token of `name`'s bucket: 0.0 when there was one, else the seconds until there is."""
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= self._max:
                self._forget(now)
            bucket = self._buckets[name] = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def _forget(self, now: float) -> None:
        """Drop the buckets full again by `now` (as good as new); if none is, the older half."""
        full = [name for name, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst]
        for name in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[name]
