"""A run's side-effect ledger (`agent_approvals.approver.SideEffectLedger`), kept in Redis.

A tool call or code run is noted `running` (fenced: only the run's owner) before it runs and `done`,
with its result, after. After a takeover, the replayed agent is given the recorded result of a call
that ran instead of running it again, and is asked again about one that may have run.
"""

from __future__ import annotations

import time
from typing import Protocol

from agent_approvals.approver import ApprovalRequest, Decision, PastCall

from bot.core.records import RunRecord
from bot.sessions.run_thread import RunThreads
from bot.store import Fence, Store, persistently


class OwnedRun(Protocol):
    """What the ledger needs of the run it keeps: the run as its owner knows it, and how to stop."""

    @property
    def run(self) -> RunRecord: ...

    def fence(self) -> Fence: ...

    def stop_fenced(self) -> None: ...


class RunLedger:
    def __init__(self, store: Store, threads: RunThreads, owned: OwnedRun, *, lease_seconds: float) -> None:
        self._store = store
        self._threads = threads
        self._owned = owned
        self._lease_seconds = lease_seconds
        self._approved_by: dict[str, str] = {}

    @staticmethod
    def _name(request: ApprovalRequest) -> str:
        return f"{request.kind}:{request.tool_name}:{request.digest}"

    async def recall(self, request: ApprovalRequest) -> PastCall | None:
        run = self._owned.run
        entry = await persistently(
            lambda: self._store.runs.ledger_get(run.id, self._name(request)), what="reading the ledger"
        )
        if entry is None or entry.get("state") not in ("running", "done"):
            return None
        past = PastCall(
            state="done" if entry["state"] == "done" else "running",
            result=str(entry.get("result", "")),
            approved_by=str(entry.get("by", "")),
            earlier=int(entry.get("epoch") or 0) < run.epoch,
        )
        if past.earlier and past.state == "done":
            writing = self._threads.writing
            what = writing.untrusted(request.tool_name or request.kind, 80)
            by = f" (approved by {writing.person(past.approved_by)})" if past.approved_by else ""
            self._threads.post(
                run,
                text=f"{what} already ran before this run was taken over{by}; the agent was given its recorded"
                " result instead of running it again.",
            )
        return past

    async def begin(self, request: ApprovalRequest, decision: Decision) -> bool:
        """Note the call as running, fenced. The answer must come back well within a heartbeat: a worker
        that stalled while it waited (a pause, `SIGSTOP`) may have been taken over since Redis said yes,
        so it asks again rather than run a side effect another worker may run too."""
        run = self._owned.run
        self._approved_by[self._name(request)] = decision.decided_by
        entry = {"state": "running", "epoch": run.epoch, "by": decision.decided_by, "at": time.time()}
        deadline = time.monotonic() + 60
        while True:
            asked = time.monotonic()
            began = await persistently(
                lambda: self._store.runs.ledger_begin(run.id, self._name(request), entry, fence=self._owned.fence()),
                what="writing the ledger",
            )
            if not began:
                self._owned.stop_fenced()
                return False
            if time.monotonic() - asked < self._lease_seconds / 2:
                return True  # nobody can have taken the run over since Redis said yes
            if time.monotonic() > deadline:
                return False

    async def done(self, request: ApprovalRequest, result: str) -> None:
        run = self._owned.run
        entry = {
            "state": "done",
            "epoch": run.epoch,
            "by": self._approved_by.pop(self._name(request), ""),
            "at": time.time(),
            "result": result[:4000],
        }
        await persistently(
            lambda: self._store.runs.ledger_done(run.id, self._name(request), entry),
            what="writing the ledger",
            patience=None,
        )
