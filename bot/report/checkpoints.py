"""Signed checkpoints of the audit chain's head, written by every worker's loop (one of them writes each).

A checkpoint is `{seq, hash, id, at}` of the newest audit entry (its seq and hash in the chain, its stream id,
when it was signed), signed as a compact JWS (EdDSA, typ `audit-checkpoint+jwt`) by the deployment's current
signing key (bot/core/signing.py), and kept in `Keys.audit_checkpoints` with those fields beside the JWS. One is
due after AUDIT_CHECKPOINT_EVERY new entries, or AUDIT_CHECKPOINT_INTERVAL after the last one when there are new
entries (the first as soon as there is an entry). The store's step (`lua/audit_checkpoint.lua`) keeps it only if
the last checkpoint's seq is lower, so workers that sign the same head at once write one checkpoint.

Without a signing key nothing is written: the log is chained but unsigned.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.core.signing import SigningError, SigningKeys
from bot.core.tasks import stop_task
from bot.report.audit_chain import link_of
from bot.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

CHECKPOINT_TYPE = "audit-checkpoint+jwt"  # the JWS header's `typ`
POLL_SECONDS = 5.0  # how often a worker looks at the chain's head (two reads of one entry each)


class AuditCheckpoints:
    """Writes a signed checkpoint when one is due (`write_due`), every `poll` seconds in its own task."""

    def __init__(
        self, store: Store, keys: SigningKeys, *, every: int, interval: float, poll: float = POLL_SECONDS
    ) -> None:
        self._store = store
        self._keys = keys
        self._every = every
        self._interval = interval
        self._poll = poll
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="audit-checkpoints")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.write_due()
            except StoreUnavailable as exc:
                self._store.outage.failed(exc)  # one line, then one a minute (bot.core.logs.Outage)
            except SigningError as exc:
                log.warning("audit checkpoint not signed: %s", exc)  # the message names no key material
            except Exception:
                log.exception("audit checkpoint failed; going on")
            await asyncio.sleep(self._poll)

    async def write_due(self, now: float | None = None) -> bool:
        """Sign and keep a checkpoint of the chain's head if one is due. True if this call wrote it."""
        now = time.time() if now is None else now
        head = await self._store.audit.last()
        link = link_of(*head) if head is not None else None
        if link is None:  # an empty log, or its newest entry written before the chain
            return False
        if link.computed != link.hash:  # never sign what does not verify (`audit verify` names it)
            log.warning("audit checkpoint not signed: the newest audit entry %s does not match its hash", link.id)
            return False
        last_seq, last_at = 0, 0.0
        last = await self._store.audit.last_checkpoint()
        if last is not None:
            last_seq, last_at = int(last[1].get("seq") or 0), float(last[1].get("at") or 0)
        if link.seq <= last_seq:
            return False
        if link.seq - last_seq < self._every and now - last_at < self._interval:
            return False
        claims = {"seq": link.seq, "hash": link.hash, "id": link.id, "at": now}
        jws = self._keys.sign(claims, typ=CHECKPOINT_TYPE)
        written = await self._store.audit.write_checkpoint(seq=link.seq, hash=link.hash, entry_id=link.id, at=now,
                                                           jws=jws)
        if written:
            log.info("audit checkpoint signed at seq %d", link.seq)
        return written
