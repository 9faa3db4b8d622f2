"""Agent sessions in the local Slack: ``agents.sessions.setStatus``, the streaming methods (``chat.startStream``,
``chat.appendStream``, ``chat.stopStream``) with their chunks checked as slack_sdk's models know them
(``slack_sdk.models.messages.chunk``) and Slack's documented limits, the Stop button (``agent_session_stopped``) and
a person's message in the app's Messages tab (``message`` with ``channel_type: im``).

A workspace without agent sessions is played by ``without_sessions``: every session method is refused as Slack
refuses a method the workspace does not have. ``close_stream`` plays Slack ending a stream on its own (its
undocumented timeouts): later appends get ``message_not_in_streaming_state``."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import aiohttp
from aiohttp import web
from slack_sdk.models.messages.chunk import Chunk

from bot.devslack.blockkit import validate_blocks
from bot.devslack.delivery import Delivery
from bot.devslack.messages import Messages
from bot.devslack.model import APP_ID, VERIFICATION_TOKEN, ApiError, DeliveryResult, Message, copied, web_api
from bot.devslack.pages import refused
from bot.devslack.workspace import Workspace

STATUSES: Final = ("processing", "suspended", "active", "closed")
TASK_STATUSES: Final = ("pending", "in_progress", "complete", "error")  # TaskUpdateChunk's, as slack_sdk says
TEXT_LIMIT: Final = 12_000  # markdown_text, per call (chat.appendStream / chat.stopStream pages)
CHUNK_BLOCKS: Final = 50  # the blocks of a call's chunks (chat.stopStream page)
# Slack's agent design guide: "Each task_update and plan_update chunk is limited to 256 characters"; Microsoft's Slack
# chunk types give 256 for a task's `details` and `output` each. Checked per field (the bot keeps a stricter total).
CHUNK_FIELD: Final = 256
CHUNK_FIELDS: Final = {"plan_update": ("title",), "task_update": ("title", "details", "output")}
DISPLAY_MODES: Final = ("timeline", "plan")


@dataclass
class Stream:
    """One streamed message: its text, plan title and tasks (by id, in the order they came)."""

    channel: str
    ts: str
    thread_ts: str
    text: str = ""
    plan: str = ""
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    streaming: bool = True
    blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Session:
    channel: str
    thread_ts: str
    status: str
    title: str = ""
    history: list[str] = field(default_factory=list)  # every status it had, in order


class Sessions:
    """The workspace's agent sessions and streams (one part of the stand-in, as `Messages` is)."""

    def __init__(self, ws: Workspace, messages: Messages, delivery: Delivery) -> None:
        self.ws = ws
        self.messages = messages
        self.delivery = delivery
        self.sessions: dict[tuple[str, str], Session] = {}
        self.streams: dict[str, Stream] = {}  # by message ts
        self.refused = ""  # `without_sessions`: the error every session method answers
        self.last_stop: dict[str, Any] | None = None  # the last Stop's event callback (`redeliver_stop`)

    # ------------------------------------------------------------------------------------------- methods

    def _thread(self, channel: Any, thread_ts: Any) -> tuple[str, str]:
        if self.refused:
            raise ApiError(self.refused)
        cid = self.ws.require_channel(channel, allow_names=False)
        root = self.messages.thread_parent(cid, thread_ts)
        if root is None:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["thread_ts is required"]})
        return cid, root

    @web_api("agents.sessions.setStatus")
    def set_status(self, args: dict[str, Any]) -> dict[str, Any]:
        cid, root = self._thread(args.get("channel_id"), args.get("thread_ts"))
        status = args.get("status")
        if status not in STATUSES:
            raise ApiError("invalid_arguments", response_metadata={"messages": [f"status must be one of {STATUSES}"]})
        session = self.sessions.setdefault((cid, root), Session(cid, root, str(status)))
        session.status = str(status)
        session.history.append(session.status)
        if isinstance(args.get("title"), str):
            session.title = args["title"][:200]
        if status != "processing":
            for stream in self._open_streams(cid, root):  # a session leaving `processing` ends its streams
                stream.streaming = False
        self.ws.touch()
        return {}

    @web_api("chat.startStream")
    def start_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        cid, root = self._thread(args.get("channel"), args.get("thread_ts"))
        mode = args.get("task_display_mode")
        if mode is not None and mode not in DISPLAY_MODES:
            raise ApiError("invalid_arguments")
        stream = Stream(cid, "", root)
        self._take(stream, args)
        m = self.messages.post(cid, stream.text, None, thread_ts=root)
        stream.ts = m.ts
        self.streams[m.ts] = stream
        self._show(stream, m)
        return {"channel": cid, "ts": m.ts}

    def _streaming(self, args: dict[str, Any]) -> tuple[Stream, Message]:
        if self.refused:
            raise ApiError(self.refused)
        cid = self.ws.require_channel(args.get("channel"), allow_names=False)
        m = self.ws.find_message(cid, args.get("ts"))
        stream = self.streams.get(str(args.get("ts")))
        if m is None or stream is None:
            raise ApiError("message_not_found")
        if not stream.streaming:
            raise ApiError("message_not_in_streaming_state")
        return stream, m

    @web_api("chat.appendStream")
    def append_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        stream, m = self._streaming(args)
        if not args.get("markdown_text") and not args.get("chunks"):
            raise ApiError("no_text")
        self._take(stream, args)
        self._show(stream, m)
        return {"channel": stream.channel, "ts": stream.ts}

    @web_api("chat.stopStream")
    def stop_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        stream, m = self._streaming(args)
        blocks = args.get("blocks")
        if blocks is not None:
            problem = validate_blocks(blocks)
            if problem is not None:
                raise ApiError(problem[0], errors=problem[1], response_metadata={"messages": problem[1]})
        status = args.get("session_status")
        if status is not None and status not in STATUSES:
            raise ApiError("invalid_arguments", response_metadata={"messages": [f"session_status: one of {STATUSES}"]})
        self._take(stream, args)
        stream.streaming = False
        stream.blocks = copied(blocks or [])
        self._show(stream, m)
        if status is not None:  # the session's status, set by the same call
            session = self.sessions.setdefault((stream.channel, stream.thread_ts),
                                               Session(stream.channel, stream.thread_ts, str(status)))
            session.status = str(status)
            session.history.append(session.status)
        return {"channel": stream.channel, "ts": stream.ts, "message": self.messages.message_object(m)}

    # ------------------------------------------------------------------------------------------- chunks

    def _take(self, stream: Stream, args: dict[str, Any]) -> None:
        """Check a call's text and chunks (nothing applied unless all are valid), then apply them."""
        text = args.get("markdown_text")
        if text is not None and (not isinstance(text, str) or len(text) > TEXT_LIMIT):
            raise ApiError("msg_too_long" if isinstance(text, str) else "invalid_arguments")
        chunks = args.get("chunks")
        checked = check_chunks(chunks) if chunks is not None else []
        if text:
            stream.text += text
        for chunk in checked:
            if chunk["type"] == "markdown_text":
                stream.text += chunk["text"]
            elif chunk["type"] == "plan_update":
                stream.plan = chunk["title"]
            elif chunk["type"] == "task_update":  # an update of a task: its details appended to those before
                old = stream.tasks.get(chunk["id"], {})
                details = str(old.get("details") or "") + str(chunk.get("details") or "")
                stream.tasks[chunk["id"]] = {**old, **chunk, **({"details": details} if details else {})}
            elif chunk["type"] == "blocks":
                stream.blocks.extend(chunk["blocks"])

    def _show(self, stream: Stream, m: Message) -> None:
        m.text = stream.text
        self.ws.touch()

    # ------------------------------------------------------------------------------------------- people

    def _open_streams(self, cid: str, root: str) -> list[Stream]:
        return [s for s in self.streams.values() if s.channel == cid and s.thread_ts == root and s.streaming]

    async def stop(self, *, user: str, channel: str, thread_ts: str) -> DeliveryResult:
        """``user`` clicks Stop on the session of ``thread_ts``: Slack stops its streams and sends
        ``agent_session_stopped`` (the session's status is the app's to change). As in Slack, the button shows only
        while the session is ``processing`` (docs.slack.dev/reference/events/agent_session_stopped): in any other
        status there is nothing to click (409, nothing sent); a run waiting for people is cancelled from its
        thread with ``/agent cancel``."""
        u = self.ws.user_or_error(user)
        cid = self.ws.channel_or_error(channel)
        session = self.sessions.get((cid, thread_ts))
        if session is None or session.status != "processing":
            shown = session.status if session else "no session"
            return DeliveryResult(409, f"no Stop button: the session is {shown}", None)
        stopped = self._open_streams(cid, thread_ts)
        for stream in stopped:
            stream.streaming = False
        event = {"type": "agent_session_stopped", "channel": cid, "thread_ts": thread_ts, "user": u.id,
                 "streaming_message_ts": [s.ts for s in stopped], "event_ts": self.ws.next_ts()}
        self.last_stop = self._callback(event)
        return await self.delivery.deliver_event(self.last_stop)

    async def redeliver_stop(self) -> DeliveryResult:
        """Slack's retry of the last Stop's event (the same event id), to wherever ``events_url`` now points."""
        if self.last_stop is None:
            raise RuntimeError("no Stop to redeliver")
        return await self.delivery.deliver_event(self.last_stop)

    async def message_bot(self, *, user: str, text: str) -> DeliveryResult:
        """``user`` writes ``text`` to the app in its Messages tab: stored in their DM with the bot, delivered as
        the ``message`` event (``channel_type: im``)."""
        u = self.ws.user_or_error(user)
        cid = self.ws.dm_of(u.id)
        if not text.strip():
            raise ValueError("text is empty")
        m = Message(channel=cid, ts=self.ws.next_ts(), text=text, blocks=[], user=u.id, bot_id=None)
        self.ws.messages.setdefault(cid, []).append(m)
        self.ws.touch()
        event = {"type": "message", "channel": cid, "user": u.id, "text": text, "ts": m.ts, "event_ts": m.ts,
                 "channel_type": "im"}
        return await self.delivery.deliver_event(self._callback(event))

    def _callback(self, event: dict[str, Any]) -> dict[str, Any]:
        event_id = self.ws.new_id("Ev")
        team = self.ws.home
        return {
            "token": VERIFICATION_TOKEN, "team_id": team, "api_app_id": APP_ID, "event": event,
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": team, "user_id": self.ws.team_info(team).bot_user_id,
                                "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False, "event_context": f"4-{event_id}",
        }

    # ------------------------------------------------------------------------------------------- the page

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """The page's control API for sessions: what they show, Stop, a message in the Messages tab."""
        router.add_get("/_control/sessions", self.handle_sessions)
        router.add_post("/_control/session_stop", self.handle_stop)
        router.add_post("/_control/message_bot", self.handle_message_bot)

    async def handle_sessions(self, request: web.Request) -> web.Response:
        """Every session (by ``channel thread_ts``) and every stream (by its ts), as the page draws them."""
        sessions = {f"{c} {t}": self.snapshot(c, t) for c, t in self.sessions}
        streams = {ts: asdict(s) for ts, s in self.streams.items()}
        return web.json_response({"ok": True, "sessions": sessions, "streams": streams},
                                 headers={"Cache-Control": "no-store"})

    async def handle_stop(self, request: web.Request) -> web.Response:
        """``{"user", "channel", "thread_ts"}``: the person clicks Stop on the session."""
        return await self._act(request, lambda b: self.stop(user=str(b["user"]), channel=str(b["channel"]),
                                                            thread_ts=str(b["thread_ts"])))

    async def handle_message_bot(self, request: web.Request) -> web.Response:
        """``{"user", "text"}``: the person writes to the app in its Messages tab."""
        return await self._act(request, lambda b: self.message_bot(user=str(b["user"]), text=str(b["text"])))

    @staticmethod
    async def _act(request: web.Request, act: Any) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("body must be an object")
            result = await act(body)
        except KeyError as exc:
            return refused(400, f"missing field {exc.args[0]!r}")
        except (ValueError, RecursionError) as exc:
            return refused(400, str(exc) or "invalid body")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return refused(502, f"delivery to the bot failed: {exc!r}")
        return web.json_response({"ok": True, **asdict(result)})

    def snapshot(self, channel: str, thread_ts: str) -> dict[str, Any]:
        """A session as the page and the tests see it: its status (and history), and its streams in order."""
        session = self.sessions.get((channel, thread_ts))
        streams = [s for s in self.streams.values() if s.channel == channel and s.thread_ts == thread_ts]
        return {
            "status": session.status if session else "",
            "history": list(session.history) if session else [],
            "title": session.title if session else "",
            "streams": [self._shown_stream(s) for s in streams],
        }

    def _shown_stream(self, s: Stream) -> dict[str, Any]:
        """A stream as its message shows it: what was streamed, or, once the app updated the stopped message with a
        `plan` block (chat.update), that plan's title and task cards (as task_update chunks)."""
        shown = {"ts": s.ts, "text": s.text, "plan": s.plan, "tasks": list(s.tasks.values()),
                 "streaming": s.streaming, "blocks": s.blocks, "updated": False}
        m = self.ws.find_message(s.channel, s.ts)
        plan = next((b for b in m.blocks or [] if b.get("type") == "plan"), None) if m and m.edited else None
        if plan is not None:
            shown.update(plan=plan.get("title", ""), updated=True, tasks=[_task_of(card) for card in
                                                                          plan.get("tasks") or []])
        return shown


