"""The run manager: starts AutoGen teams for `/agent <task>`, asks for their approvals, ends them,
and continues runs whose worker is gone.

A run is owned by the worker that started it: its team runs here as a background task. Each human
turn, tool call or code run that needs a person goes to the approval service (bot/approvals/service.py),
which posts the card and wakes the run when anyone, on any worker, decides it. Every write the owner
makes to the run is fenced by the run's epoch, which goes up when another worker takes it over.

Starting, asking, ending and taking over a run share the run's task, its state and its fencing, and read best as
one class; what its team asks through (`run_approver.py`) and where a taken-over run goes on from (`takeover.py`)
live apart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from agent_approvals.approver import ApprovalCancelled, ApprovalRequest, Cancellation, Decision
from agent_approvals.integrations.autogen.input_func import make_input_func
from agent_approvals.modes import ModeGate, Verdict
from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import TextMessage
from autogen_agentchat.teams import BaseGroupChat

from bot.approvals import NO_OPINION, ApprovalService
from bot.core.ids import new_run_id
from bot.core.metrics import Metrics
from bot.core.records import ApprovalRecord, RunRecord, RunStatus
from bot.core.security import redact
from bot.core.tasks import Background
from bot.core.workspaces import WorkspaceRef
from bot.runs.caching_client import AsyncCacheStore
from bot.runs.endings import last_text, short_reason
from bot.runs.idempotency import claim_command, record_command
from bot.runs.models import describe_model, load_model_client
from bot.runs.plan import run_with_plan
from bot.runs.run_approver import RunApprover, policy_for
from bot.runs.run_state import RunState
from bot.runs.takeover import Resume, resume_point, takeover_note
from bot.runs.teams import TeamOptions, build_team, preset_refusal, reviewer_of
from bot.sessions.chunks import outcome_title, step_name, task_chunk, withdrawn_task
from bot.sessions.run_thread import RunThreads
from bot.store import Fence, Fenced, Store, StoreUnavailable, persistently

log = logging.getLogger(__name__)

STOPPED = "stopped with Slack's Stop button"
STOP_KEPT = 86_400  # how long a Stop's claim is kept (a redelivery within it does nothing)


class Homes(Protocol):
    """Where a person sees their runs (Slack's App Home, bot/slack/homes.py `HomeService`)."""

    async def refresh_person(self, user: str, /) -> bool: ...


class RunManager:
    """Starts runs, asks for approvals, ends runs; one per worker."""

    def __init__(
        self,
        *,
        store: Store,
        approvals: ApprovalService,
        threads: RunThreads,
        background: Background,
        worker_id: str,
        model_config: Mapping[str, Any],
        max_runs_per_user: int = 3,
        max_runs_per_channel: int = 10,
        secrets: Sequence[str] = (),
        metrics: Metrics | None = None,
        team_options: TeamOptions | None = None,
        model_cache: AsyncCacheStore | None = None,
        lease_seconds: float = 6.0,
        homes: Homes | None = None,
    ) -> None:
        self.lease_seconds = lease_seconds  # the heartbeat's lifetime: a stall this long may lose a run
        self._team_options = team_options or TeamOptions()
        self._model_cache = model_cache
        self._metrics = metrics or Metrics()
        self._secrets = list(secrets)
        self._max_runs_per_user = max_runs_per_user
        self._max_runs_per_channel = max_runs_per_channel
        self.store = store  # (it, the threads and the lease: what a run's approver reads: RunHost)
        self._approvals = approvals
        self.threads = threads
        self._homes = homes
        self._background = background
        self._worker_id = worker_id
        self._model_config = dict(model_config)
        self._model_label = describe_model(model_config)
        self._active: dict[str, RunState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    @property
    def active_runs(self) -> int:
        return len(self._active)

    def works_on(self, run_id: str) -> bool:
        """Whether this worker has a task working on the run."""
        return run_id in self._active

    @property
    def team_options(self) -> TeamOptions:
        return self._team_options

    # starting ---------------------------------------------------------------------------
    async def start_run(
        self, *, task: str, requester: str, channel: str, preset: str = "writer", mode: str | None = None,
        workspace: WorkspaceRef | None = None,
    ) -> RunRecord | str:
        """Record the run and start its team in the background. Returns at once (no model call).

        `mode`: the run's input mode (`--mode`); None: the channel's. `workspace`: the one the command came from
        (None: the home workspace's, as a run recorded before runs carried one).
        Returns the run, or why it was refused (a limit of active runs, or this worker stopping)."""
        if self._closing:
            return "This worker is restarting; try again in a moment."
        refusal = preset_refusal(preset, self._team_options)
        if refusal is not None:
            return refusal
        if mode is None:
            mode = (await self._approvals.channel_settings(channel)).mode
        run = RunRecord(
            id=new_run_id(),
            requester=requester,
            channel=channel,
            task=self._shown(task),  # (#76) as its header, its thread and its team see it: stored so
            preset=preset,
            mode=mode,
            model=self._model_label,
            status="starting",
            owner=self._worker_id,
            created_at=time.time(),
            epoch=1,
            team=workspace.team if workspace is not None else "",
            enterprise=(workspace.enterprise or "") if workspace is not None else "",
        )
        admitted = await self.store.runs.create(
            run, max_per_user=self._max_runs_per_user, max_per_channel=self._max_runs_per_channel
        )
        if admitted == "user_limit":
            return (f"You already have {self._max_runs_per_user} active runs; wait for one to end or cancel one. See"
                    " yours with `/agent status`; end one with `/agent cancel <run id>`.")
        if admitted == "channel_limit":
            return (f"This channel already has {self._max_runs_per_channel} active runs; wait for one to end. See"
                    " them with `/agent status`; end one with `/agent cancel <run id>`.")
        state = RunState(run=run)
        self._active[run.id] = state
        self._tasks[run.id] = self._background.spawn(self._execute(state), name=f"run-{run.id}")
        return run

    async def _execute(self, state: RunState, resume: Resume | None = None) -> None:
        run = state.run
        model_client = None
        try:
            if resume is None or not run.header_ts:
                header_ts = await self.threads.post_header(run)
                state.run = run = run.with_(header_ts=header_ts, status="running")
                updated = await persistently(
                    lambda: self.store.runs.update(
                        run.id, fence=self.fence(state), header_ts=run.header_ts, status="running"
                    ),
                    what=f"starting run {run.id}",
                )
                if updated == "fenced":
                    raise Fenced(run.id)
                if updated != "ok":
                    await self._end(state, status="cancelled", reason="cancelled before it started")
                    return
                indexed = run  # (a name the lambda keeps: `run` changes as the run goes)
                await persistently(lambda: self.store.runs.index_thread(indexed), what=f"indexing run {run.id}")
                await self.threads.update_header(run)
            await self.threads.open_session(run)  # an agent session where the workspace has them (adopted: again)
            model_client = load_model_client(self._model_config, cache_store=self._model_cache)
            team: BaseGroupChat | None = None

            async def save_state() -> Mapping[str, Any]:
                assert team is not None
                return await team.save_state()

            settings = await self._approvals.channel_settings(run.channel)
            gate = ModeGate.in_order(RunApprover(self, state), policy_for(run.mode, settings))
            team = build_team(
                run.preset,
                model_client=model_client,
                input_func=make_input_func(gate, save_state=save_state),
                approver=gate,
                options=self._team_options.for_run(run.id),
            )
            task: str | TextMessage = run.task
            if resume is not None and resume.approval is not None and resume.checkpoint is not None:
                # adopted: the team as it was when the approval was requested
                await team.load_state(json.loads(resume.checkpoint))
                if resume.announce:
                    self._approvals.announce(run, resume.approval)
                decision = state.took(await self._approvals.chain.hiding.decision_of(resume.approval),
                                      resume.approval.proposal)
                reviewer = reviewer_of(run.preset, resume.approval.author)  # plan: the plan's own reviewer
                task = TextMessage(content=decision.reply_text(), source=reviewer)
            result = await run_with_plan(team, task=task, token=state.token, threads=self.threads, run=run,
                                         clean=self._shown)
            await self._finish(state, result)
        except asyncio.CancelledError:
            if self._closing or state.adopted_elsewhere:
                raise  # shutting down or taken over: leave the run and its approvals as they are in Redis
            await self._end(state, status="cancelled", reason="cancelled")
        except Fenced:
            self.stop_fenced(state)
        except Exception as exc:  # the model failed or the team raised: the run fails, the bot goes on
            if state.adopted_elsewhere:
                log.info("run %s continues on another worker", run.id, extra={"run_id": run.id})
                return
            if state.cancelled is not None:  # AutoGen wraps the input function's ApprovalCancelled in RuntimeErrors
                await self._end(state, status="cancelled", reason=state.cancelled.feedback or "cancelled")
                return
            log.exception("run %s failed", run.id, extra={"run_id": run.id})
            await self._end(state, status="failed", reason=redact(short_reason(exc), self._secrets))
        finally:
            self._approvals.runs_first.arrived(run.id)
            self._active.pop(run.id, None)
            self._tasks.pop(run.id, None)
            if model_client is not None:
                await model_client.close()

    # what a run's approver asks of it (`bot.runs.run_state.RunHost`) ------------------------
    async def audit_automatic(self, event: str, request: ApprovalRequest, *, rule: str, run: RunRecord) -> None:
        await self._approvals.audit_automatic(event, request, rule=rule, run=run)

    # approvals --------------------------------------------------------------------------
    async def request_approval(
        self,
        state: RunState,
        request: ApprovalRequest,
        cancellation_token: Cancellation | None = None,
        *,
        mode: Verdict = NO_OPINION,
    ) -> Decision:
        """Decide `request` by the decision chain (its run's gate's `mode` verdict one of its steps) and, when a person
        decides, wait for their decision (what the run's input function and tools await)."""
        try:  # through a Redis blip (not Slack's errors), the ask again: the same approval (its id), its one card
            decision = await persistently(lambda: self._approvals.ask(
                request, run=state.run, fence=self.fence(state), tokens=(state.token, cancellation_token), mode=mode
            ), what=f"asking approval {request.approval_id}", blips=(StoreUnavailable,))
        except Fenced:
            self.stop_fenced(state)  # this worker looked dead and another one took the run over
            cancelled = Decision(request.approval_id, "cancelled", decided_by="system", feedback="taken over")
            raise ApprovalCancelled(cancelled) from None
        if decision.outcome == "cancelled":
            state.cancelled = decision  # the run is over (its cancel, often before its token is cancelled)
            return decision
        return state.took(decision, request.proposal)

    # ending -----------------------------------------------------------------------------
    async def _finish(self, state: RunState, result: TaskResult) -> None:
        decision = state.last_decision
        if decision is None:
            await self._end(state, status="completed", reason=result.stop_reason or "", result=last_text(result))
        elif decision.approves:
            how = "approved on timeout" if decision.outcome == "timed_out" else "approved"
            if decision.automatic:
                how = f"approved automatically ({decision.feedback})"
            await self._end(state, status="completed", reason=how, result=state.last_proposal)
        elif decision.outcome == "timed_out":
            await self._end(state, status="timed_out", reason=decision.feedback)
        else:
            await self._end(state, status="rejected", reason=decision.feedback)

    def fence(self, state: RunState) -> Fence:
        return (self._worker_id, state.run.epoch)

    def stop_fenced(self, state: RunState) -> None:
        """Another worker took the run over (this one stalled, or looked dead): stop here, quietly."""
        state.adopted_elsewhere = True
        state.token.cancel()
        log.warning(
            "worker %s no longer owns run %s (its epoch %d is stale); stopping it here",
            self._worker_id,
            state.run.id,
            state.run.epoch,
            extra={"run_id": state.run.id},
        )

    async def _end(self, state: RunState, *, status: RunStatus, reason: str, result: str | None = None) -> None:
        """Give the run its final status (unless someone already did), then tell Slack. Through a Redis
        outage this waits until Redis is back (a run must not stay "running" with nobody on it); if
        another worker took the run over meanwhile, it stops here instead."""
        run, reason = state.run, self._shown(reason)  # (a model's error, a reviewer's words)
        self._approvals.runs_first.arrived(run.id)  # its end is its next step: what it says in Slack goes now
        finished = await persistently(
            lambda: self.store.runs.finish(run, status=status, reason=reason, fence=self.fence(state)),
            what=f"ending run {run.id}",
            patience=None,
        )
        if finished == "fenced":
            self.stop_fenced(state)
            return
        if finished == "ok":
            self._metrics.runs.labels(status).inc()
        await self.tell_ended(run.id, result=result, fallback=run.with_(status=status, reason=reason))

    async def tell_ended(self, run_id: str, *, result: str | None = None, fallback: RunRecord | None = None) -> None:
        """Say in Slack how a run ended (its thread and header); cancel what it left pending."""
        final = await persistently(lambda: self.store.runs.get(run_id), what=f"reading run {run_id}") or fallback
        if final is None:
            return
        result = self._shown(result) if result else result  # (its last proposal, its last message)
        if final.status in ("failed", "cancelled"):
            await self._approvals.cancel_pending(final.id, by="system", reason=f"run {final.status}: {final.reason}")
        if self.threads.in_session(final):  # its last task (and result) is the thread's record of its end
            await self._end_task(final, result)
        else:
            await self.threads.post_ending(final, result)
        await self.threads.update_header(final)
        await self.threads.close_session(final, stopped=final.reason == STOPPED)
        if self._homes is not None:  # "Your runs" in the requester's Home
            self._background.spawn(self._homes.refresh_person(final.requester), name=f"home-{final.id}")

    def _shown(self, text: str) -> str:
        """Text a run's session streams: the bot's secrets out, then hidden as on cards (detectors, `redact:`)."""
        return self._approvals.chain.hiding.text(redact(text, self._secrets))

    async def _end_task(self, final: RunRecord, result: str | None) -> None:
        """A session's record of how its run ended: a last task (who ended it named as a person; Stop's one short
        line), and the result's text."""
        by = f" by {await self._approvals.name_of(final.ended_by)}" if final.ended_by else ""
        reason = f": {final.reason}" if final.reason else ""
        done = final.status == "completed"
        title = "Run completed" if done else f"Stopped{by}" if final.reason == STOPPED else (
            f"Run {final.status}{by}{reason}")
        self.threads.ended(final, title=title, done=done, text=result if done and result else "")

    # continuing a run whose worker is gone ------------------------------------------------
    async def continue_if_orphaned(self, approval: ApprovalRecord) -> bool:
        """Adopt `approval`'s run if its owner's heartbeat is gone, and continue it with the decision."""
        run = await self.store.runs.get(approval.run_id)
        if run is None or run.final or self.works_on(run.id) or self._closing:
            return False
        adopted, epoch = await self.store.runs.adopt(
            run.id, approval.id, from_worker=run.owner, to_worker=self._worker_id
        )
        if adopted != "ok":
            return False
        log.info("adopted run %s from worker %s", run.id, run.owner, extra={"run_id": run.id})
        await self._go_on_here(run.with_(epoch=epoch), approval, replay=False)
        return True

    async def restart_orphan(self, run: RunRecord, latest: ApprovalRecord | None) -> bool:
        """Continue a run whose worker died while its agent was working: from its last decision (taken
        again, from that approval's checkpoint), or from the task when no decision was made yet."""
        if self._closing:
            return False
        adopted, epoch = await self.store.runs.adopt(
            run.id, latest.id if latest else None, from_worker=run.owner, to_worker=self._worker_id, again=True
        )
        if adopted != "ok":
            return False
        log.info("restarting run %s, orphaned by worker %s", run.id, run.owner, extra={"run_id": run.id})
        await self._go_on_here(run.with_(epoch=epoch), latest, replay=True)
        return True

    async def _go_on_here(self, run: RunRecord, approval: ApprovalRecord | None, *, replay: bool) -> None:
        """Continue a run this worker has just taken over, at its new epoch (see `resume_point`)."""
        self._metrics.adoptions.inc()
        old = self._active.get(run.id)
        if old is not None:  # our own task for it was lost track of: make sure it stops
            old.adopted_elsewhere = True
            old.token.cancel()
        state = RunState(run=run.with_(owner=self._worker_id, status="running"))
        self._active[run.id] = state
        resume = await resume_point(self.store, run.id, approval, replay=replay)
        self.threads.post(state.run, text=takeover_note(approval, replay=replay, writing=self.threads.writing))
        self._tasks[run.id] = self._background.spawn(self._execute(state, resume), name=f"run-{run.id}")

    # cancelling -------------------------------------------------------------------------
    async def claim_command(self, trigger_id: str) -> str | None:
        """None for a slash command's first delivery (now claimed); for a replay, what the first recorded."""
        return await claim_command(self.store, trigger_id)

    async def record_command(self, trigger_id: str, outcome: str) -> None:
        await record_command(self.store, trigger_id, outcome)

    async def status(self, channel: str, *, limit: int = 10) -> tuple[list[RunRecord], list[ApprovalRecord]]:
        """`/agent status`: the channel's most recent runs, and the approvals their unfinished runs wait for."""
        runs = await self.store.runs.recent(channel, limit=limit)
        pending = [a for run in runs if not run.final for a in await self.store.approvals.of_run(run.id) if a.pending]
        return runs, pending

    async def get(self, run_id: str) -> RunRecord | None:
        return await self.store.runs.get(run_id)

    async def run_of_session(self, channel: str, thread_ts: str) -> RunRecord | None:
        """The run whose session is the thread `thread_ts` of `channel` (its thread's index, whatever its age)."""
        return await self.store.runs.of_thread(channel, thread_ts)

    async def stop_session(self, run: RunRecord, *, by: str) -> str:
        """Slack's Stop button on a run's session (`agent_session_stopped`, delivered to any worker, maybe twice):
        the first delivery claims the stop in Redis, withdraws the run's pending approvals and cancels it."""
        if await self.store.workers.first(self.store.keys.session_stop(run.id), by, seconds=STOP_KEPT) is not None:
            return f"Run `{run.id}` is already stopped."
        said = await self.cancel_run(run.id, by=by, reason=STOPPED, logged=False)  # the card: "Cancelled by …"
        if run.id not in self._active:  # owned elsewhere, maybe by a dead worker: its session's status set here
            await self._end_elsewhere(run, by=by)
        else:  # ours: said at once, though the run may take a while to unwind (a model or tool heeding no token)
            await self.threads.sessions.end_elsewhere(run)
        stopped = await self.store.runs.get(run.id)
        if stopped is not None and stopped.final:  # the header no longer "running", whoever owns the run
            await self.threads.update_header(stopped)
        return said

    async def _end_elsewhere(self, run: RunRecord, *, by: str) -> None:
        """The session of a stopped run this worker does not own: its status set; and when its owner is dead (it
        never will), its plan finished from what Redis knows: its withdrawn approvals in error, "Stopped by …"."""
        if (await self.store.workers.alive([run.owner])).get(run.owner, False):
            await self.threads.sessions.end_elsewhere(run)  # the owner finishes its plan as its run ends
            return
        name = await self._approvals.name_of(by)
        withdrawn = [a for a in await self.store.approvals.of_run(run.id) if a.status == "cancelled"]
        tasks = [withdrawn_task(a.id, f"stopped by {name}", what=step_name(a)) for a in withdrawn]
        tasks.append(task_chunk(f"end-{run.id}", f"Stopped by {name}", "error"))
        await self.threads.sessions.end_elsewhere(run, title=outcome_title(run, stopped=True), tasks=tasks)

    async def cancel_run(
        self, run_id: str, *, by: str, reason: str = "the run was cancelled", logged: bool = True
    ) -> str:
        """`/agent cancel <run id>`: ends the run wherever it runs. Returns what to tell the user (and logs it, one
        line, unless not `logged`: a Stop's listener says it)."""
        run = await self.store.runs.get(run_id)
        if run is None:
            return f"There is no run `{run_id}`."
        if run.final:
            return f"Run `{run_id}` has already ended: {run.status}."
        if await self.store.runs.finish(run, status="cancelled", reason=reason, by=by) != "ok":
            latest = await self.store.runs.get(run_id)
            return f"Run `{run_id}` has already ended: {latest.status if latest else 'unknown'}."
        self._metrics.runs.labels("cancelled").inc()
        count = await self._approvals.cancel_pending(run_id, by=by, reason=reason)
        await self.store.workers.publish(run.owner, {"t": "cancel_run", "run": run_id})
        noun = "approval" if count == 1 else "approvals"
        if logged:
            log.info("run %s cancelled by %s (%d pending %s cancelled)", run_id, by, count, noun,
                     extra={"run_id": run_id})
        return f"Cancelled run `{run_id}` and {count} pending {noun}."

    async def on_control(self, message: dict[str, Any]) -> None:
        """Messages to this worker other than decisions (from the waiter's subscription)."""
        if message.get("t") == "cancel_run":
            state = self._active.get(str(message.get("run")))
            if state is not None:
                state.token.cancel()  # the team stops; `_execute` ends the run (never cancel it mid-`_end`)

    async def shutdown(self) -> None:
        """Stop owning runs; approvals stay pending in Redis. Their threads wait out no batching window."""
        self._closing = True
        self.threads.closing()
        for state in self._active.values():
            state.token.cancel()
        for task in list(self._tasks.values()):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=5)
