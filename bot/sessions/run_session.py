"""A run as a Slack agent session: its status, its turns streamed with a plan of tasks, within Slack's limits.

The session lives in the thread of the run's header (`agents.sessions.setStatus`: `processing` while the team works,
`suspended` while people decide, `active` when the run ends: see END_STATUS). What the team does is a plan of tasks
(`task_update` chunks: one per agent turn and per tool call) and text (`markdown_text`), streamed into one message at
a time (`chat.startStream`, `chat.appendStream`, `chat.stopStream`). A stream takes no buttons: a call that needs a
person shows as a pending task, the stream is stopped and the session suspended, and the card is posted as for any run;
after the decision the next chunk starts a new stream.

The plan's title follows the run (`plan_update`): what it is doing while it works (the tool being called, else its
task), "Waiting for approval" while suspended, and at the end its outcome ("Worked for 12s", "Stopped", "Error": see
`outcome_title`); every new stream starts with it. When the run ends, no task is left spinning: a task still in
progress is marked complete (a completed run) or error (any other end), one still pending error (nobody decided it).

Limits: chunks are batched (one append per `flush_every` seconds at most, never one call per token), each append
carries at most `CHUNKS_PER_CALL` chunks and `TEXT_PER_CALL` characters of text, each `task_update` and `plan_update`
at most `CHUNK_TEXT` characters (title, details and output together), a task's details sent once in a message (Slack's
agent design guide: "Send a task's details once. On an update with the same id, Slack adds the new details to the
earlier text instead of replacing it, with no separator"; a new message, a new stream, starts afresh). A stream
Slack closed on its own (`message_not_in_streaming_state`) is finished with `chat.update` from what was sent, and the
chunks go on in a new stream. A workspace where the methods are refused (`UNSUPPORTED`) has no sessions: the run
keeps today's header and thread, which this worker says once in its log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.records import RunRecord
from bot.sessions.chunks import TEXT_PER_CALL, TITLE_LIMIT, plan_chunk
from bot.slack.blocks import safe

log = logging.getLogger(__name__)

UNSUPPORTED: Final = frozenset({
    "unknown_method", "not_allowed", "not_allowed_token_type", "missing_scope", "feature_not_enabled",
    "not_enabled", "team_not_allowed", "method_not_supported_for_channel_type",
})
NOT_STREAMING: Final = "message_not_in_streaming_state"
CHUNKS_PER_CALL: Final = 50  # the blocks of a call are capped at 50 (chat.stopStream's page): chunks kept as low
WAITING: Final = "Waiting for approval"  # the plan's title while the session is suspended
# A run's session when the run ended. Slack's agent design guidance (docs.slack.dev/concepts/agent-design, as its
# guide "Agent Progress Design: Plans and Task Cards" quotes it): "Clear the status when the agent stops, even on
# failure ... Set agents.sessions.setStatus to `active`, or to `suspended` if the user has to do something before the
# agent can continue." A run that ended, however (completed, failed, stopped), is `active`; a run waiting for people
# is `suspended` (`RunThreads.suspend`). After Stop (agent_session_stopped) Slack leaves the status to the app: set
# here as the cancelled run ends.
END_STATUS: Final = "active"


@dataclass
class _Frozen:
    """A stopped stream's message as it shows: what `chat.update` brings to its final state when the run ends."""

    ts: str
    text: str
    tasks: dict[str, dict[str, Any]]


@dataclass
class _Session:
    """What this worker knows of one run's session."""

    run: RunRecord
    stream_ts: str = ""  # the open stream's message, "" when none is open
    pending: list[dict[str, Any]] = field(default_factory=list)  # chunks not sent yet
    shown_text: list[str] = field(default_factory=list)  # the open stream's text, for chat.update
    shown_tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # its tasks, by id
    flush_due: bool = False  # a flush is scheduled
    plan: str = ""  # the plan's title as it now is (inert text): each new stream starts with it
    pinned: str = ""  # a title that wins over what the run is doing (waiting, the outcome); "" when none
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # every task as last queued, by id
    detailed: set[str] = field(default_factory=set)  # the tasks whose details the open stream has (sent once in it)
    status: str = "processing"  # the session's status as last set
    wanted: str = ""  # a status to set with the next flush ("" when none): batched as the chunks are
    suspended_at: float = 0.0  # when people were last asked (the clock's time), 0 while nobody is
    frozen: list[_Frozen] = field(default_factory=list)  # the messages of the streams stopped so far, as they show
    waited: float = 0.0  # the seconds it was suspended for people, in all