def _task_of(card: dict[str, Any]) -> dict[str, Any]:
    """A `task_card` block as the `task_update` chunk that would show it (its rich-text details as text)."""
    task = {"type": "task_update", "id": card.get("task_id"), "title": card.get("title"),
            "status": card.get("status")}
    details = "".join(str(e.get("text", "")) for section in (card.get("details") or {}).get("elements") or []
                      for e in section.get("elements") or [])
    if details:
        task["details"] = details
    if card.get("sources"):
        task["sources"] = card["sources"]
    return task


def check_chunks(chunks: Any) -> list[dict[str, Any]]:
    """Chunks as slack_sdk's models know them (their type, their fields, the values they name), and Slack's
    documented limits; else ``invalid_chunks`` with what is wrong."""
    if not isinstance(chunks, list) or not chunks:
        raise _invalid("chunks must be a non-empty array")
    blocks = 0
    checked: list[dict[str, Any]] = []
    for i, chunk in enumerate(chunks):
        if not isinstance(chunk, dict):
            raise _invalid(f"chunk {i} is not an object")
        try:
            model = Chunk.parse(chunk)
        except TypeError as exc:  # a field the model requires is missing, or one it does not have
            raise _invalid(f"chunk {i}: {exc}") from None
        if model is None:
            raise _invalid(f"chunk {i}: unknown type {chunk.get('type')!r}")
        unknown = set(chunk) - set(model.attributes)
        if unknown:
            raise _invalid(f"chunk {i}: unknown fields {sorted(unknown)}")
        _check_values(i, chunk)
        if chunk["type"] == "blocks":
            blocks += len(chunk["blocks"])
        checked.append(chunk)
    if blocks > CHUNK_BLOCKS:
        raise _invalid(f"{blocks} blocks in chunks (at most {CHUNK_BLOCKS})")
    return checked


