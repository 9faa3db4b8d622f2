"""A run's messages in Slack: its header (status) and its thread, each posted in order, off the agent's path;
where the workspace has agent sessions, its session too (`bot.sessions.run_session`: status, streamed plan).

Thread messages and header redraws are background tasks of the worker (`Background`: kept referenced, failures
logged), chained per run: a thread's messages appear in the order they were asked for, and a header redraw waits
for the redraws asked before it, so a later state is never drawn over by an earlier one. Nobody has to await them:
the agent's next step (its next card) goes on while Slack answers, and goes first (`bot.core.tasks.RunsFirst`).
A stopping worker (`closing`) waits out no batching window: what waits for one goes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.records import RunRecord
from bot.core.tasks import Background, RunsFirst
from bot.sessions.chunks import outcome_title, task_chunk, text_chunk
from bot.sessions.run_session import WAITING, RunSessions
from bot.slack.blocks import build_result_blocks, build_run_header_blocks, run_fallback_text, safe, user_ref
from bot.slack.refusals import SlackWriting

log = logging.getLogger(__name__)


class RunThreads:
    """Posts in runs' threads and redraws their headers, each run's in the order they were asked for."""

    def __init__(
        self, slack: AsyncWebClient, background: Background, runs_first: RunsFirst | None = None, *,
        sessions: RunSessions | None = None,
    ) -> None:
        self._slack = slack
        self.sessions = sessions or RunSessions(slack)
        self._background = background
        self._runs_first = runs_first or RunsFirst()
        self._tail: dict[str, asyncio.Task[None]] = {}  # each run's last thread message
        self._header_tail: dict[str, asyncio.Task[None]] = {}  # each run's last header redraw
        self._closing = asyncio.Event()  # set when the worker stops: batching windows end at once
        self.writing = SlackWriting()  # how the runs' own lines name people and quote untrusted text (mrkdwn)

    def _chain(
        self, tails: dict[str, asyncio.Task[None]], run_id: str, step: Callable[[], Awaitable[None]], name: str
    ) -> asyncio.Task[None]:
        """`step` as a background task that starts once the run's previous one in `tails` ended (however)."""
        previous = tails.get(run_id)

        async def chained() -> None:
            try:
                if previous is not None:
                    await asyncio.wait([previous])
                await self._runs_first.turn()  # a run a decision woke goes first (`RunsFirst`)
                await step()
            finally:
                if tails.get(run_id) is task:
                    del tails[run_id]

        task: asyncio.Task[None] = self._background.spawn(chained(), name=f"{name}-{run_id}")
        tails[run_id] = task
        return task

    def post_ending(self, run: RunRecord, result: str | None) -> asyncio.Task[None]:
        """Say in the run's thread how it ended: its result (completed), else its status, by whom and why."""
        if result is not None and run.status == "completed":
            return self.post(run, text=f"Run {run.id} completed", blocks=build_result_blocks(run, result))
        by = f" by {user_ref(run.ended_by)}" if run.ended_by else ""
        detail = f": {safe(run.reason, 500)}" if run.reason else ""
        line = f"Run `{run.id}` ended: *{run.status}*{by}{detail}"
        # the notification text carries no untrusted text (a reason may quote a reviewer)
        return self.post(run, text=f"Run {run.id} ended: {run.status}",
                         blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": line, "verbatim": True}}])

    def post(
        self,
        run: RunRecord,
        *,
        text: str | Callable[[], Awaitable[str]] = "",
        blocks: list[dict[str, Any]] | None = None,
        made: Callable[[], Awaitable[tuple[str, list[dict[str, Any]]]]] | None = None,
    ) -> asyncio.Task[None]:
        """Post in the run's thread after everything posted there before (await it, or not). `text` may be
        made when its turn comes (e.g. a line with a link that needs a Slack answer first), or the whole message
        (`made`: text and blocks, e.g. naming people as Redis keeps them). A run without a header (the run of an API
        key's approvals) has no thread: nothing is posted."""

        async def post() -> None:
            if not run.header_ts:
                return
            said, shown = await made() if made is not None else (
                text if isinstance(text, str) else await text(), blocks)
            await self._post_now(run, text=said, blocks=shown)

        return self._chain(self._tail, run.id, post, "thread")

    async def _post_now(self, run: RunRecord, *, text: str, blocks: list[dict[str, Any]] | None) -> None:
        try:
            await self._slack.chat_postMessage(
                channel=run.channel, thread_ts=run.header_ts, text=text, blocks=blocks, unfurl_links=False
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.error("thread post failed for %s: %s", run.id, error, extra={"run_id": run.id})

    async def post_header(self, run: RunRecord) -> str:
        """Post the run's header message; its ts."""
        header = await self._slack.chat_postMessage(
            channel=run.channel, text=run_fallback_text(run), blocks=build_run_header_blocks(run)
        )
        return str(header["ts"])

    def redraw_header(self, run: RunRecord) -> asyncio.Task[None]:
        """Redraw the run's header as `run` has it, after the redraws asked before it (await it, or not)."""

        async def redraw() -> None:
            if run.header_ts:
                await self._update_header_now(run)

        return self._chain(self._header_tail, run.id, redraw, "header")

    async def update_header(self, run: RunRecord) -> None:
        """`redraw_header`, awaited: the header shows `run` (or Slack refused, which is logged) on return."""
        await self.redraw_header(run)

    async def _update_header_now(self, run: RunRecord) -> None:
        try:
            await self._slack.chat_update(
                channel=run.channel, ts=run.header_ts, text=run_fallback_text(run), blocks=build_run_header_blocks(run)
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.error("run header update failed for %s: %s", run.id, error, extra={"run_id": run.id})

    # the run's agent session (bot/sessions/run_session.py), in the thread's order ------------------------
    async def open_session(self, run: RunRecord) -> bool:
        """Make the run a session in its header's thread (`processing`): whether it is one (else today's thread)."""
        return await self.sessions.open(run)

    def in_session(self, run: RunRecord) -> bool:
        return self.sessions.of(run.id) is not None

    def step(self, run: RunRecord, *chunks: dict[str, Any]) -> None:
        """Stream `chunks` (tasks, text) in the run's session, after what was asked before (a decision's task after
        its pending one): batched, sent at most every `flush_every` s."""
        self.step_made(run, lambda: _ready(list(chunks)))

    def step_made(self, run: RunRecord, make: Callable[[], Awaitable[list[dict[str, Any]]]]) -> None:
        """`step`, its chunks made when their turn comes (e.g. a task naming a person the directory is asked for)."""
        if not self.in_session(run):
            return

        async def queue() -> None:
            if self.sessions.add(run.id, *await make()):
                self._background.spawn(self._flush_later(run), name=f"stream-{run.id}")

        self._chain(self._tail, run.id, queue, "step")

    def task(self, run: RunRecord, task_id: str, title: str, status: str, *, details: str = "") -> None:
        self.step(run, task_chunk(task_id, title, status, details=details))

    def turn(self, run: RunRecord, task_id: str, title: str, text: str) -> None:
        """An agent's turn: its task, complete, and its text."""
        self.step(run, task_chunk(task_id, title, "complete"), text_chunk(text))

    async def _flush_later(self, run: RunRecord) -> None:
        with contextlib.suppress(TimeoutError):  # the batching window (a rate, not a synchronisation)...
            await asyncio.wait_for(self._closing.wait(), self.sessions.flush_every)  # ...that a stop cuts short
        self._chain(self._tail, run.id, lambda: self.sessions.flush(run.id), "stream")

    def closing(self) -> None:
        """The worker stops: a flush waiting for its batching window goes now (a stop, which waits for the
        worker's background tasks, never waits a window out: `flush_every`, a second)."""
        self._closing.set()

    def suspend(self, run: RunRecord, task: Callable[[], Awaitable[dict[str, Any]]]) -> asyncio.Task[None]:
        """People decide: the pending `task` (made when its turn comes) streamed, the stream stopped, the session
        `suspended` (never a stream held open while people decide)."""

        async def suspend() -> None:
            self.sessions.add(run.id, await task())
            self.sessions.pin(run.id, WAITING)  # the plan's title, in the same stop
            await self.sessions.stop_stream(run.id, status="suspended")  # one call where a stream is open

        return self._chain(self._tail, run.id, suspend, "suspend")

    def resume(self, run: RunRecord) -> asyncio.Task[None]:
        """Decided: the session `processing` again, set with the next flush (within `flush_every`, unless the run
        is suspended again or ends first: then the status never changed); the next chunk starts a new stream."""

        async def resume() -> None:
            if self.sessions.want(run.id, "processing"):
                self._background.spawn(self._flush_later(run), name=f"stream-{run.id}")

        return self._chain(self._tail, run.id, resume, "resume")

    def ended(self, run: RunRecord, *, title: str, done: bool, text: str = "") -> None:
        """The run's end as its session's last task (and its result's text): in a session, the thread's record of
        how it ended (instead of a separate message), streamed by `close_session`."""
        chunks = [task_chunk(f"end-{run.id}", title, "complete" if done else "error")]
        if text:
            chunks.append(text_chunk(text))

        async def settled() -> list[dict[str, Any]]:  # first, no task left in progress or pending
            self.sessions.settle(run.id, done=done)
            return chunks

        self.step_made(run, settled)

    def close_session(self, run: RunRecord, *, stopped: bool = False) -> asyncio.Task[None]:
        """The run ended (`stopped`: by Slack's Stop): its plan's title its outcome, no task left in progress, its
        stream stopped and its session `active` (its turn done), after what was asked before."""

        async def close() -> None:  # (its title measured when its turn comes: the time it waited for people left out)
            title = outcome_title(run, stopped=stopped, waited=self.sessions.waited(run.id))
            await self.sessions.close(run.id, title=title, done=run.status == "completed")

        return self._chain(self._tail, run.id, close, "close")


async def _ready(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return chunks
