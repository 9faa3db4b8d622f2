"""The push surface in Redis (issue 90): each person's devices (their push subscriptions, one per device), the
Approve / Reject actions' links (single use) and the pushes sent (once per approval, person and kind across
workers). The links and the sends are e-mail's records and steps (bot/store/email.py) under push's keys; the key
names are in bot/store/keys_push.py."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

from bot.store.connection import aw
from bot.store.email import EmailStore
from bot.store.keys_push import SUBSCRIPTION_SECONDS, PushKeys
from bot.store.shared import Shared

Added = Literal["added", "renewed", "full"]


@dataclass(frozen=True, slots=True)
class Subscription:
    """One device's push subscription (the browser's PushSubscription): where its pushes go (`endpoint`) and the keys
    they are encrypted to (`p256dh`, `auth`, base64url), when it was added and by what browser (`agent`, cut)."""

    endpoint: str
    p256dh: str
    auth: str
    added: float = 0.0
    agent: str = ""

    @property
    def device(self) -> str:
        """The device's id: a digest of its endpoint (the same device subscribing again is the same one)."""
        return device_of(self.endpoint)


def device_of(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()[:16]


class PushStore(EmailStore):
    """Push subscriptions per person; links and sends as e-mail's (`keep_link`, `take_link`, `claim_send`, ...)."""

    def __init__(self, shared: Shared) -> None:
        super().__init__(shared)
        self._k = self._p = PushKeys(shared.keys)

    async def subscriptions(self, person: str) -> list[Subscription]:
        """`person`'s devices, oldest first (none: [])."""
        raw = await aw(self._s.redis.hgetall(self._p.subs(person)))
        found = []
        for value in raw.values():
            try:
                fields = json.loads(value)
                found.append(Subscription(**{k: fields[k] for k in ("endpoint", "p256dh", "auth", "added", "agent")}))
            except (ValueError, KeyError, TypeError):
                continue  # (never written so: skipped, not fatal)
        return sorted(found, key=lambda s: s.added)

    async def subscribe(self, person: str, subscription: Subscription, *, limit: int) -> Added:
        """Keep `subscription` as one of `person`'s devices (the same endpoint again: renewed); "full" when they have
        `limit` devices already (nothing changed)."""
        key = self._p.subs(person)
        device = subscription.device
        if not await aw(self._s.redis.hexists(key, device)) and await aw(self._s.redis.hlen(key)) >= limit:
            return "full"
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, device, json.dumps(asdict(subscription)))
            pipe.expire(key, SUBSCRIPTION_SECONDS)
            new, _ = await pipe.execute()
        return "added" if int(new) == 1 else "renewed"

    async def unsubscribe(self, person: str, device: str) -> bool:
        """Forget one of `person`'s devices; whether it was theirs."""
        return bool(await aw(self._s.redis.hdel(self._p.subs(person), device)))

def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
