"""Messages: the ``chat.*`` Web API methods, the ``response_url`` endpoint, and the shapes a message takes in Web
API answers, interaction payloads and the test helpers."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from bot.devslack.blockkit import normalize_blocks, validate_blocks
from bot.devslack.model import (
    APP_ID,
    BOT_USER_ID,
    MAX_MESSAGE_TEXT,
    RESPONSE_URL_TTL,
    RESPONSE_URL_USES,
    TEAM_ID,
    ApiError,
    Ephemeral,
    Message,
    ResponseUrl,
    copied,
    web_api,
)
from bot.devslack.workspace import Workspace

_TS_RE: Final = re.compile(r"^\d{1,12}\.\d{1,6}$")


class Messages:
    """Posting, editing and showing messages and ephemerals of the workspace."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    # ------------------------------------------------------------------------------------------- shapes

    def message_object(self, m: Message) -> dict[str, Any]:
        """A message as Slack's Web API and payloads show it."""
        obj: dict[str, Any] = {"type": "message", "text": m.text, "user": m.user, "ts": m.ts, "team": TEAM_ID}
        if m.bot_id is not None:
            obj.update(bot_id=m.bot_id, app_id=APP_ID)
        if m.blocks:
            obj["blocks"] = copied(m.blocks)
        if m.attachments:
            obj["attachments"] = copied(m.attachments)
        if m.thread_ts is not None:
            obj["thread_ts"] = m.thread_ts
        if m.files:
            obj["files"] = [self.file_object(f) for f in m.files]
        if m.metadata is not None:
            obj["metadata"] = copied(m.metadata)
        if m.edited:
            obj["edited"] = {"user": m.user, "ts": m.edited_ts}
        return obj

    @staticmethod
    def message_view(m: Message, siblings: list[Message]) -> dict[str, Any]:
        """A message as tests see it."""
        replies = [r for r in siblings if r.thread_ts == m.ts and r is not m]
        return {
            "channel": m.channel,
            "ts": m.ts,
            "thread_ts": m.thread_ts,
            "user": m.user,
            "bot_id": m.bot_id,
            "text": m.text,
            "blocks": copied(m.blocks),
            "attachments": copied(m.attachments),
            "files": copied(m.files),
            "metadata": copied(m.metadata),
            "edited": m.edited,
            "edit_count": m.edit_count,
            "reply_count": len(replies),
        }

    def file_object(self, f: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": f["id"],
            "name": f["name"],
            "title": f["title"],
            "size": f["size"],
            "mimetype": f["mimetype"],
            "filetype": f["filetype"],
            "user": BOT_USER_ID,
            "created": f["created"],
            "url_private": f"{self.ws.base_url}/_files/{f['id']}",
        }

    def listing(self, channel: str) -> list[dict[str, Any]]:
        """Current messages of the channel (top-level and thread replies, in ts order); ephemerals excluded."""
        cid = self.ws.channel_id_or_none(channel) or channel
        stored = self.ws.messages.get(cid, [])
        return [self.message_view(m, stored) for m in stored]

    def ephemeral_listing(self, user: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                "channel": e.channel,
                "user": e.user,
                "ts": e.ts,
                "thread_ts": e.thread_ts,
                "text": e.text,
                "blocks": copied(e.blocks),
            }
            for e in self.ws.ephemerals
            if user is None or e.user == user
        ]

    def permalink(self, cid: str, ts: str, thread_ts: str | None) -> str:
        link = f"{self.ws.base_url}/archives/{cid}/p{ts.replace('.', '')}"
        if thread_ts is not None and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={cid}"
        return link

    # ------------------------------------------------------------------------------------------- posting

    def content(self, args: Mapping[str, Any], *, required: bool = True) -> tuple[str, list[dict[str, Any]] | None]:
        """Validated (text, blocks) of a message-posting call; blocks None when absent."""
        text = args.get("text")
        blocks = args.get("blocks")
        attachments = args.get("attachments")
        if text is not None and not isinstance(text, str):
            text = str(text)
        if blocks is not None:
            problem = validate_blocks(blocks)
            if problem is not None:
                raise ApiError(problem[0], errors=problem[1], response_metadata={"messages": problem[1]})
        if required and not text and not blocks and not attachments:
            raise ApiError("no_text")
        if text is not None and len(text) > MAX_MESSAGE_TEXT:
            raise ApiError("msg_too_long")
        return (text or ""), (None if blocks is None else normalize_blocks(blocks))

    def thread_parent(self, cid: str, thread_ts: Any) -> str | None:
        """The thread a reply to thread_ts lands in (a reply's ts points at its thread); None for no thread."""
        if thread_ts in (None, ""):
            return None
        if not isinstance(thread_ts, str) or not _TS_RE.fullmatch(thread_ts):
            raise ApiError("invalid_thread_ts")
        parent = self.ws.find_message(cid, thread_ts)
        if parent is None:
            raise ApiError("thread_not_found")
        return parent.thread_ts or parent.ts

    def post(
        self,
        cid: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        *,
        thread_ts: str | None = None,
        attachments: Any = None,
        metadata: Any = None,
        files: list[dict[str, Any]] | None = None,
    ) -> Message:
        m = Message(
            channel=cid,
            ts=self.ws.next_ts(),
            text=text,
            blocks=blocks or [],
            thread_ts=thread_ts,
            attachments=attachments if isinstance(attachments, list) else None,
            metadata=metadata,
            files=files or [],
        )
        self.ws.messages.setdefault(cid, []).append(m)
        return m

    def post_ephemeral(
        self, cid: str, user: str, text: str, blocks: list[dict[str, Any]] | None, thread_ts: str | None = None
    ) -> Ephemeral:
        e = Ephemeral(channel=cid, user=user, ts=self.ws.next_ts(), text=text, blocks=blocks or [], thread_ts=thread_ts)
        self.ws.ephemerals.append(e)
        return e

    # ------------------------------------------------------------------------------------------- reading

    @web_api("conversations.replies")
    def conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent and replies, oldest first. Message metadata only with
        `include_all_metadata` (as Slack does)."""
        cid = self.ws.require_channel(args.get("channel"))
        ts = args.get("ts")
        if not isinstance(ts, str) or not _TS_RE.fullmatch(ts):
            raise ApiError("invalid_arguments")
        parent = self.ws.find_message(cid, ts)
        if parent is None:
            raise ApiError("thread_not_found")
        root = parent.thread_ts or parent.ts
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        found = [self.listed(m, with_metadata) for m in self.ws.messages.get(cid, []) if root in (m.ts, m.thread_ts)]
        return {"messages": found, "has_more": False}

    def listed(self, m: Message, with_metadata: bool) -> dict[str, Any]:
        """A message as a listing shows it: its metadata decoded with `include_all_metadata`, else left out."""
        obj = self.message_object(m)
        if with_metadata and isinstance(obj.get("metadata"), str):
            obj["metadata"] = json.loads(obj["metadata"])
        elif not with_metadata:
            obj.pop("metadata", None)
        return obj

    @web_api("conversations.history")
    def conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """A channel's messages (not thread replies), newest first, at most `limit` (default 100, 1..999), within
        `oldest`..`latest` when given. Message metadata only with `include_all_metadata` (as Slack does)."""
        cid = self.ws.require_channel(args.get("channel"))
        try:
            limit = int(args.get("limit", 100))
            oldest = float(args.get("oldest") or 0)
            latest = float(args.get("latest") or "inf")
        except (TypeError, ValueError):
            raise ApiError("invalid_arguments") from None
        if not 1 <= limit <= 999:
            raise ApiError("invalid_limit")
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        found = [self.listed(m, with_metadata) for m in reversed(self.ws.messages.get(cid, []))
                 if m.thread_ts in (None, m.ts) and oldest <= float(m.ts) <= latest]
        return {"messages": found[:limit], "has_more": len(found) > limit}

    # ------------------------------------------------------------------------------------------- chat.*

    @web_api("chat.postMessage")
    def chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self.ws.require_channel(args.get("channel"))
        text, blocks = self.content(args)
        thread_ts = self.thread_parent(cid, args.get("thread_ts"))
        m = self.post(
            cid, text, blocks, thread_ts=thread_ts, attachments=args.get("attachments"), metadata=args.get("metadata")
        )
        return {"channel": cid, "ts": m.ts, "message": self.message_object(m)}

    def _own_message(self, args: dict[str, Any], ts_arg: str, refusal: str) -> tuple[str, Message]:
        cid = self.ws.require_channel(args.get("channel"), allow_names=False)
        m = self.ws.find_message(cid, args.get(ts_arg))
        if m is None:
            raise ApiError("message_not_found")
        if m.user != BOT_USER_ID:
            raise ApiError(refusal)
        return cid, m

    @web_api("chat.update")
    def chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        cid, m = self._own_message(args, "ts", "cant_update_message")
        text, blocks = self.content(args)
        if args.get("text") is not None:
            m.text = text
        if blocks is not None:
            m.blocks = blocks
        if isinstance(args.get("attachments"), list):
            m.attachments = args["attachments"]
        m.edited = True
        m.edit_count += 1
        m.edited_ts = self.ws.next_ts()
        return {"channel": cid, "ts": m.ts, "text": m.text, "message": self.message_object(m)}

    @web_api("chat.delete")
    def chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        cid, m = self._own_message(args, "ts", "cant_delete_message")
        self.ws.messages[cid].remove(m)
        return {"channel": cid, "ts": m.ts}

    @web_api("chat.postEphemeral")
    def chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self.ws.require_channel(args.get("channel"))
        user = self.ws.require_user(args.get("user"))
        text, blocks = self.content(args)
        thread_ts = self.thread_parent(cid, args.get("thread_ts"))
        e = self.post_ephemeral(cid, user.id, text, blocks, thread_ts)
        return {"message_ts": e.ts}

    @web_api("chat.getPermalink")
    def chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self.ws.require_channel(args.get("channel"), allow_names=False)
        m = self.ws.find_message(cid, args.get("message_ts"))
        if m is None:
            raise ApiError("message_not_found")
        return {"channel": cid, "permalink": self.permalink(cid, m.ts, m.thread_ts)}

    # ------------------------------------------------------------------------------------------- response_url

    async def handle_response_url(self, request: web.Request) -> web.Response:
        """``POST /_response/{id}``: what the bot sends to a command's or interaction's ``response_url``."""
        self.ws.remember_base(request)
        rid = request.match_info["id"]
        try:
            body = await request.json()
        except ValueError:
            body = None
        args = body if isinstance(body, dict) else {}
        fault = self.ws.take_fault("response_url")
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
            self.ws.record("response_url", args, ok=False)
            return web.Response(status=fault.status, text=fault.error, content_type="text/plain", headers=headers)
        status, text = self._use_response_url(rid, body)
        self.ws.record("response_url", args, ok=status == 200)
        return web.Response(status=status, text=text, content_type="text/plain")

    def _use_response_url(self, rid: str, body: Any) -> tuple[int, str]:
        ru = self.ws.response_urls.get(rid)
        if ru is None:
            return 404, "no_service"
        if time.monotonic() - ru.issued > RESPONSE_URL_TTL:
            return 404, "expired_url"
        if ru.uses >= RESPONSE_URL_USES:
            return 404, "used_url"
        if not isinstance(body, dict):
            return 400, "invalid_payload"
        ru.uses += 1
        if body.get("delete_original"):
            self._delete_source(ru)
            return 200, "ok"
        try:
            text, blocks = self.content(body)
        except ApiError as exc:
            return 400, exc.error
        if body.get("replace_original") and ru.source_ts is not None and self._replace_source(ru, text, blocks):
            return 200, "ok"
        thread_ts = body.get("thread_ts") if isinstance(body.get("thread_ts"), str) else ru.thread_ts
        if body.get("response_type") == "in_channel":
            self.post(ru.channel, text, blocks, thread_ts=thread_ts)
        else:
            self.post_ephemeral(ru.channel, ru.user, text, blocks, thread_ts)
        return 200, "ok"

    def _delete_source(self, ru: ResponseUrl) -> None:
        if ru.source_ephemeral:
            self.ws.ephemerals = [
                e for e in self.ws.ephemerals if not (e.channel == ru.channel and e.ts == ru.source_ts)
            ]
        else:
            m = self.ws.find_message(ru.channel, ru.source_ts)
            if m is not None:
                self.ws.messages[ru.channel].remove(m)

    def _replace_source(self, ru: ResponseUrl, text: str, blocks: list[dict[str, Any]] | None) -> bool:
        if ru.source_ephemeral:
            for e in self.ws.ephemerals:
                if e.channel == ru.channel and e.ts == ru.source_ts:
                    e.text, e.blocks = text, blocks or []
                    return True
            return False
        m = self.ws.find_message(ru.channel, ru.source_ts)
        if m is None:
            return False
        m.text, m.blocks = text, blocks or []
        m.edited, m.edit_count, m.edited_ts = True, m.edit_count + 1, self.ws.next_ts()
        return True
