"""Runs in Redis: admitted under limits, updated and ended by their owner only (fenced), taken over
by another worker when their owner is gone, and each run's side-effect ledger."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from bot.core.records import ApprovalRecord, RunRecord, RunStatus
from bot.store.codec import approval_from, pairs, readable_run
from bot.store.connection import aw
from bot.store.due import DueWork
from bot.store.scripts import fence_arg
from bot.store.shared import Fence, Shared

PROGRAM_RUN_SECONDS = 30 * 86400  # how long a program run's id finds its run (`of_program`) after its first ask

Admission = Literal["ok", "user_limit", "channel_limit", "exists"]
Consumed = Literal["ok", "fenced", "taken", "pending", "missing"]


class Runs:
    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = shared.keys
        self._due = DueWork(shared)  # the worker-wide index of due work (bot/store/due.py)

    async def create(
        self, run: RunRecord, *, max_per_user: int, max_per_channel: int, active: bool = True
    ) -> Admission:
        """Record a new run if its requester and channel are under their limits of active runs, in one
        atomic step (simultaneous commands cannot all pass the check). At a limit, runs that ended
        without leaving the active sets (a lost record) are pruned first and the step tried once more.
        `active=False`: a program's run over the API, which no worker runs: recorded, but in no limit and
        not live (it never holds its key's creator back, and the supervisor never reads it).

        Returns "ok", "user_limit" or "channel_limit" (then nothing is stored)."""
        audit = {
            "event": "run_started",
            "run": run.id,
            "by": run.requester,
            "origin_channel": run.channel,
            "at": repr(run.created_at),
            "task": run.task[:500],
        }
        keys = {
            "user_runs": self._k.user_runs(run.requester),
            "channel_runs": self._k.channel_runs(run.channel),
            "live": self._k.live_runs,
            "run": self._k.run(run.id),
            "channel_index": self._k.channel_index(run.channel),
            "user_index": self._k.user_index(run.requester),
            "audit": self._k.audit, "audit_seq": self._k.audit_seq, "audit_shards": self._k.audit_shards,
        }
        args = {
            "id": run.id,
            "max_per_user": str(max_per_user),
            "max_per_channel": str(max_per_channel),
            "fields": run.to_redis(),
            "created_at": repr(run.created_at),
            "index_cutoff": repr(time.time() - self._s.run_retention),
            "audit": audit,
            "active": "1" if active else "0",
        }
        admitted: Admission = await self._s.script("admit_run")(keys=keys, args=args)
        if admitted in ("user_limit", "channel_limit"):
            pruned = await self._prune(keys["user_runs"]) + await self._prune(keys["channel_runs"])
            if pruned:
                admitted = await self._s.script("admit_run")(keys=keys, args=args)
        await self._due.note()  # a live run: the supervisor's to watch
        return admitted

    async def _prune(self, active_key: str) -> int:
        ids = sorted(await aw(self._s.redis.smembers(active_key)))
        runs = [self._k.run(run_id) for run_id in ids]
        return int(await self._s.script("prune_active")(keys={"active": active_key, "runs": runs}, args={"ids": ids}))

    async def get(self, run_id: str) -> RunRecord | None:
        raw = await aw(self._s.redis.hgetall(self._k.run(run_id)))
        return readable_run(raw) if raw else None

    async def get_many(self, run_ids: Iterable[str]) -> list[RunRecord]:
        async with self._s.redis.pipeline(transaction=False) as pipe:
            for run_id in run_ids:
                pipe.hgetall(self._k.run(run_id))
            raws = await pipe.execute()
        return [run for run in map(readable_run, raws) if run is not None]

    async def live(self) -> list[RunRecord]:
        """Every run not ended."""
        return await self.get_many(await aw(self._s.redis.smembers(self._k.live_runs)))

    async def recent(self, channel: str, *, limit: int = 10) -> list[RunRecord]:
        """The runs started last in `channel`, newest first."""
        return await self.get_many(await self._s.redis.zrevrange(self._k.channel_index(channel), 0, limit - 1))

    async def index_thread(self, run: RunRecord) -> None:
        """Remember `run` as the run of its header's thread (kept RUN_RETENTION): `of_thread` finds it."""
        if run.header_ts:
            await self._s.redis.set(self._k.run_thread(run.channel, run.header_ts), run.id, ex=self._s.run_retention)

    async def of_thread(self, channel: str, thread_ts: str) -> RunRecord | None:
        """The run whose header is the thread `thread_ts` of `channel`, however many runs the channel had since."""
        run_id = await aw(self._s.redis.get(self._k.run_thread(channel, thread_ts)))
        run = await self.get(str(run_id)) if run_id is not None else None
        return run if run is not None and run.channel == channel and run.header_ts == thread_ts else None

    async def update(self, run_id: str, *, fence: Fence | None = None, **fields: str | float) -> str:
        """Set fields of a run: "ok"; "final" when it has already ended (its status is kept); "fenced"
        when `fence` no longer owns it (nothing is written); "missing"."""
        args = {"fence": fence_arg(fence), "fields": {key: str(value) for key, value in fields.items()}}
        return str(await self._s.script("update_run")(keys={"run": self._k.run(run_id)}, args=args))

    async def of_program(self, key_id: str, channel: str, fresh: RunRecord) -> RunRecord:
        """The run of an API key (by its id) in a channel, for the program run `fresh.program_run` (a program's own
        run or session id; '' for the programs that send none): the one its first approval there made, while it
        has not ended; else `fresh`, stored (two workers making one at once: the first one stored stays)."""
        pointer = self._k.api_run(key_id, channel, fresh.program_run)
        run_id = await aw(self._s.redis.get(pointer))
        if run_id is not None:
            run = await self.get(str(run_id))
            if run is not None and not run.final:
                if fresh.program_run:  # kept while its program asks: a run nobody asks in goes in time
                    await self._s.redis.expire(self._k.run(run.id), PROGRAM_RUN_SECONDS)
                return run
        await self.create(fresh, max_per_user=1_000_000, max_per_channel=1_000_000, active=False)
        kept = PROGRAM_RUN_SECONDS if fresh.program_run else None  # a program's run id: its pointer goes, in time
        if run_id is None and not await self._s.redis.set(pointer, fresh.id, nx=True, ex=kept):
            other = await aw(self._s.redis.get(pointer))  # another worker made one at the same moment
            await self.finish(fresh, status="completed", reason="made twice")
            found = await self.get(str(other))
            if found is not None:
                return found
        elif run_id is not None:
            await self._s.redis.set(pointer, fresh.id, ex=kept)
        if kept:
            await self._s.redis.expire(self._k.run(fresh.id), kept)
        return fresh

    async def finish(
        self, run: RunRecord, *, status: RunStatus, reason: str = "", by: str = "", fence: Fence | None = None
    ) -> str:
        """Set a final status unless the run already has one: "ok" when this call set it, else the final
        status it had, "fenced" (`fence` no longer owns the run) or "missing". An ended run and its
        indexes are kept `run_retention` seconds."""
        answer = await self._s.script("finish_run")(
            keys={
                "run": self._k.run(run.id),
                "user_runs": self._k.user_runs(run.requester),
                "channel_runs": self._k.channel_runs(run.channel),
                "live": self._k.live_runs,
                "run_approvals": self._k.run_approvals(run.id),
                "ledger": self._k.ledger(run.id),
                "rules": self._k.rules(run.channel),
                "rule_uses": self._k.rule_uses(run.channel),
                "audit": self._k.audit,
                "audit_seq": self._k.audit_seq, "audit_shards": self._k.audit_shards,
            },
            args={
                "fence": fence_arg(fence),
                "id": run.id,
                "status": status,
                "finished_at": repr(time.time()),
                "reason": reason,
                "audit_reason": reason[:500],
                "channel": run.channel,
                "ended_by": by,
                "retention": str(self._s.run_retention),
            },
        )
        if not isinstance(answer, list):
            return str(answer)
        return "ok"

    async def consume(
        self, run_id: str, approval_id: str, *, fence: Fence
    ) -> tuple[Consumed, ApprovalRecord | None, bool]:
        """The owner takes a decision to continue its run: ("ok", the decided approval, whether the run is running
        again: marked so in the same step unless it has ended); or why not: "fenced" (the run is no longer this
        owner's), "taken" (another worker continues with it), "pending" (not decided yet) or "missing" (the
        approval is gone; the run goes on, marked running as with "ok")."""
        status, *rest = await self._s.script("consume")(
            keys={
                "run": self._k.run(run_id),
                "approval": self._k.approval(approval_id),
                "texts": self._k.texts(approval_id),
            },
            args={"fence": fence_arg(fence)},
        )
        if status == "ok":
            return status, approval_from(pairs(rest[0])), rest[1] == "1"
        return status, None, bool(rest) and rest[0] == "1"

    async def adopt(
        self, run_id: str, approval_id: str | None, *, from_worker: str, to_worker: str, again: bool = False
    ) -> tuple[str, int]:
        """Take over a run whose owner's heartbeat is gone: to continue it with a decided approval
        (`again`: one the dead owner had already taken, whose continuation died with it), or with none
        (its owner died while the agent was working).

        Returns ("ok", the run's new epoch), or why not: "alive", "final", "taken", "pending", "consumed"."""
        keys = {"run": self._k.run(run_id), "approval": [self._k.approval(approval_id)] if approval_id else []}
        # (the heartbeat is worker-wide, on the root's slot: read before the step, not in it (a workspace's run is in
        # its own slot on a Cluster with REDIS_WORKSPACE_TAGS: one step on both was refused, CROSSSLOT))
        alive = from_worker != to_worker and bool(await aw(self._s.redis.exists(self._k.heartbeat(from_worker))))
        result = await self._s.script("adopt")(
            keys=keys, args={"from": from_worker, "to": to_worker, "again": "1" if again else "0",
                             "alive": "1" if alive else "0"}
        )
        return str(result[0]), int(result[1]) if len(result) > 1 else 0

    # the side-effect ledger: tool calls and code that ran in a run ------------------------
    async def ledger_get(self, run_id: str, name: str) -> dict[str, Any] | None:
        value = await aw(self._s.redis.hget(self._k.ledger(run_id), name))
        if not value:
            return None
        try:
            entry = json.loads(value)
        except ValueError:
            return None
        return entry if isinstance(entry, dict) else None

    async def ledger_begin(self, run_id: str, name: str, entry: Mapping[str, Any], *, fence: Fence) -> bool:
        """Note that a call is about to run, if `fence` still owns the run (else False: do not run it)."""
        result = await self._s.script("ledger_begin")(
            keys={"run": self._k.run(run_id), "ledger": self._k.ledger(run_id)},
            args={"fence": fence_arg(fence), "name": name, "entry": json.dumps(entry)},
        )
        return bool(result == "ok")

    async def ledger_done(self, run_id: str, name: str, entry: Mapping[str, Any]) -> None:
        """Note that a call ran, and its result (whoever owns the run now: it did run)."""
        await aw(self._s.redis.hset(self._k.ledger(run_id), name, json.dumps(entry)))
