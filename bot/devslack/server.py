"""A local stand-in for Slack: the Web API the bot calls, and signed delivery of interactions to the bot.

Development and test tool only; production code never imports this module.

* ``POST|GET /api/{method}`` answers the Web API methods the bot uses, with Slack's response shapes and errors.
* :meth:`SlackStandIn.send_command`, :meth:`SlackStandIn.click` and :meth:`SlackStandIn.submit_view` play the
  user: they build the payloads Slack would send and POST them to the bot's ``events_url``, signed with the
  signing secret exactly as Slack signs them.
* ``/_response/{id}`` is the ``response_url``, ``/_upload/{id}`` the file upload URL, ``/_control/*`` a small
  JSON API for the browser UI, and the in-process helpers (:meth:`messages`, :meth:`calls`, :meth:`wait_for`...)
  let tests look at what the bot did.
* ``/`` is a Slack-like web page (``static/``): channels, people to switch between, messages with Block Kit,
  threads, modals. It long-polls ``/_control/state?since=<version>`` and acts through ``/_control/*``.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import inspect
import itertools
import json
import logging
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar, cast
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "DeliveryResult",
    "DevChannel",
    "DevUser",
    "HeldCall",
    "RecordedCall",
    "SlackStandIn",
    "default_channels",
    "default_usergroups",
    "default_users",
    "validate_blocks",
]

T = TypeVar("T")

TEAM_ID: Final = "T0DEV"
TEAM_DOMAIN: Final = "dev-workspace"
TEAM_NAME: Final = "Dev Workspace"
APP_ID: Final = "A0DEV"
BOT_USER_ID: Final = "U0BOT"
BOT_ID: Final = "B0BOT"
BOT_NAME: Final = "approvals-bot"
VERIFICATION_TOKEN: Final = "deprecated-verification-token"

MAX_MESSAGE_BLOCKS: Final = 50
MAX_VIEW_BLOCKS: Final = 100
MAX_TEXT_OBJECT: Final = 3000
MAX_TOTAL_BLOCK_TEXT: Final = 12000
MAX_MESSAGE_TEXT: Final = 40000
RESPONSE_URL_TTL: Final = 30 * 60.0
RESPONSE_URL_USES: Final = 5
VIEW_STACK_LIMIT: Final = 3
DELIVERY_TIMEOUT: Final = 30.0

_JSON_ARGS: Final = ("blocks", "attachments", "view", "files", "metadata")
_BLOCK_TYPES: Final = frozenset(
    {
        "section",
        "actions",
        "context",
        "header",
        "divider",
        "input",
        "image",
        "rich_text",
        "video",
        "file",
        "markdown",
        "table",
        "context_actions",
    }
)
_TS_RE: Final = re.compile(r"^\d{1,12}\.\d{1,6}$")
STATIC_DIR: Final = Path(__file__).with_name("static")
_STATIC_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]*\.(html|css|js|svg)$")
_CONTENT_TYPES: Final = {
    "html": "text/html",
    "css": "text/css",
    "js": "text/javascript",
    "svg": "image/svg+xml",
}
# The page loads nothing from elsewhere and runs no inline script: a last line of defence against markup injection.
_PAGE_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)
MAX_POLL_WAIT: Final = 60.0
_LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "::1"})


def _host_name(host: str) -> str:
    """The name part of a Host header: ``127.0.0.1:3000`` -> ``127.0.0.1``, ``[::1]:3000`` -> ``::1``."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


_log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class DevUser:
    id: str
    name: str
    real_name: str
    is_admin: bool = False


@dataclass(frozen=True)
class DevChannel:
    id: str
    name: str
    is_private: bool = False


@dataclass(frozen=True)
class RecordedCall:
    method: str
    args: dict[str, Any]
    at: float
    ok: bool


@dataclass(frozen=True)
class DeliveryResult:
    """The bot's HTTP answer to a delivered command or interaction."""

    status: int
    body: str
    json: Any | None
    elapsed: float = 0.0  # seconds the bot took to answer (Slack gives up after 3 s)


def default_users() -> tuple[DevUser, ...]:
    return (
        DevUser(id="U0ALICE", name="alice", real_name="Alice Example"),
        DevUser(id="U0BOB", name="bob", real_name="Bob Example"),
        DevUser(id="U0CAROL", name="carol", real_name="Carol Example"),
    )


def default_channels() -> tuple[DevChannel, ...]:
    return (
        DevChannel(id="C0GENERAL", name="general"),
        DevChannel(id="C0RANDOM", name="random"),
        DevChannel(id="C0APPROVALS", name="approvals"),
        DevChannel(id="C0SALES", name="sales"),
    )


def default_usergroups() -> dict[str, list[str]]:
    return {"S0APPROVERS": ["U0ALICE", "U0BOB"]}


# --------------------------------------------------------------------------------------------------- validation