class RunSessions:
    """Agent sessions of this worker's runs (one per worker; the calls of a run are ordered by `RunThreads`)."""

    def __init__(
        self, slack: AsyncWebClient, *, flush_every: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._slack = slack
        self._clock = clock  # measures the time a run waited for people (`waited`)
        self.flush_every = flush_every  # at most one append per run this often (the methods' rate tiers)
        self._sessions: dict[str, _Session] = {}
        self.unsupported = ""  # the error that showed this workspace has no agent sessions ("" while none)
        self.calls = 0  # Slack calls made for sessions (the benchmark's count)

    def of(self, run_id: str) -> _Session | None:
        return self._sessions.get(run_id)

    async def open(self, run: RunRecord) -> bool:
        """Start `run`'s session (status `processing` in its header's thread): whether it is one. Refused as
        unsupported: no session, said once in the log; any other failure: this run goes without one."""
        if self.unsupported or not run.header_ts:
            return False
        try:
            await self._call("agents_sessions_setStatus", channel_id=run.channel, thread_ts=run.header_ts,
                             status="processing", title=safe(run.task, 100), initiator_user_id=run.requester)
        except _Refused as refused:
            if refused.error in UNSUPPORTED:
                self.unsupported = refused.error
                log.warning("this workspace has no agent sessions (agents.sessions.setStatus: %s): runs post a"
                            " header and a thread instead", refused.error)
            else:
                log.error("run %s goes without a session: %s", run.id, refused.error, extra={"run_id": run.id})
            return False
        self._sessions[run.id] = _Session(run=run, plan=safe(run.task, TITLE_LIMIT))
        return True

    def add(self, run_id: str, *chunks: dict[str, Any]) -> bool:
        """Queue chunks for the run's stream; whether a flush should now be scheduled."""
        session = self._sessions.get(run_id)
        if session is None:
            return False
        session.pending.extend(_noted(session, chunk) for chunk in chunks)
        _retitle(session)
        if session.flush_due:
            return False
        session.flush_due = True
        return True

    def want(self, run_id: str, status: str) -> bool:
        """The session's status is to become `status` with the next flush (set only if the session is not in it by
        then: a run that is suspended again or ends within the batching window never shows it); whether a flush
        should now be scheduled."""
        session = self._sessions.get(run_id)
        if session is None:
            return False
        session.wanted = status
        if status == "processing":  # at work again: the plan says what it does (from the next stream on)
            session.pinned = ""
            _retitle(session)
            self._resumed(session)
        if session.flush_due:
            return False
        session.flush_due = True
        return True

    def waited(self, run_id: str) -> float:
        """The seconds the run's session was suspended for people so far (a wait still going counted to now)."""
        session = self._sessions.get(run_id)
        if session is None:
            return 0.0
        return session.waited + (self._clock() - session.suspended_at if session.suspended_at else 0.0)

    def _resumed(self, session: _Session) -> None:
        if session.suspended_at:
            session.waited += self._clock() - session.suspended_at
            session.suspended_at = 0.0

    def settle(self, run_id: str, *, done: bool) -> None:
        """The run ended (`done`: completed): each task still in progress queued again as complete (error when not
        `done`), each still pending as error (nobody decided it, however the run ended), none left spinning.
        (Queued only: sent with what follows.)"""
        session = self._sessions.get(run_id)
        if session is None:
            return
        left = [t for t in session.tasks.values() if t["status"] in ("in_progress", "pending")]
        session.pending.extend(_noted(session, {"type": "task_update", "id": t["id"], "title": t["title"],
                                                "status": _settled(t["status"], done=done)}) for t in left)

    def pin(self, run_id: str, title: str) -> None:
        """The plan's title is `title` (trusted text: "Waiting for approval", an outcome) until the run works again,
        sent with the next chunks."""
        session = self._sessions.get(run_id)
        if session is not None:
            session.pinned = safe(title, TITLE_LIMIT)
            _retitle(session)

    async def flush(self, run_id: str) -> None:
        """Set the wanted status, then send the queued chunks: a new stream, or appended to the open one (as few
        calls as the limits allow)."""
        session = self._sessions.get(run_id)
        if session is None:
            return
        session.flush_due = False
        if session.wanted:
            await self._status(session, session.wanted)
        while session.pending:
            batch = _batch(session.pending)
            del session.pending[: len(batch)]
            await self._send(session, batch)

    async def _send(self, session: _Session, batch: list[dict[str, Any]]) -> None:
        run = session.run
        fresh = not session.stream_ts
        if fresh:  # a new stream (a message of its own) starts with the plan's title
            batch = [plan_chunk(session.plan), *[c for c in batch if c["type"] != "plan_update"]]
        sent = _once(session, batch)
        try:
            if fresh:
                started = await self._call("chat_startStream", channel=run.channel, thread_ts=run.header_ts,
                                           chunks=sent, task_display_mode="plan",
                                           recipient_user_id=run.requester, recipient_team_id=run.team or None)
                session.stream_ts = str(started.get("ts") or "")
            else:
                await self._call("chat_appendStream", channel=run.channel, ts=session.stream_ts, chunks=sent)
        except _Refused as refused:
            if refused.error == NOT_STREAMING and session.stream_ts:
                await self._finish_closed(session)  # Slack ended it on its own: the rest in a new stream
                await self._send(session, batch)
                return
            log.error("streaming run %s failed: %s", run.id, refused.error, extra={"run_id": run.id})
            return
        self._shown(session, sent)

    @staticmethod
    def _shown(session: _Session, batch: list[dict[str, Any]]) -> None:
        for chunk in batch:
            if chunk["type"] == "markdown_text":
                session.shown_text.append(chunk["text"])
            elif chunk["type"] == "task_update":  # (an update keeps what it does not say: the details)
                session.shown_tasks[chunk["id"]] = {**session.shown_tasks.get(chunk["id"], {}), **chunk}

    async def _finish_closed(self, session: _Session) -> None:
        """A stream Slack closed: its message shows what was sent, by `chat.update`."""
        lines = [f"{_MARKS.get(t['status'], '•')} {t['title']}" for t in session.shown_tasks.values()]
        text = "\n".join([*session.shown_text, *lines]) or "(stopped)"
        try:
            await self._call("chat_update", channel=session.run.channel, ts=session.stream_ts, text=text[:3900])
        except _Refused as refused:
            log.error("finishing the stream of run %s failed: %s", session.run.id, refused.error)
        self._reset(session)

    @staticmethod
    def _reset(session: _Session) -> None:
        """No stream open: the next one is a new message (a task sent again in it carries its details again)."""
        session.stream_ts = ""
        session.shown_text.clear()
        session.shown_tasks.clear()
        session.detailed.clear()

    async def stop_stream(self, run_id: str, *, status: str = "") -> None:
        """Send what is queued and stop the open stream (a stream takes no buttons, and is never held open), the
        session's new `status` set by the same call (`chat.stopStream`'s `session_status`): the last chunks, the
        stop and the status are one call; a status the session already has is not set again."""
        session = self._sessions.get(run_id)
        if session is None:
            return
        session.flush_due = False
        session.wanted = ""  # the status it is now given wins over one a flush would have set
        if status == "suspended" and not session.suspended_at:
            session.suspended_at = self._clock()
        while len(session.pending) > len(_batch(session.pending)):  # all but the last batch, the usual way
            batch = _batch(session.pending)
            del session.pending[: len(batch)]
            await self._send(session, batch)
        last = list(session.pending)
        session.pending.clear()
        if last and not session.stream_ts:
            await self._send(session, last)  # nothing open: the last chunks start a stream, stopped below
            last = []
        if session.stream_ts:
            await self._stop(session, last, status)
        elif status:
            await self._status(session, status)

    async def _stop(self, session: _Session, last: list[dict[str, Any]], status: str) -> None:
        run = session.run
        change = status if status and status != session.status else None
        sent = _once(session, last)
        try:
            await self._call("chat_stopStream", channel=run.channel, ts=session.stream_ts, chunks=sent or None,
                             session_status=change)
        except _Refused as refused:
            if refused.error == NOT_STREAMING:  # Slack ended it on its own: shown by chat.update, the rest anew
                await self._finish_closed(session)
                if last:
                    await self._send(session, last)
                    if session.stream_ts:
                        await self._stop(session, [], status)
                        return
            else:
                log.error("stopping the stream of run %s failed: %s", run.id, refused.error,
                          extra={"run_id": run.id})
                self._reset(session)
            if status:
                await self._status(session, status)
            return
        if change:
            session.status = change
        self._shown(session, sent)
        session.frozen.append(_Frozen(session.stream_ts, "".join(session.shown_text), dict(session.shown_tasks)))
        self._reset(session)

    async def _status(self, session: _Session, status: str) -> None:
        """`agents.sessions.setStatus`, only when the session is not in `status` already."""
        if status == session.status:
            return
        run = session.run
        try:
            await self._call("agents_sessions_setStatus", channel_id=run.channel, thread_ts=run.header_ts,
                             status=status)
        except _Refused as refused:
            log.error("session status %s of run %s refused: %s", status, run.id, refused.error,
                      extra={"run_id": run.id})
            return
        session.status = status

    async def end_elsewhere(
        self, run: RunRecord, *, title: str = "", tasks: list[dict[str, Any]] | None = None
    ) -> None:
        """Set END_STATUS on the session of a run another worker owns (or owned: it may be gone), as who claimed its
        Stop: Slack leaves the status to the app (docs.slack.dev/reference/events/agent_session_stopped), and a dead
        owner never would. (A live owner sets it too as its run ends: the same status, twice.) With `tasks` (a dead
        owner's run, as far as Redis knows it: its withdrawn approvals, how it ended), the plan is finished in a
        message of its own, its title `title`: a stream started and stopped with the status, two calls."""
        if self.unsupported or not run.header_ts:
            return
        try:
            if tasks:
                started = await self._call("chat_startStream", channel=run.channel, thread_ts=run.header_ts,
                                           chunks=[plan_chunk(safe(title, TITLE_LIMIT)), *tasks],
                                           task_display_mode="plan", recipient_user_id=run.requester,
                                           recipient_team_id=run.team or None)
                await self._call("chat_stopStream", channel=run.channel, ts=str(started.get("ts") or ""),
                                 session_status=END_STATUS)
                return
            await self._call("agents_sessions_setStatus", channel_id=run.channel, thread_ts=run.header_ts,
                             status=END_STATUS)
        except _Refused as refused:
            log.error("ending the session of stopped run %s refused: %s", run.id, refused.error,
                      extra={"run_id": run.id})

    async def close(self, run_id: str, *, title: str = "", done: bool = True) -> None:
        """The run ended (`done`: completed): no task left in progress or pending (each marked complete, or error when
        not `done`), the plan's title its outcome, what is queued sent, its stream stopped and its session's status
        set to END_STATUS (one call where a stream is open), forgotten."""
        if run_id not in self._sessions:
            return
        self.settle(run_id, done=done)
        if title:
            self.pin(run_id, title)
        session = self._sessions[run_id]
        earlier = list(session.frozen)
        await self.stop_stream(run_id, status=END_STATUS)
        for message in earlier:  # each earlier message stopped at a wait: its tasks as they ended, one call each
            await self._finish_frozen(session, message)
        self._sessions.pop(run_id, None)

    async def _finish_frozen(self, session: _Session, message: _Frozen) -> None:
        """A message whose stream was stopped while people decided, brought to the run's end by `chat.update`: its
        tasks' last titles and statuses (none left in progress or pending), the plan's title the outcome."""
        tasks = [{**task, **{k: session.tasks[tid][k] for k in ("title", "status") if tid in session.tasks}}
                 for tid, task in message.tasks.items()]
        lines = [f"{_MARKS.get(t['status'], '•')} {t['title']}" for t in tasks]
        try:
            await self._call("chat_update", channel=session.run.channel, ts=message.ts,
                             text="\n".join([message.text, *lines]).strip()[:3900] or session.plan,
                             blocks=_plan_blocks(session.plan, tasks, message.text))
        except _Refused as refused:
            log.error("finishing a message of run %s failed: %s", session.run.id, refused.error,
                      extra={"run_id": session.run.id})

    async def _call(self, method: str, **args: Any) -> Any:
        self.calls += 1
        try:
            return await getattr(self._slack, method)(**{k: v for k, v in args.items() if v is not None})
        except SlackApiError as exc:
            raise _Refused(str(exc.response.get("error") or "error")) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Refused(type(exc).__name__) from None


_MARKS: Final = {"complete": "✓", "error": "✗", "pending": "…", "in_progress": "→"}


class _Refused(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _noted(session: _Session, chunk: dict[str, Any]) -> dict[str, Any]:
    """`chunk` queued: a task kept as it last was (its details sent by `_once`)."""
    if chunk["type"] == "task_update":
        session.tasks[chunk["id"]] = chunk
    return chunk


def _once(session: _Session, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`chunks` as they go into the open stream: a task's details only the first time in that message (Slack
    appends an update's details to the earlier ones), noted as sent."""
    sent = []
    for chunk in chunks:
        if chunk["type"] == "task_update" and "details" in chunk:
            if chunk["id"] in session.detailed:
                chunk = {k: v for k, v in chunk.items() if k != "details"}
            else:
                session.detailed.add(chunk["id"])
        sent.append(chunk)
    return sent


def _plan_blocks(title: str, tasks: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """A stopped stream's message as blocks: its plan (a `plan` block of `task_card`s, slack_sdk's PlanBlock and
    TaskCardBlock: what the streamed plan shows) and its text (a `markdown` block)."""
    cards = [_task_card(task) for task in tasks]
    blocks: list[dict[str, Any]] = [{"type": "plan", "title": title, "tasks": cards}]
    if text.strip():
        blocks.append({"type": "markdown", "text": text[:TEXT_PER_CALL]})
    return blocks


def _task_card(task: dict[str, Any]) -> dict[str, Any]:
    """A `task_update` chunk as the `task_card` block that shows it (its details as rich text)."""
    card: dict[str, Any] = {"type": "task_card", "task_id": task["id"], "title": task["title"],
                            "status": task["status"]}
    if task.get("details"):
        card["details"] = {"type": "rich_text", "elements": [
            {"type": "rich_text_section", "elements": [{"type": "text", "text": task["details"]}]}]}
    if task.get("sources"):
        card["sources"] = task["sources"]
    return card


def _settled(status: str, *, done: bool) -> str:
    """A task's status when its run ended: only work in progress follows the run (`done`); a pending one was never
    decided, so it did not happen."""
    return "complete" if done and status == "in_progress" else "error"


def _retitle(session: _Session) -> None:
    """Queue the plan's new title when it changed: the pinned one, else the task in progress, else the run's task
    (a new stream starts with it: nothing is queued while none is open)."""
    doing = [t["title"] for t in session.tasks.values() if t["status"] == "in_progress"]
    title = session.pinned or (doing[-1] if doing else safe(session.run.task, TITLE_LIMIT))
    if title == session.plan:
        return
    session.plan = title
    if session.stream_ts:
        session.pending.append(plan_chunk(title))


def _batch(pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first chunks of `pending` that fit one call: at most CHUNKS_PER_CALL (one left for the plan's title a new
    stream starts with), and TEXT_PER_CALL of text."""
    batch: list[dict[str, Any]] = []
    size = 0
    for chunk in pending[: CHUNKS_PER_CALL - 1]:
        length = len(str(chunk.get("text", "")))
        if batch and size + length > TEXT_PER_CALL:
            break
        batch.append(chunk)
        size += length
    return batch
