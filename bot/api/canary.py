"""A worker's synthetic canary (#87): every CANARY_INTERVAL seconds (0, the default: none) the worker proves the
write path end to end through the store's real steps, as a program's ask is: it opens an approval
(`lua/open_approval.lua`), decides it as its own probe (`probe:<worker id>`, the approval's one approver) through the
decide step (`lua/lib/decide.lua`, with the approver rules a person's click gets), and waits, up to a deadline, for the
decision to come back the way a program's long-poll hears it (the decision published to the API's channel, this
worker's subscription, `ApiWaiters`), then reads it back. Each worker runs its own: each proves its own connection
and its own subscription, and Prometheus sees each worker's by its instance.

A canary approval (`ApprovalRecord.canary`) is kept `CANARY_SECONDS` and nowhere else: no card, direct message, Teams
copy, Home entry, reminder, deadline, list of the waiting (`hitl_waiting_approvals`), oversight count, webhook or audit
entry (so the audit chain, and what people export of it, hold only what people asked and decided). A person cannot
decide it: only the probe is its approver, and its id is none the API reads (`a-…`).

The last that went the whole way is `hitl_canary_last_success_timestamp_seconds`; each failure counts in
`hitl_canary_failures_total{stage}` (create, decide, resume) and is logged, at WARNING, once a minute at most per
stage. Never fails open: a refused or lost step is a failure, and so is anything not heard back in time."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from bot.api.service import ApiWaiters
from bot.core.ids import random_id
from bot.core.logs import LogThrottle
from bot.core.metrics import Metrics
from bot.core.records import API_OWNER, ApprovalRecord
from bot.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

CANARY_DEADLINE = 10.0  # seconds one canary may take, at most: a longer one failed (at the stage it was at)
CANARY_TEXT = "synthetic canary: shown to nobody"


class CanaryFailed(Exception):
    """A step of the canary answered other than it should (its words say what)."""


def canary_approval(*, probe: str, now: float) -> ApprovalRecord:
    """A canary approval: asked of `probe` alone, of no run or channel, never timing out (it is kept a short while)."""
    return ApprovalRecord(
        id=random_id("canary-", 24), run_id="canary", owner=API_OWNER, requester="canary", origin_channel="",
        card_channel="", task=CANARY_TEXT, proposal=CANARY_TEXT, author="canary", created_at=now, deadline=0.0,
        timeout_seconds=0, approvers=(probe,), canary=1,
    )


@dataclass(kw_only=True, eq=False, repr=False)
class Canary:
    """One worker's canary: `once` runs one, `keep` one every `every` seconds until cancelled."""

    store: Store
    waiters: ApiWaiters  # the worker's long-polls, woken by its subscription to the API's channel
    metrics: Metrics
    worker_id: str
    every: float
    logs: LogThrottle = field(default_factory=lambda: LogThrottle(every=60.0))

    @property
    def probe(self) -> str:
        return f"probe:{self.worker_id}"

    async def keep(self) -> None:
        """A canary now, then one `every` seconds after each ended (each bounded by CANARY_DEADLINE), until
        cancelled."""
        self.metrics.canary_interval.set(self.every)
        while True:
            await self.once()
            await asyncio.sleep(self.every)

    async def once(self) -> bool:
        """One canary, the whole way: True when it went through (the gauge set), else False (counted, logged)."""
        stage = ["create"]
        try:
            async with asyncio.timeout(CANARY_DEADLINE):
                await self._through(stage)
        except (StoreUnavailable, CanaryFailed, TimeoutError) as exc:
            self._failed(stage[-1], "not heard back in time" if isinstance(exc, TimeoutError) else str(exc))
            return False
        except Exception as exc:  # anything else is a failure too, said (by its kind: no text that may hold a secret)
            self._failed(stage[-1], type(exc).__name__)
            return False
        self.metrics.canary_last_success.set(time.time())
        return True

    async def _through(self, stage: list[str]) -> None:
        approval = canary_approval(probe=self.probe, now=time.time())
        status = await self.store.approvals.open_canary(approval)
        if status != "ok":
            raise CanaryFailed(f"the open step answered {status}")
        stage.append("decide")
        woken = self.waiters.expect(approval.id)  # before deciding: the decision from now on wakes it
        try:
            decided = await self.store.approvals.decide(approval.id, outcome="approved", by=self.probe,
                                                        check_auth=True)
            if decided.status != "ok":
                raise CanaryFailed(f"the decide step answered {decided.status}")
            stage.append("resume")
            await asyncio.shield(woken)
        finally:
            self.waiters.forget(approval.id, woken)
        heard = await self.store.approvals.get(approval.id)
        if heard is None or heard.status != "approved" or heard.decided_by != self.probe:
            raise CanaryFailed("the decision read back is not the probe's")

    def _failed(self, stage: str, why: str) -> None:
        self.metrics.canary_failures.labels(stage).inc()
        left_out = self.logs.allow(stage, time.monotonic())
        if left_out is not None:
            more = f" ({left_out} more at {stage} since the last said)" if left_out else ""
            log.warning("the synthetic canary failed at %s: %s%s", stage, why, more)