def _text_objects(node: Any, pointer: str) -> list[tuple[str, dict[str, Any]]]:
    """Every text object (plain_text / mrkdwn) under node, with its JSON pointer."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and "text" in node:
            found.append((pointer, node))
        else:
            for key, value in node.items():
                found.extend(_text_objects(value, f"{pointer}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_text_objects(value, f"{pointer}/{i}"))
    return found


def validate_blocks(
    blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS, surface: str = "message"
) -> tuple[str, list[str]] | None:
    """Check Block Kit blocks the way Slack does (the subset of rules that matters here).

    Returns ``None`` when valid, else ``(error_code, messages)`` with Slack's error code (``invalid_blocks_format``,
    ``invalid_blocks`` or ``msg_blocks_too_long``) and messages carrying JSON pointers like Slack's.
    """
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        return "invalid_blocks_format", ["blocks must be an array of objects [json-pointer:/blocks]"]
    errors: list[str] = []

    def err(msg: str, ptr: str) -> None:
        errors.append(f"{msg} [json-pointer:/blocks{ptr}]")

    def check_len(value: Any, limit: int, ptr: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            err(f"must be less than {limit + 1} characters", ptr)

    if len(blocks) > max_blocks:
        err(f"no more than {max_blocks} items allowed", "")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        p = f"/{i}"
        btype = block.get("type")
        if btype not in _BLOCK_TYPES:
            err(f"unknown or missing block type {btype!r}", f"{p}/type")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id:
                err("block_id must be a non-empty string", f"{p}/block_id")
            else:
                check_len(block_id, 255, f"{p}/block_id")
                if block_id in block_ids:
                    err(f"duplicate block_id {block_id!r}", f"{p}/block_id")
                block_ids.add(block_id)
        if btype == "section":
            fields = block.get("fields")
            if block.get("text") is None and not fields:
                err("must provide either text or fields", p)
            if fields is not None:
                if not isinstance(fields, list) or len(fields) > 10:
                    err("fields must be an array of at most 10 items", f"{p}/fields")
                else:
                    for j, fld in enumerate(fields):
                        if isinstance(fld, dict):
                            check_len(fld.get("text"), 2000, f"{p}/fields/{j}/text")
        elif btype == "header":
            text = block.get("text")
            if not isinstance(text, dict) or text.get("type") != "plain_text":
                err("header text must be a plain_text object", f"{p}/text")
            else:
                check_len(text.get("text"), 150, f"{p}/text/text")
        elif btype in ("actions", "context"):
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                err("must provide at least one element", f"{p}/elements")
                elements = []
            elif len(elements) > (25 if btype == "actions" else 10):
                err(f"no more than {25 if btype == 'actions' else 10} items allowed", f"{p}/elements")
            action_ids: set[str] = set()
            for j, element in enumerate(elements):
                if not isinstance(element, dict):
                    err("element must be an object", f"{p}/elements/{j}")
                    continue
                action_id = element.get("action_id")
                if isinstance(action_id, str):
                    check_len(action_id, 255, f"{p}/elements/{j}/action_id")
                    if action_id in action_ids:
                        err(f"duplicate action_id {action_id!r}", f"{p}/elements/{j}/action_id")
                    action_ids.add(action_id)
                if element.get("type") == "button":
                    text = element.get("text")
                    if not isinstance(text, dict) or text.get("type") != "plain_text":
                        err("button text must be a plain_text object", f"{p}/elements/{j}/text")
                    else:
                        check_len(text.get("text"), 75, f"{p}/elements/{j}/text/text")
                    check_len(element.get("value"), 2000, f"{p}/elements/{j}/value")
                    check_len(element.get("url"), 3000, f"{p}/elements/{j}/url")
                    style = element.get("style")
                    if style is not None and style not in ("primary", "danger"):
                        err("style must be primary or danger", f"{p}/elements/{j}/style")
        elif btype == "input":
            if not isinstance(block.get("element"), dict):
                err("input block requires an element", f"{p}/element")
            label = block.get("label")
            if not isinstance(label, dict) or label.get("type") != "plain_text":
                err("input label must be a plain_text object", f"{p}/label")
            else:
                check_len(label.get("text"), 2000, f"{p}/label/text")
            element = block.get("element")
            if isinstance(element, dict) and element.get("type") == "plain_text_input":
                max_length = element.get("max_length")
                if max_length is not None and (not isinstance(max_length, int) or not 1 <= max_length <= 3000):
                    err("max_length must be between 1 and 3000", f"{p}/element/max_length")
    total = 0
    for ptr, obj in _text_objects(blocks, ""):
        text = obj.get("text")
        if not isinstance(text, str):
            err("text must be a string", f"{ptr}/text")
            continue
        if not text:
            err("must be more than 0 characters", f"{ptr}/text")
        check_len(text, MAX_TEXT_OBJECT, f"{ptr}/text")
        total += len(text)
    if errors:
        return "invalid_blocks", errors
    if surface == "message" and total > MAX_TOTAL_BLOCK_TEXT:
        return "msg_blocks_too_long", [f"total text of all blocks is {total} characters [json-pointer:/blocks]"]
    return None


def _validate_view(view: Any) -> list[str] | None:
    """Slack answers ``invalid_arguments`` with these messages for a bad view; None when valid."""
    if not isinstance(view, dict):
        return ["view must be an object [json-pointer:/view]"]
    errors: list[str] = []
    if view.get("type") not in ("modal", "home"):
        errors.append("type must be modal or home [json-pointer:/view/type]")
    for key in ("title", "submit", "close"):
        obj = view.get(key)
        if obj is None:
            if key == "title" and view.get("type") == "modal":
                errors.append("title is required [json-pointer:/view/title]")
            continue
        if not isinstance(obj, dict) or obj.get("type") != "plain_text" or not isinstance(obj.get("text"), str):
            errors.append(f"{key} must be a plain_text object [json-pointer:/view/{key}]")
        elif not 1 <= len(obj["text"]) <= 24:
            errors.append(f"{key} must be 1 to 24 characters [json-pointer:/view/{key}/text]")
    for key, limit in (("callback_id", 255), ("private_metadata", 3000), ("external_id", 255)):
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            errors.append(f"{key} must be a string of at most {limit} characters [json-pointer:/view/{key}]")
    blocks = view.get("blocks")
    problem = validate_blocks(blocks, max_blocks=MAX_VIEW_BLOCKS, surface="view")
    if problem is not None:
        errors.extend(m.replace("[json-pointer:/blocks", "[json-pointer:/view/blocks") for m in problem[1])
    elif (
        isinstance(blocks, list)
        and any(b.get("type") == "input" for b in blocks)
        and view.get("submit") is None
        and view.get("type") == "modal"
    ):
        errors.append("submit is required when an input block is present [json-pointer:/view/submit]")
    return errors or None


# --------------------------------------------------------------------------------------------------- internal state


class _ApiError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class _Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    user: str = BOT_USER_ID
    bot_id: str | None = BOT_ID
    attachments: list[Any] | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    metadata: Any | None = None
    edited: bool = False
    edit_count: int = 0
    edited_ts: str | None = None


@dataclass
class _Ephemeral:
    channel: str
    user: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None


@dataclass
class _Trigger:
    id: str
    user: str
    issued: float
    used: bool = False


@dataclass
class _ResponseUrl:
    id: str
    user: str
    channel: str
    issued: float
    source_ts: str | None = None  # message the interaction came from (None for slash commands)
    source_ephemeral: bool = False
    thread_ts: str | None = None
    uses: int = 0


@dataclass
class _View:
    id: str
    user: str
    view: dict[str, Any]
    hash: str
    root_id: str
    previous_id: str | None = None
    errors: dict[str, str] | None = None
    open: bool = True


@dataclass
class _Upload:
    id: str
    filename: str
    length: int
    content: bytes | None = None


@dataclass
class _Fault:
    status: int
    error: str
    remaining: int
    retry_after: int


@dataclass
class HeldCall:
    """A Web API call held by :meth:`SlackStandIn.hold`: ``arrived`` is set when it came in (its arguments are
    then in ``args``); it is answered once :meth:`release` is called."""

    method: str
    when: Callable[[dict[str, Any]], bool] | None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    args: dict[str, Any] | None = None

    def release(self) -> None:
        self.released.set()


# --------------------------------------------------------------------------------------------------- the stand-in


class SlackStandIn:
    """In-memory Slack workspace served over HTTP (see module docstring)."""

    def __init__(
        self,
        *,
        signing_secret: str,
        bot_token: str,
        app_token: str | None = None,
        events_url: str | None = None,
        users: Sequence[DevUser] | None = None,
        channels: Sequence[DevChannel] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        trigger_ttl: float = 3.0,
    ) -> None:
        self.signing_secret = signing_secret
        self.bot_token = bot_token
        self.app_token = app_token  # Socket Mode: `apps.connections.open` takes this token
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.events_url: str | None = events_url
        self.trigger_ttl = trigger_ttl
        self._users: dict[str, DevUser] = {u.id: u for u in (default_users() if users is None else users)}
        self._channels: dict[str, DevChannel] = {
            c.id: c for c in (default_channels() if channels is None else channels)
        }
        groups = default_usergroups() if usergroups is None else usergroups
        self._usergroups: dict[str, list[str]] = {k: list(v) for k, v in groups.items()}
        self._base_url: str | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count(1)
        self._last_ts_us = 0
        self._version = 0
        self._changed: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._instance = secrets.token_hex(6)  # lets the page notice a restarted stand-in (versions restart at 0)
        self._closing = False
        self._loopback_only = False  # set by start() on a loopback host
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
            "usergroups.users.list": self._usergroups_users_list,
            "apps.connections.open": self._apps_connections_open,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }
        self._init_state()

    def _init_state(self) -> None:
        self._calls: list[RecordedCall] = []
        self._messages: dict[str, list[_Message]] = {}
        self._ephemerals: list[_Ephemeral] = []
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._views: dict[str, _View] = {}
        self._stacks: dict[str, list[str]] = {}
        self._uploads: dict[str, _Upload] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._holds: list[HeldCall] = []
        self._dms: dict[str, str] = {}  # DM channel id -> user id

    # ------------------------------------------------------------------------------------------- server lifecycle

    def web_app(self) -> web.Application:
        """A new aiohttp application serving the Web API, response URLs, uploads and the control API."""
        app = web.Application(middlewares=[self._same_origin_control])
        app.router.add_get("/", self._handle_page)
        app.router.add_get("/archives/{tail:.*}", self._handle_page)  # permalinks open the page
        app.router.add_get("/static/{name}", self._handle_static)
        app.router.add_get("/favicon.ico", self._handle_favicon)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_get("/_socket", self._handle_socket)
        app.router.add_post("/_response/{id}", self._handle_response_url)
        app.router.add_post("/_upload/{id}", self._handle_upload)
        app.router.add_get("/_files/{id}", self._handle_file_download)
        app.router.add_post("/_control/command", self._handle_control_command)
        app.router.add_post("/_control/click", self._handle_control_click)
        app.router.add_post("/_control/submit_view", self._handle_control_submit_view)
        app.router.add_post("/_control/close_view", self._handle_control_close_view)
        app.router.add_post("/_control/message", self._handle_control_message)
        app.router.add_get("/_control/calls", self._handle_control_calls)
        app.router.add_get("/_control/state", self._handle_control_state)
        app.router.add_post("/_control/reset", self._handle_control_reset)
        app.router.add_post("/_control/fail", self._handle_control_fail)
        return app

    async def start(self, *, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 = any free port); returns the base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._runner is not None:
            raise RuntimeError("SlackStandIn already started")
        self._closing = False
        self._loopback_only = host in _LOOPBACK_NAMES
        runner = web.AppRunner(self.web_app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in str(bound_host) else str(bound_host)
        self._base_url = f"http://{shown}:{bound_port}"
        return self._base_url

    async def stop(self) -> None:
        self._closing = True
        self._touch()  # pending long polls of the page answer at once instead of holding the shutdown
        if self._session is not None and self._session_loop is asyncio.get_running_loop():
            await self._session.close()
        self._session = self._session_loop = None
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("SlackStandIn is not serving: call start() (or serve web_app() and make a request)")
        return self._base_url

    @property
    def api_url(self) -> str:
        """Web API base URL (``SLACK_API_URL``); slack-sdk appends the method names."""
        return f"{self.base_url}/api/"

    # ------------------------------------------------------------------------------------------- inspection helpers

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        """Every Web API call (and response_url use, as method ``response_url``), in order."""
        return [c for c in self._calls if method is None or c.method == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Current messages of the channel (top-level and thread replies, in ts order); ephemerals excluded."""
        cid = self._channel_id_or_none(channel) or channel
        stored = self._messages.get(cid, [])
        return [self._message_view(m, stored) for m in stored]

    def ephemerals(self, user: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                "channel": e.channel,
                "user": e.user,
                "ts": e.ts,
                "thread_ts": e.thread_ts,
                "text": e.text,
                "blocks": copy.deepcopy(e.blocks),
            }
            for e in self._ephemerals
            if user is None or e.user == user
        ]

    def open_views(self, user: str | None = None) -> list[dict[str, Any]]:
        """Modals currently open, bottom of each user's stack first."""
        result: list[dict[str, Any]] = []
        for uid, stack in self._stacks.items():
            if user is not None and uid != user:
                continue
            for vid in stack:
                v = self._views[vid]
                result.append(
                    {
                        "id": v.id,
                        "user": v.user,
                        "view": self._view_object(v),
                        "errors": copy.deepcopy(v.errors),
                        "hash": v.hash,
                        "callback_id": v.view.get("callback_id"),
                        "external_id": v.view.get("external_id"),
                    }
                )
        return result

    def set_usergroup(self, group_id: str, members: Sequence[str]) -> None:
        """Create a user group or replace its members (mention it in commands as @<id without "S0">)."""
        self._usergroups[group_id] = list(members)
        self._touch()

    def fail(
        self, *, method: str, status: int = 429, error: str = "ratelimited", count: int = 1, retry_after: int = 1
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail with HTTP ``status`` (429 adds ``Retry-After``)."""
        if count < 1:
            raise ValueError("count must be >= 1")
        if status >= 500 and error == "ratelimited":
            error = "internal_error"
        self._faults.setdefault(method, []).append(
            _Fault(status=status, error=error, remaining=count, retry_after=retry_after)
        )

    def hold(self, method: str, *, when: Callable[[dict[str, Any]], bool] | None = None) -> HeldCall:
        """Hold the next call of ``method`` whose arguments satisfy ``when`` (any, without it) until the test
        calls ``release()`` on the returned :class:`HeldCall`; ``await held.arrived.wait()`` waits for it to come
        in. Nothing of the call (e.g. the posted message) happens until it is released; later calls pass."""
        held = HeldCall(method=method, when=when)
        self._holds.append(held)
        return held

    async def _wait_if_held(self, method: str, args: dict[str, Any]) -> None:
        for held in self._holds:
            if held.method == method and held.args is None and (held.when is None or held.when(args)):
                held.args = copy.deepcopy(args)
                held.arrived.set()
                self._touch()
                await held.released.wait()
                return

    def reset(self) -> None:
        """Forget messages, views, calls, faults, triggers and uploads (users, channels and events_url stay)."""
        self._init_state()
        self._touch()

    async def wait_for(
        self,
        predicate: Callable[[], T | bool | None],
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline is what this helper is for
        description: str | None = None,
    ) -> T:
        """Poll ``predicate`` (every 5 ms, and at once on any state change) until it returns something truthy.

        Returns that value; raises TimeoutError with the predicate, its last value and the latest calls.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            version = self._version
            result = predicate()
            if result:
                return cast(T, result)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._timeout_message(predicate, result, timeout, description))
            if self._version == version:
                event = self._change_event(loop)
                try:
                    async with asyncio.timeout(min(0.005, remaining)):
                        await event.wait()
                except TimeoutError:
                    pass

    def _change_event(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        if self._changed is None or self._changed[0] is not loop:
            self._changed = (loop, asyncio.Event())
        return self._changed[1]

    def _touch(self) -> None:
        self._version += 1
        if self._changed is not None:
            self._changed[1].set()
            self._changed = None

    def _timeout_message(
        self, predicate: Callable[[], object], last: object, timeout: float, description: str | None
    ) -> str:
        what = description
        if what is None:
            try:
                what = inspect.getsource(predicate).strip()
            except (OSError, TypeError):
                what = getattr(predicate, "__qualname__", repr(predicate))
        recent = ", ".join(f"{c.method}({'ok' if c.ok else 'failed'})" for c in self._calls[-8:]) or "none"
        return f"condition not met within {timeout}s: {what}; last value {last!r}; latest calls: {recent}"

    # ------------------------------------------------------------------------------------------- ids and lookups

    def _next_ts(self) -> str:
        now_us = time.time_ns() // 1000
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0DEV{next(self._ids):06d}{secrets.token_hex(2).upper()}"

    def _issue_trigger(self, user: str) -> str:
        n = next(self._ids)
        trigger_id = f"{n}.{int(time.time())}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = _Trigger(id=trigger_id, user=user, issued=time.monotonic())
        return trigger_id

    def _issue_response_url(
        self,
        *,
        user: str,
        channel: str,
        source_ts: str | None = None,
        source_ephemeral: bool = False,
        thread_ts: str | None = None,
    ) -> str:
        rid = secrets.token_urlsafe(18)
        self._response_urls[rid] = _ResponseUrl(
            id=rid,
            user=user,
            channel=channel,
            issued=time.monotonic(),
            source_ts=source_ts,
            source_ephemeral=source_ephemeral,
            thread_ts=thread_ts,
        )
        return f"{self.base_url}/_response/{rid}"

    def _channel_id_or_none(self, ref: str, *, allow_names: bool = True) -> str | None:
        """Channel id for an id, ``#name`` / ``name`` (public channels only), or a user id (its DM)."""
        if ref in self._channels or ref in self._dms:
            return ref
        if allow_names:
            name = ref[1:] if ref.startswith("#") else ref
            for ch in self._channels.values():
                if ch.name == name and not ch.is_private:
                    return ch.id
        if ref in self._users:
            dm = "D" + ref[1:]
            self._dms[dm] = ref
            return dm
        return None

    def _require_channel(self, ref: Any, *, allow_names: bool = True) -> str:
        if not isinstance(ref, str) or not ref:
            raise _ApiError("channel_not_found")
        cid = self._channel_id_or_none(ref, allow_names=allow_names)
        if cid is None:
            raise _ApiError("channel_not_found")
        return cid

    def _require_user(self, ref: Any) -> DevUser:
        if not isinstance(ref, str) or ref not in self._users:
            raise _ApiError("user_not_found")
        return self._users[ref]

    def _channel_name(self, cid: str) -> str:
        if cid in self._dms:
            return "directmessage"
        return self._channels[cid].name

    def _find_message(self, cid: str, ts: Any) -> _Message | None:
        for m in self._messages.get(cid, []):
            if m.ts == ts:
                return m
        return None

    def _user_payload(self, user: DevUser) -> dict[str, Any]:
        return {"id": user.id, "username": user.name, "name": user.name, "team_id": TEAM_ID}

    # ------------------------------------------------------------------------------------------- message shapes

    def _message_object(self, m: _Message) -> dict[str, Any]:
        """A message as Slack's Web API and payloads show it."""
        obj: dict[str, Any] = {"type": "message", "text": m.text, "user": m.user, "ts": m.ts, "team": TEAM_ID}
        if m.bot_id is not None:
            obj.update(bot_id=m.bot_id, app_id=APP_ID)
        if m.blocks:
            obj["blocks"] = copy.deepcopy(m.blocks)
        if m.attachments:
            obj["attachments"] = copy.deepcopy(m.attachments)
        if m.thread_ts is not None:
            obj["thread_ts"] = m.thread_ts
        if m.files:
            obj["files"] = [self._file_object(f) for f in m.files]
        if m.metadata is not None:
            obj["metadata"] = copy.deepcopy(m.metadata)
        if m.edited:
            obj["edited"] = {"user": m.user, "ts": m.edited_ts}
        return obj

    def _message_view(self, m: _Message, siblings: list[_Message]) -> dict[str, Any]:
        """A message as tests see it."""
        replies = [r for r in siblings if r.thread_ts == m.ts and r is not m]
        return {
            "channel": m.channel,
            "ts": m.ts,
            "thread_ts": m.thread_ts,
            "user": m.user,
            "bot_id": m.bot_id,
            "text": m.text,
            "blocks": copy.deepcopy(m.blocks),
            "attachments": copy.deepcopy(m.attachments),
            "files": copy.deepcopy(m.files),
            "metadata": copy.deepcopy(m.metadata),
            "edited": m.edited,
            "edit_count": m.edit_count,
            "reply_count": len(replies),
        }

    def _file_object(self, f: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": f["id"],
            "name": f["name"],
            "title": f["title"],
            "size": f["size"],
            "mimetype": f["mimetype"],
            "filetype": f["filetype"],
            "user": BOT_USER_ID,
            "created": f["created"],
            "url_private": f"{self.base_url}/_files/{f['id']}",
        }

    def _permalink(self, cid: str, ts: str, thread_ts: str | None) -> str:
        link = f"{self.base_url}/archives/{cid}/p{ts.replace('.', '')}"
        if thread_ts is not None and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={cid}"
        return link

    def _normalize_blocks(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Copy blocks and give every block a block_id and every interactive element an action_id, as Slack does."""
        result = copy.deepcopy(blocks)
        for block in result:
            block.setdefault("block_id", secrets.token_urlsafe(3))
            elements: list[Any] = []
            if isinstance(block.get("elements"), list) and block.get("type") == "actions":
                elements = block["elements"]
            for key in ("accessory", "element"):
                if isinstance(block.get(key), dict):
                    elements.append(block[key])
            for element in elements:
                if isinstance(element, dict) and element.get("type") not in (None, "image", "plain_text", "mrkdwn"):
                    element.setdefault("action_id", secrets.token_urlsafe(3))
        return result

    def _content(self, args: Mapping[str, Any], *, required: bool = True) -> tuple[str, list[dict[str, Any]] | None]:
        """Validated (text, blocks) of a message-posting call; blocks None when absent."""
        text = args.get("text")
        blocks = args.get("blocks")
        attachments = args.get("attachments")
        if text is not None and not isinstance(text, str):
            text = str(text)
        if blocks is not None:
            problem = validate_blocks(blocks)
            if problem is not None:
                raise _ApiError(problem[0], errors=problem[1], response_metadata={"messages": problem[1]})
        if required and not text and not blocks and not attachments:
            raise _ApiError("no_text")
        if text is not None and len(text) > MAX_MESSAGE_TEXT:
            raise _ApiError("msg_too_long")
        return (text or ""), (None if blocks is None else self._normalize_blocks(blocks))

    def _thread_parent(self, cid: str, thread_ts: Any) -> str | None:
        if thread_ts in (None, ""):
            return None
        if not isinstance(thread_ts, str) or not _TS_RE.match(thread_ts):
            raise _ApiError("invalid_thread_ts")
        parent = self._find_message(cid, thread_ts)
        if parent is None:
            raise _ApiError("thread_not_found")
        return parent.thread_ts or parent.ts  # a reply's ts points at its thread

    def _post(
        self,
        cid: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        *,
        thread_ts: str | None = None,
        attachments: Any = None,
        metadata: Any = None,
        files: list[dict[str, Any]] | None = None,
    ) -> _Message:
        m = _Message(
            channel=cid,
            ts=self._next_ts(),
            text=text,
            blocks=blocks or [],
            thread_ts=thread_ts,
            attachments=attachments if isinstance(attachments, list) else None,
            metadata=metadata,
            files=files or [],
        )
        self._messages.setdefault(cid, []).append(m)
        return m

    def _post_ephemeral(
        self, cid: str, user: str, text: str, blocks: list[dict[str, Any]] | None, thread_ts: str | None = None
    ) -> _Ephemeral:
        e = _Ephemeral(channel=cid, user=user, ts=self._next_ts(), text=text, blocks=blocks or [], thread_ts=thread_ts)
        self._ephemerals.append(e)
        return e

    # ------------------------------------------------------------------------------------------- Web API

    async def _read_args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError as exc:
                    raise _ApiError("invalid_json") from exc
                if not isinstance(body, dict):
                    raise _ApiError("invalid_json")
                args.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    args[key] = value if isinstance(value, str) else "(binary)"
        for key in _JSON_ARGS:
            raw = args.get(key)
            if isinstance(raw, str) and raw[:1] in ("[", "{"):
                try:
                    args[key] = json.loads(raw)
                except ValueError:
                    pass
        return args

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self._remember_base(request)
        args: dict[str, Any] = {}
        headers: dict[str, str] = {}
        status = 200
        try:
            args = await self._read_args(request)
            token = args.pop("token", None)
            auth = request.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                token = auth[len("Bearer ") :].strip()
            handler = self._methods.get(method)
            if handler is None:
                raise _ApiError("unknown_method")
            fault = self._take_fault(method)
            if fault is not None:
                status = fault.status
                if status == 429:
                    headers["Retry-After"] = str(fault.retry_after)
                raise _ApiError(fault.error)
            if not token:
                raise _ApiError("not_authed")
            expected = self.app_token if method == "apps.connections.open" else self.bot_token
            if token != expected:
                raise _ApiError("invalid_auth")
            await self._wait_if_held(method, args)
            body = {"ok": True, **handler(args)}
        except _ApiError as exc:
            body = {"ok": False, "error": exc.error, **exc.extra}
        self._record(method, args, ok=bool(body["ok"]))
        return web.json_response(body, status=status, headers=headers)

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.pop(0)
        return fault

    def _record(self, method: str, args: dict[str, Any], *, ok: bool) -> None:
        self._calls.append(RecordedCall(method=method, args=copy.deepcopy(args), at=time.time(), ok=ok))
        self._touch()

    def _remember_base(self, request: web.Request) -> None:
        if self._base_url is None:
            self._base_url = f"{request.scheme}://{request.host}"

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"{self.base_url}/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self._require_channel(args.get("channel"))
        text, blocks = self._content(args)
        thread_ts = self._thread_parent(cid, args.get("thread_ts"))
        m = self._post(
            cid, text, blocks, thread_ts=thread_ts, attachments=args.get("attachments"), metadata=args.get("metadata")
        )
        return {"channel": cid, "ts": m.ts, "message": self._message_object(m)}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self._require_channel(args.get("channel"), allow_names=False)
        m = self._find_message(cid, args.get("ts"))
        if m is None:
            raise _ApiError("message_not_found")
        if m.user != BOT_USER_ID:
            raise _ApiError("cant_update_message")
        text, blocks = self._content(args)
        if args.get("text") is not None:
            m.text = text
        if blocks is not None:
            m.blocks = blocks
        if isinstance(args.get("attachments"), list):
            m.attachments = args["attachments"]
        m.edited = True
        m.edit_count += 1
        m.edited_ts = self._next_ts()
        return {"channel": cid, "ts": m.ts, "text": m.text, "message": self._message_object(m)}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self._require_channel(args.get("channel"), allow_names=False)
        m = self._find_message(cid, args.get("ts"))
        if m is None:
            raise _ApiError("message_not_found")
        if m.user != BOT_USER_ID:
            raise _ApiError("cant_delete_message")
        self._messages[cid].remove(m)
        return {"channel": cid, "ts": m.ts}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self._require_channel(args.get("channel"))
        user = self._require_user(args.get("user"))
        text, blocks = self._content(args)
        thread_ts = self._thread_parent(cid, args.get("thread_ts"))
        e = self._post_ephemeral(cid, user.id, text, blocks, thread_ts)
        return {"message_ts": e.ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self._require_channel(args.get("channel"), allow_names=False)
        m = self._find_message(cid, args.get("message_ts"))
        if m is None:
            raise _ApiError("message_not_found")
        return {"channel": cid, "permalink": self._permalink(cid, m.ts, m.thread_ts)}

    def _checked_view(self, view: Any) -> dict[str, Any]:
        problems = _validate_view(view)
        if problems is not None:
            raise _ApiError("invalid_arguments", response_metadata={"messages": problems})
        checked = copy.deepcopy(cast(dict[str, Any], view))
        checked["blocks"] = self._normalize_blocks(checked.get("blocks") or [])
        return checked

    def _take_trigger(self, trigger_id: Any) -> _Trigger:
        trigger = self._triggers.get(trigger_id) if isinstance(trigger_id, str) else None
        if trigger is None:
            raise _ApiError("invalid_trigger_id")
        if trigger.used:
            raise _ApiError("exchanged_trigger_id")
        if time.monotonic() - trigger.issued > self.trigger_ttl:
            raise _ApiError("expired_trigger_id")
        return trigger

    def _view_object(self, v: _View) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "id": v.id,
            "team_id": TEAM_ID,
            "type": v.view.get("type", "modal"),
            "blocks": copy.deepcopy(v.view.get("blocks", [])),
            "private_metadata": v.view.get("private_metadata", ""),
            "callback_id": v.view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": v.hash,
            "title": copy.deepcopy(v.view.get("title")),
            "clear_on_close": bool(v.view.get("clear_on_close", False)),
            "notify_on_close": bool(v.view.get("notify_on_close", False)),
            "close": copy.deepcopy(v.view.get("close")),
            "submit": copy.deepcopy(v.view.get("submit")),
            "previous_view_id": v.previous_id,
            "root_view_id": v.root_id,
            "app_id": APP_ID,
            "external_id": v.view.get("external_id", ""),
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        return obj

    def _new_hash(self) -> str:
        return f"{time.time():.6f}.{secrets.token_hex(4)}"

    def _open_view(self, user: str, view: dict[str, Any], *, push: bool) -> _View:
        external_id = view.get("external_id")
        if external_id and any(v.open and v.view.get("external_id") == external_id for v in self._views.values()):
            raise _ApiError("duplicate_external_id")
        stack = self._stacks.setdefault(user, [])
        if push and len(stack) >= VIEW_STACK_LIMIT:
            raise _ApiError("push_limit_reached")
        if not push:
            self._close_views(user, everything=True)
            stack = self._stacks.setdefault(user, [])
        vid = self._new_id("V")
        previous = stack[-1] if stack else None
        root = self._views[stack[0]].root_id if stack else vid
        v = _View(id=vid, user=user, view=view, hash=self._new_hash(), root_id=root, previous_id=previous)
        self._views[vid] = v
        stack.append(vid)
        return v

    def _close_views(self, user: str, *, everything: bool) -> None:
        stack = self._stacks.get(user, [])
        for vid in list(stack) if everything else stack[-1:]:
            self._close_view(self._views[vid])

    def _close_view(self, v: _View) -> None:
        v.open = False
        stack = self._stacks.get(v.user, [])
        if v.id in stack:
            stack.remove(v.id)
        if not stack:
            self._stacks.pop(v.user, None)

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._take_trigger(args.get("trigger_id"))
        view = self._checked_view(args.get("view"))
        trigger.used = True
        v = self._open_view(trigger.user, view, push=False)
        return {"view": self._view_object(v)}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._take_trigger(args.get("trigger_id"))
        view = self._checked_view(args.get("view"))
        trigger.used = True
        v = self._open_view(trigger.user, view, push=True)
        return {"view": self._view_object(v)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise _ApiError("invalid_arguments", response_metadata={"messages": ["view_id or external_id required"]})
        target: _View | None = None
        for v in self._views.values():
            if v.open and ((view_id and v.id == view_id) or (external_id and v.view.get("external_id") == external_id)):
                target = v
        if target is None:
            raise _ApiError("not_found")
        expected = args.get("hash")
        if expected and expected != target.hash:
            raise _ApiError("hash_conflict")
        target.view = self._checked_view(args.get("view"))
        target.hash = self._new_hash()
        target.errors = None
        return {"view": self._view_object(target)}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        uid = args.get("user")
        if uid == BOT_USER_ID:
            return {
                "user": {
                    "id": BOT_USER_ID,
                    "team_id": TEAM_ID,
                    "name": BOT_NAME,
                    "real_name": "Approvals Bot",
                    "profile": {"display_name": BOT_NAME, "real_name": "Approvals Bot", "bot_id": BOT_ID},
                    "is_admin": False,
                    "is_bot": True,
                    "deleted": False,
                }
            }
        user = self._require_user(uid)
        return {
            "user": {
                "id": user.id,
                "team_id": TEAM_ID,
                "name": user.name,
                "real_name": user.real_name,
                "profile": {"display_name": user.name, "real_name": user.real_name},
                "is_admin": user.is_admin,
                "is_owner": False,
                "is_bot": False,
                "deleted": False,
                "tz": "UTC",
            }
        }

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self._require_channel(args.get("channel"), allow_names=False)
        if cid in self._dms:
            return {
                "channel": {"id": cid, "is_im": True, "is_channel": False, "is_private": True, "user": self._dms[cid]}
            }
        ch = self._channels[cid]
        return {
            "channel": {
                "id": ch.id,
                "name": ch.name,
                "name_normalized": ch.name,
                "is_private": ch.is_private,
                "is_channel": True,
                "is_group": False,
                "is_im": False,
                "is_archived": False,
                "is_member": True,
                "created": 1700000000,
                "context_team_id": TEAM_ID,
            }
        }

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = args.get("usergroup")
        if not isinstance(group, str) or group not in self._usergroups:
            raise _ApiError("no_such_subteam")
        return {"users": list(self._usergroups[group])}

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename, length = args.get("filename"), args.get("length")
        try:
            size = int(length) if length is not None else -1
        except (TypeError, ValueError):
            size = -1
        if not isinstance(filename, str) or not filename or size < 0:
            raise _ApiError(
                "invalid_arguments", response_metadata={"messages": ["filename and a non-negative length are required"]}
            )
        fid = self._new_id("F")
        self._uploads[fid] = _Upload(id=fid, filename=filename, length=size)
        return {"upload_url": f"{self.base_url}/_upload/{fid}", "file_id": fid}

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if not isinstance(files, list) or not files or not all(isinstance(f, dict) and "id" in f for f in files):
            raise _ApiError("invalid_arguments", response_metadata={"messages": ["files must be [{id, title}]"]})
        uploads: list[tuple[_Upload, str]] = []
        for f in files:
            upload = self._uploads.get(str(f["id"]))
            if upload is None or upload.content is None:
                raise _ApiError("file_not_found")
            uploads.append((upload, str(f.get("title") or upload.filename)))
        channel_refs = [c for c in str(args.get("channels") or "").split(",") if c]
        if args.get("channel_id"):
            channel_refs.insert(0, str(args["channel_id"]))
        channel_ids = [self._require_channel(ref, allow_names=False) for ref in channel_refs]
        thread_ts = self._thread_parent(channel_ids[0], args.get("thread_ts")) if channel_ids else None
        now = int(time.time())
        stored = []
        for upload, title in uploads:
            data = upload.content or b""
            ext = upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else "text"
            stored.append(
                {
                    "id": upload.id,
                    "name": upload.filename,
                    "title": title,
                    "size": len(data),
                    "mimetype": "text/plain"
                    if ext in ("txt", "text", "md", "json", "log")
                    else "application/octet-stream",
                    "filetype": ext,
                    "created": now,
                    "content": data.decode("utf-8", errors="replace"),
                }
            )
            self._uploads.pop(upload.id, None)
        comment = args.get("initial_comment")
        for cid in channel_ids:
            self._post(cid, str(comment or ""), None, thread_ts=thread_ts, files=copy.deepcopy(stored))
        return {"files": [self._file_object(f) for f in stored]}

    # ------------------------------------------------------------------------------------------- upload / response_url

    async def _handle_upload(self, request: web.Request) -> web.Response:
        upload = self._uploads.get(request.match_info["id"])
        if upload is None:
            return web.Response(status=404, text="file_not_found")
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            part = form.get("file") or form.get("filename")
            data = part.file.read() if isinstance(part, web.FileField) else str(part or "").encode()
        else:
            data = await request.read()
        upload.content = data
        self._touch()
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _handle_file_download(self, request: web.Request) -> web.Response:
        fid = request.match_info["id"]
        for messages in self._messages.values():
            for m in messages:
                for f in m.files:
                    if f["id"] == fid:
                        return web.Response(text=str(f["content"]), content_type="text/plain")
        return web.Response(status=404, text="file_not_found")

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        self._remember_base(request)
        rid = request.match_info["id"]
        try:
            body = await request.json()
        except ValueError:
            body = None
        args = body if isinstance(body, dict) else {}
        fault = self._take_fault("response_url")
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
            self._record("response_url", args, ok=False)
            return web.Response(status=fault.status, text=fault.error, content_type="text/plain", headers=headers)
        status, text = self._use_response_url(rid, body)
        self._record("response_url", args, ok=status == 200)
        return web.Response(status=status, text=text, content_type="text/plain")

    def _use_response_url(self, rid: str, body: Any) -> tuple[int, str]:
        ru = self._response_urls.get(rid)
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
            text, blocks = self._content(body)
        except _ApiError as exc:
            return 400, exc.error
        if body.get("replace_original") and ru.source_ts is not None and self._replace_source(ru, text, blocks):
            return 200, "ok"
        thread_ts = body.get("thread_ts") if isinstance(body.get("thread_ts"), str) else ru.thread_ts
        if body.get("response_type") == "in_channel":
            self._post(ru.channel, text, blocks, thread_ts=thread_ts)
        else:
            self._post_ephemeral(ru.channel, ru.user, text, blocks, thread_ts)
        return 200, "ok"

    def _delete_source(self, ru: _ResponseUrl) -> None:
        if ru.source_ephemeral:
            self._ephemerals = [e for e in self._ephemerals if not (e.channel == ru.channel and e.ts == ru.source_ts)]
        else:
            m = self._find_message(ru.channel, ru.source_ts)
            if m is not None:
                self._messages[ru.channel].remove(m)

    def _replace_source(self, ru: _ResponseUrl, text: str, blocks: list[dict[str, Any]] | None) -> bool:
        if ru.source_ephemeral:
            for e in self._ephemerals:
                if e.channel == ru.channel and e.ts == ru.source_ts:
                    e.text, e.blocks = text, blocks or []
                    return True
            return False
        m = self._find_message(ru.channel, ru.source_ts)
        if m is None:
            return False
        m.text, m.blocks = text, blocks or []
        m.edited, m.edit_count, m.edited_ts = True, m.edit_count + 1, self._next_ts()
        return True

    # ------------------------------------------------------------------------------------------- delivery to the bot

    def sign(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        """Headers Slack would send with ``body``: timestamp, ``v0=`` HMAC-SHA256 signature and content type."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new(self.signing_secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
        return {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/x-www-form-urlencoded",
        }

    # Socket Mode ------------------------------------------------------------------------------
    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.base_url.replace("http://", "ws://", 1) + "/_socket"}

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        """A Socket Mode connection: `hello`, then envelopes out and acks (with `envelope_id`) back."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": len(self._sockets) + 1,
                            "connection_info": {"app_id": APP_ID}, "debug_info": {"approximate_connection_time": 3600}})
        self._sockets.append(ws)
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                ack = json.loads(message.data)
                future = self._socket_acks.pop(str(ack.get("envelope_id", "")), None)
                if future is not None and not future.done():
                    future.set_result(ack)
        finally:
            self._sockets.remove(ws)
        return ws

    async def _deliver_over_socket(self, form: Mapping[str, str]) -> DeliveryResult:
        envelope_id = secrets.token_hex(8)
        if "payload" in form:
            kind, payload = "interactive", json.loads(form["payload"])
        else:
            kind, payload = "slash_commands", dict(form)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._socket_acks[envelope_id] = future
        started = time.monotonic()
        await self._sockets[-1].send_json(
            {"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": True}
        )
        ack = await asyncio.wait_for(future, timeout=DELIVERY_TIMEOUT)
        answer = ack.get("payload")
        text = json.dumps(answer) if answer else ""
        self._touch()
        return DeliveryResult(status=200, body=text, json=answer or None, elapsed=time.monotonic() - started)

    async def _deliver(self, form: Mapping[str, str]) -> DeliveryResult:
        if self._sockets:  # the app is connected over Socket Mode: payloads go there, unsigned
            return await self._deliver_over_socket(form)
        if not self.events_url:
            raise RuntimeError("events_url is not set: nowhere to deliver to")
        body = urlencode(form).encode()
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            # (a session left from another event loop, e.g. a previous test's, can't be reused or closed here)
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT))
            self._session_loop = loop
        session = self._session
        started = time.monotonic()
        async with session.post(self.events_url, data=body, headers=self.sign(body)) as resp:
            text = await resp.text()
            status = resp.status
        elapsed = time.monotonic() - started
        parsed: Any | None = None
        if text.strip():
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        self._touch()
        return DeliveryResult(status=status, body=text, json=parsed, elapsed=elapsed)

    def _user_or_error(self, user: str) -> DevUser:
        if user not in self._users:
            raise ValueError(f"unknown user {user!r}; known: {sorted(self._users)}")
        return self._users[user]

    def _channel_or_error(self, channel: str) -> str:
        cid = self._channel_id_or_none(channel)
        if cid is None:
            raise ValueError(f"unknown channel {channel!r}; known: {sorted(self._channels)}")
        return cid

    def escape_command_text(self, text: str) -> str:
        """Command text as Slack sends it with should_escape: ``&<>`` as entities, @user/#channel as links."""
        out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        users = {u.name.lower(): u for u in self._users.values()}
        specials = {"here": "<!here>", "channel": "<!channel>", "everyone": "<!everyone>"}
        for group_id in self._usergroups:  # handle: the id without its "S0" prefix, e.g. @approvers
            handle = group_id[2:].lower() if group_id.startswith("S0") else group_id.lower()
            specials[handle] = f"<!subteam^{group_id}|@{handle}>"
        names = sorted({*users, *specials}, key=len, reverse=True)
        if names:
            pattern = re.compile(r"(?<![\w@])@(" + "|".join(map(re.escape, names)) + r")(?![\w-])", re.IGNORECASE)

            def user_link(match: re.Match[str]) -> str:
                name = match.group(1).lower()
                if name in users:
                    return f"<@{users[name].id}|{users[name].name}>"
                return specials[name]

            out = pattern.sub(user_link, out)
        channels = {c.name.lower(): c for c in self._channels.values()}
        if channels:
            names = sorted(channels, key=len, reverse=True)
            pattern = re.compile(r"(?<![\w#&])#(" + "|".join(map(re.escape, names)) + r")(?![\w-])", re.IGNORECASE)

            def channel_link(match: re.Match[str]) -> str:
                ch = channels[match.group(1).lower()]
                return f"<#{ch.id}|{'' if ch.is_private else ch.name}>"

            out = pattern.sub(channel_link, out)
        return out

    async def send_command(self, *, user: str, channel: str, text: str, command: str = "/agent") -> DeliveryResult:
        """Deliver a slash command as ``user`` typed it in ``channel``; shows a non-empty 200 reply like Slack."""
        if not command.startswith("/"):
            raise ValueError(f"command must start with '/': {command!r}")
        u = self._user_or_error(user)
        cid = self._channel_or_error(channel)
        form = {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": cid,
            "channel_name": self._channel_name(cid),
            "user_id": u.id,
            "user_name": u.name,
            "command": command,
            "text": self.escape_command_text(text),
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._issue_response_url(user=u.id, channel=cid),
            "trigger_id": self._issue_trigger(u.id),
        }
        result = await self._deliver(form)
        if result.status == 200 and result.body.strip():
            reply = result.json if isinstance(result.json, dict) else {"text": result.body}
            self._show_command_reply(cid, u.id, reply)
        return result

    def _show_command_reply(self, cid: str, user: str, reply: Mapping[str, Any]) -> None:
        try:
            text, blocks = self._content(reply)
        except _ApiError as exc:
            _log.warning("slash command reply not shown (%s): %r", exc.error, reply)
            return
        if reply.get("response_type") == "in_channel":
            self._post(cid, text, blocks)
        else:
            self._post_ephemeral(cid, user, text, blocks)
        self._touch()

    @staticmethod
    def _find_button(blocks: Sequence[Mapping[str, Any]], action_id: str) -> tuple[str, dict[str, Any]] | None:
        for block in blocks:
            candidates: list[Any] = []
            if block.get("type") == "actions":
                candidates.extend(block.get("elements") or [])
            if isinstance(block.get("accessory"), dict):
                candidates.append(block["accessory"])
            for element in candidates:
                if not isinstance(element, dict) or element.get("type") != "button":
                    continue
                if element.get("action_id") == action_id:
                    return str(block.get("block_id", "")), element
        return None

    async def click(
        self,
        *,
        user: str,
        channel: str,
        ts: str,
        action_id: str,
        value: str | None = None,
        as_seen: Mapping[str, Any] | None = None,
    ) -> DeliveryResult:
        """Deliver a ``block_actions`` payload for ``user`` clicking the button ``action_id`` on message ``ts``.

        ``value`` overrides the button's own value (to simulate a tampered payload). ``as_seen`` is the message as
        the user's client still showed it (e.g. a dict taken from :meth:`messages` before the bot updated it): the
        button is looked up there instead of in the current message, to simulate a click racing an update. The
        payload's ``message`` is still the current one, as Slack stores it.
        """
        u = self._user_or_error(user)
        cid = self._channel_or_error(channel)
        message = self._find_message(cid, ts)
        ephemeral = None
        if message is None:
            ephemeral = next((e for e in self._ephemerals if e.channel == cid and e.ts == ts and e.user == u.id), None)
            if ephemeral is None:
                raise ValueError(f"no message {ts} in {cid} visible to {u.id}")
        blocks = message.blocks if message is not None else cast(_Ephemeral, ephemeral).blocks
        if as_seen is not None:
            if as_seen.get("ts") != ts:
                raise ValueError(f"as_seen is message {as_seen.get('ts')!r}, not {ts!r}")
            blocks = list(as_seen.get("blocks") or [])
        found = self._find_button(blocks, action_id)
        if found is None:
            available = [
                e.get("action_id")
                for b in blocks
                for e in [*(b.get("elements") or []), b.get("accessory")]
                if isinstance(e, dict) and e.get("type") == "button"
            ]
            raise ValueError(f"message {ts} in {cid} has no button with action_id {action_id!r}; buttons: {available}")
        block_id, button = found
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id,
            "text": copy.deepcopy(button["text"]),
            "type": "button",
            "action_ts": f"{time.time():.6f}",
        }
        chosen = value if value is not None else button.get("value")
        if chosen is not None:
            action["value"] = chosen
        if "style" in button:
            action["style"] = button["style"]
        thread_ts = message.thread_ts if message is not None else cast(_Ephemeral, ephemeral).thread_ts
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": ts,
            "channel_id": cid,
            "is_ephemeral": ephemeral is not None,
        }
        if thread_ts is not None:
            container["thread_ts"] = thread_ts
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_payload(u),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": container,
            "trigger_id": self._issue_trigger(u.id),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": cid, "name": self._channel_name(cid)},
            "state": {"values": {}},
            "response_url": self._issue_response_url(
                user=u.id, channel=cid, source_ts=ts, source_ephemeral=ephemeral is not None, thread_ts=thread_ts
            ),
            "actions": [action],
        }
        if message is not None:  # Slack leaves the message out of payloads from ephemeral messages
            payload["message"] = self._message_object(message)
        return await self._deliver({"payload": json.dumps(payload)})

    def _view_state(self, v: _View, values: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
        inputs: dict[tuple[str, str], tuple[dict[str, Any], bool]] = {}
        for block in v.view.get("blocks", []):
            element = block.get("element")
            if block.get("type") == "input" and isinstance(element, dict):
                key = (str(block.get("block_id")), str(element.get("action_id")))
                inputs[key] = (element, bool(block.get("optional", False)))
        given = {(b, a): val for b, actions in values.items() for a, val in actions.items()}
        unknown = sorted(set(given) - set(inputs))
        if unknown:
            raise ValueError(f"view {v.id} has no input {unknown}; inputs (block_id, action_id): {sorted(inputs)}")
        state: dict[str, dict[str, Any]] = {}
        for (block_id, action_id), (element, optional) in inputs.items():
            val = given.get((block_id, action_id))
            if not val and not optional:
                raise ValueError(f"input {block_id}/{action_id} is required (Slack would not submit the view)")
            max_length = element.get("max_length")
            if val and isinstance(max_length, int) and len(val) > max_length:
                raise ValueError(f"input {block_id}/{action_id} is longer than max_length {max_length}")
            state.setdefault(block_id, {})[action_id] = {
                "type": element.get("type", "plain_text_input"),
                "value": val or None,
            }
        return {"values": state}

    async def submit_view(self, *, user: str, view_id: str, values: Mapping[str, Mapping[str, str]]) -> DeliveryResult:
        """Deliver a ``view_submission`` of the user's topmost open view, and apply the bot's response_action."""
        u = self._user_or_error(user)
        v = self._views.get(view_id)
        if v is None or not v.open or v.user != u.id:
            raise ValueError(f"no open view {view_id!r} for {u.id}; open: {[x['id'] for x in self.open_views(u.id)]}")
        if self._stacks[u.id][-1] != view_id:
            raise ValueError(f"view {view_id} is not the topmost view of {u.id}")
        view_obj = self._view_object(v)
        view_obj["state"] = self._view_state(v, values)
        payload: dict[str, Any] = {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": self._user_payload(u),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self._issue_trigger(u.id),
            "view": view_obj,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        result = await self._deliver({"payload": json.dumps(payload)})
        if result.status == 200:
            self._apply_view_response(v, result)
            self._touch()
        return result

    async def close_view(self, *, user: str, view_id: str) -> DeliveryResult | None:
        """The user closes their topmost view (Cancel or x). Delivers ``view_closed`` if the view asked for it."""
        u = self._user_or_error(user)
        v = self._views.get(view_id)
        if v is None or not v.open or v.user != u.id:
            raise ValueError(f"no open view {view_id!r} for {u.id}; open: {[x['id'] for x in self.open_views(u.id)]}")
        if self._stacks[u.id][-1] != view_id:
            raise ValueError(f"view {view_id} is not the topmost view of {u.id}")
        view_obj = self._view_object(v)
        self._close_view(v)
        self._touch()
        if not v.view.get("notify_on_close") or not self.events_url:
            return None
        payload: dict[str, Any] = {
            "type": "view_closed",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": self._user_payload(u),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "view": view_obj,
            "is_cleared": False,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return await self._deliver({"payload": json.dumps(payload)})

    def post_user_message(self, *, user: str, channel: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
        """A person's own message (not a command), stored as Slack stores typed text: ``&<>`` escaped, mentions
        as ``<@U…|name>``. The bot subscribes to no message events, so nothing is delivered."""
        u = self._user_or_error(user)
        cid = self._channel_or_error(channel)
        if not text.strip():
            raise ValueError("text is empty")
        if len(text) > MAX_MESSAGE_TEXT:
            raise ValueError(f"text is longer than {MAX_MESSAGE_TEXT} characters")
        try:
            parent = self._thread_parent(cid, thread_ts)
        except _ApiError as exc:
            raise ValueError(exc.error) from None
        m = _Message(
            channel=cid,
            ts=self._next_ts(),
            text=self.escape_command_text(text),
            blocks=[],
            thread_ts=parent,
            user=u.id,
            bot_id=None,
        )
        stored = self._messages.setdefault(cid, [])
        stored.append(m)
        self._touch()
        return self._message_view(m, stored)

    def _apply_view_response(self, v: _View, result: DeliveryResult) -> None:
        if not result.body.strip() or result.json == {}:
            self._close_view(v)
            return
        answer = result.json if isinstance(result.json, dict) else {}
        action = answer.get("response_action")
        if action == "errors" and isinstance(answer.get("errors"), dict):
            v.errors = {str(k): str(val) for k, val in answer["errors"].items()}
        elif action in ("update", "push"):
            try:
                view = self._checked_view(answer.get("view"))
            except _ApiError as exc:
                _log.warning("view_submission %s rejected: %s", action, exc.extra)
                return
            if action == "update":
                v.view, v.hash, v.errors = view, self._new_hash(), None
            elif len(self._stacks.get(v.user, [])) < VIEW_STACK_LIMIT:
                v.errors = None
                self._open_view(v.user, view, push=True)
        elif action == "clear":
            self._close_views(v.user, everything=True)
        else:
            _log.warning("view_submission answer not understood, view stays open: %r", result.body)

    # ------------------------------------------------------------------------------------------- control API (HTTP)

    async def _control_body(self, request: web.Request) -> dict[str, Any]:
        self._remember_base(request)
        try:
            body = await request.json() if request.body_exists else {}
        except ValueError as exc:
            raise web.HTTPBadRequest(
                text=json.dumps({"ok": False, "error": "invalid_json"}), content_type="application/json"
            ) from exc
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(
                text=json.dumps({"ok": False, "error": "body must be an object"}), content_type="application/json"
            )
        return body

    @staticmethod
    def _control_error(status: int, message: str) -> web.Response:
        return web.json_response({"ok": False, "error": message}, status=status)

    async def _control_deliver(self, request: web.Request, kind: str) -> web.Response:
        body = await self._control_body(request)
        try:
            if kind == "command":
                result = await self.send_command(
                    user=str(body["user"]),
                    channel=str(body["channel"]),
                    text=str(body.get("text", "")),
                    command=str(body.get("command", "/agent")),
                )
            elif kind == "click":
                value, as_seen = body.get("value"), body.get("as_seen")
                if as_seen is not None and not isinstance(as_seen, dict):
                    raise ValueError("as_seen must be a message object")
                result = await self.click(
                    user=str(body["user"]),
                    channel=str(body["channel"]),
                    ts=str(body["ts"]),
                    action_id=str(body["action_id"]),
                    value=None if value is None else str(value),
                    as_seen=as_seen,
                )
            else:
                values = body.get("values") or {}
                if not isinstance(values, dict):
                    raise ValueError("values must be an object {block_id: {action_id: value}}")
                result = await self.submit_view(user=str(body["user"]), view_id=str(body["view_id"]), values=values)
        except KeyError as exc:
            return self._control_error(400, f"missing field {exc.args[0]!r}")
        except ValueError as exc:
            return self._control_error(400, str(exc))
        except RuntimeError as exc:
            return self._control_error(409, str(exc))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._control_error(502, f"delivery to the bot failed: {exc!r}")
        return web.json_response(asdict(result))

    async def _handle_control_command(self, request: web.Request) -> web.Response:
        return await self._control_deliver(request, "command")

    async def _handle_control_click(self, request: web.Request) -> web.Response:
        return await self._control_deliver(request, "click")

    async def _handle_control_submit_view(self, request: web.Request) -> web.Response:
        return await self._control_deliver(request, "submit_view")

    async def _handle_control_close_view(self, request: web.Request) -> web.Response:
        body = await self._control_body(request)
        try:
            result = await self.close_view(user=str(body["user"]), view_id=str(body["view_id"]))
        except KeyError as exc:
            return self._control_error(400, f"missing field {exc.args[0]!r}")
        except ValueError as exc:
            return self._control_error(400, str(exc))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._control_error(502, f"delivery to the bot failed: {exc!r}")
        return web.json_response({"ok": True, "delivered": None if result is None else asdict(result)})

    async def _handle_control_message(self, request: web.Request) -> web.Response:
        body = await self._control_body(request)
        thread_ts = body.get("thread_ts")
        try:
            message = self.post_user_message(
                user=str(body["user"]),
                channel=str(body["channel"]),
                text=str(body.get("text", "")),
                thread_ts=None if thread_ts in (None, "") else str(thread_ts),
            )
        except KeyError as exc:
            return self._control_error(400, f"missing field {exc.args[0]!r}")
        except ValueError as exc:
            return self._control_error(400, str(exc))
        return web.json_response({"ok": True, "message": message})

    async def _handle_control_calls(self, request: web.Request) -> web.Response:
        method = request.query.get("method") or None
        return web.json_response({"ok": True, "calls": [asdict(c) for c in self.calls(method)]})

    async def _handle_control_state(self, request: web.Request) -> web.Response:
        """The whole workspace as JSON. With ``?since=<version>`` (and the ``instance`` it came from) this is a long
        poll: it answers when the version moves past ``since``, or after ``wait`` seconds (default 25)."""
        self._remember_base(request)
        since_raw = request.query.get("since")
        if since_raw is not None:
            try:
                since = int(since_raw)
                wait = float(request.query.get("wait", "25"))
                if not math.isfinite(wait):
                    raise ValueError(wait)
                wait = min(max(wait, 0.0), MAX_POLL_WAIT)
            except ValueError:
                return self._control_error(400, "since must be an integer and wait a number of seconds")
            instance = request.query.get("instance") or self._instance
            if instance == self._instance and since >= 0:
                await self._wait_past(since, wait)
        return web.json_response(self._state(), headers={"Cache-Control": "no-store"})

    async def _wait_past(self, version: int, wait: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while self._version <= version and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            event = self._change_event(loop)
            try:
                async with asyncio.timeout(remaining):
                    await event.wait()
            except TimeoutError:
                return

    # ------------------------------------------------------------------------------------------- the web page

    @web.middleware
    async def _same_origin_control(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        """Control POSTs from a browser must come from the page itself: another site open in the same browser
        must not be able to type commands or click cards (a simple cross-site POST carries an ``Origin``).
        Served on loopback, only loopback host names are answered, so DNS rebinding cannot reach it either."""
        if self._loopback_only and _host_name(request.host) not in _LOOPBACK_NAMES:
            return self._control_error(403, "this local Slack answers only on 127.0.0.1 / localhost")
        if request.method == "POST" and request.path.startswith("/_control/"):
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"{request.scheme}://{request.host}":
                return self._control_error(403, "cross-origin control requests are not allowed")
            if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
                return self._control_error(403, "cross-site control requests are not allowed")
        response = await handler(request)
        return cast(web.StreamResponse, response)

    async def _handle_page(self, request: web.Request) -> web.StreamResponse:
        self._remember_base(request)
        return self._static_file("index.html")

    async def _handle_static(self, request: web.Request) -> web.StreamResponse:
        return self._static_file(request.match_info["name"])

    async def _handle_favicon(self, request: web.Request) -> web.StreamResponse:
        return self._static_file("favicon.svg")

    @staticmethod
    def _static_file(name: str) -> web.StreamResponse:
        match = _STATIC_NAME.match(name)
        path = STATIC_DIR / name
        if match is None or not path.is_file():
            return web.Response(status=404, text="not found")
        headers = {
            "Content-Type": f"{_CONTENT_TYPES[match.group(1)]}; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        }
        if name.endswith(".html"):
            headers["Content-Security-Policy"] = _PAGE_CSP
            headers["Referrer-Policy"] = "no-referrer"
        return web.Response(body=path.read_bytes(), headers=headers)

    def _state(self) -> dict[str, Any]:
        return {
            "ok": True,
            "version": self._version,
            "instance": self._instance,
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN, "name": TEAM_NAME},
            "bot": {"user_id": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID, "name": BOT_NAME},
            "events_url": self.events_url,
            "users": [asdict(u) for u in self._users.values()],
            "channels": [asdict(c) for c in self._channels.values()],
            "usergroups": copy.deepcopy(self._usergroups),
            "messages": {cid: self.messages(cid) for cid in self._messages},
            "ephemerals": self.ephemerals(),
            "views": self.open_views(),
        }

    async def _handle_control_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _handle_control_fail(self, request: web.Request) -> web.Response:
        body = await self._control_body(request)
        try:
            self.fail(
                method=str(body["method"]),
                status=int(body.get("status", 429)),
                error=str(body.get("error", "ratelimited")),
                count=int(body.get("count", 1)),
                retry_after=int(body.get("retry_after", 1)),
            )
        except KeyError as exc:
            return self._control_error(400, f"missing field {exc.args[0]!r}")
        except (TypeError, ValueError) as exc:
            return self._control_error(400, str(exc))
        return web.json_response({"ok": True})