def _check_values(i: int, chunk: dict[str, Any]) -> None:
    kind = chunk["type"]
    for key in ("text", "title", "id", "details", "output"):
        if key in chunk and not isinstance(chunk[key], str):
            raise _invalid(f"chunk {i}: {key} must be a string")
    if kind == "markdown_text" and len(chunk["text"]) > TEXT_LIMIT:
        raise _invalid(f"chunk {i}: text longer than {TEXT_LIMIT}")
    for key in CHUNK_FIELDS.get(kind, ()):
        if len(chunk.get(key) or "") > CHUNK_FIELD:
            raise _invalid(f"chunk {i}: {key} longer than {CHUNK_FIELD}")
    if kind == "task_update":
        if chunk["status"] not in TASK_STATUSES:
            raise _invalid(f"chunk {i}: status must be one of {TASK_STATUSES}")
        for source in chunk.get("sources") or []:
            if not (isinstance(source, dict) and source.get("type") == "url" and isinstance(source.get("url"), str)
                    and isinstance(source.get("text"), str) and set(source) <= {"type", "url", "text"}):
                raise _invalid(f"chunk {i}: a source must be a url source element (type, url, text)")
    if kind == "blocks":
        problem = validate_blocks(chunk["blocks"])
        if problem is not None:
            raise _invalid(f"chunk {i}: {'; '.join(problem[1])}")


def _invalid(message: str) -> ApiError:
    return ApiError("invalid_chunks", response_metadata={"messages": [message]})
