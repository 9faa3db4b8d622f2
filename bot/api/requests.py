"""What a program may send the Approvals API, checked before anything is stored. Pure.

`ask_body(raw)` turns the body of `POST /api/v1/approvals` into an `Ask`, or raises `ApiError` naming
the field that is wrong: malformed JSON, unknown fields, wrong types, a schema that is not a JSON
schema, arguments that fail the schema, a URL that is not https. A refusal changes nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import socket
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import rfc8785
from agent_approvals.approver import canonical_json
from agent_approvals.schemas import SchemaRefused, depth_of, problem
from yarl import URL

MAX_BODY = 256 * 1024
MAX_TITLE = 150
MAX_TEXT = 40_000
MAX_ARGUMENTS = 30_000  # the arguments as canonical JSON
MAX_SCHEMA = 30_000
MAX_URL = 2000
MAX_AGENT = 80
MAX_WAIT = 60
MAX_JSON_DEPTH = 64  # objects and arrays within each other in a body
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
TOOL_NAME = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,23}$")
EMAIL = re.compile(r"^[^@\s<>]{1,64}@[^@\s<>]{1,253}$")  # a requester named by email: the bot asks Slack who it is
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,23}$")
APPROVAL_ID = re.compile(r"^a-[a-z0-9]{20,40}$")  # ids the API makes (`bot.api.service.new_approval_id`)

Kind = Literal["tool", "message", "code"]
FIELDS = frozenset({"kind", "title", "tool", "text", "channel", "requester", "timeout", "context_url",
                    "callback_url", "agent", "may_have_run", "run", "workflow"})
PROGRAM_RUN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")  # a program's own run or session id (`run`)
TOOL_FIELDS = frozenset({"name", "arguments", "schema", "editable"})
WORKFLOW_FIELDS = frozenset({"engine", "id", "type", "namespace", "url"})
ENGINE = re.compile(r"^[a-z][a-z0-9_-]{0,19}$")
MAX_WORKFLOW_ID = 255


class ApiError(Exception):
    """A request the API refuses: its HTTP status, a machine-readable code, the field at fault."""

    def __init__(self, status: int, code: str, message: str, *, field: str = "", retry_after: float = 0) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return {"error": error}


def bad(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_request", message, field=field)


@dataclass(frozen=True, slots=True)
class Ask:
    """A checked request for an approval."""

    kind: Kind
    title: str
    text: str = ""
    tool_name: str = ""
    arguments: Any = None  # the tool call's arguments (a JSON object)
    schema: dict[str, Any] | None = None
    editable: bool = True  # False: the program runs only the call as asked (Revise offers no edit)
    channel: str = ""
    requester: str = ""
    timeout: int | None = None
    context_url: str = ""
    callback_url: str = ""
    agent: str = ""
    may_have_run: bool = False  # this call was approved before and its program died while it ran
    run: str = ""  # the program's own run or session id: "This run only" rules cover the asks with the same one
    workflow: dict[str, str] | None = None  # a durable workflow that asks: engine, id, type, namespace, url
    body_digest: str = ""  # of the body's canonical JSON but its `run` (`canonical_digest`): what an Idempotency-Key
    # is bound to


ALLOWED_FIELDS = frozenset({"tool", "allowed_by", "channel", "requester", "agent"})
MAX_ALLOWED_BY = 200


@dataclass(frozen=True, slots=True)
class Allowed:
    """A checked record of a tool call the program let through by its own allow-list (nobody was asked)."""

    tool_name: str
    arguments: dict[str, Any]
    allowed_by: str  # what in the program's allow-list let it through, e.g. "--allow list_*"
    channel: str = ""
    requester: str = ""
    agent: str = ""
    body_digest: str = ""  # as an ask's


def canonical_digest(data: Any) -> str:
    """sha256 (hex) of a body's RFC 8785 canonical JSON: the same for the same JSON in any key order or spacing
    (models reorder keys), so a retry with an Idempotency-Key is compared on what it means, not its bytes. A
    body RFC 8785 cannot encode (an integer beyond ±(2^53-1) in a schema) has sorted-key JSON instead."""
    try:
        canonical = rfc8785.dumps(data)
    except rfc8785.CanonicalizationError:
        canonical = b"json:" + canonical_json(data).encode("utf-8")
    return hashlib.sha256(canonical).hexdigest()


def allowed_body(raw: bytes) -> Allowed:
    """The checked body of `POST /api/v1/audit/allowed`: `tool {name, arguments}`, `allowed_by`, and optional
    `channel`, `requester`, `agent` (as an ask's)."""
    data = json_object(raw, known=ALLOWED_FIELDS)
    tool = data.get("tool")
    if not isinstance(tool, dict):
        raise bad("tool", "tool must be an object: {name, arguments}")
    if set(tool) - {"name", "arguments"}:
        extra = sorted(set(tool) - {"name", "arguments"})[0]
        raise bad(f"tool.{extra}", f"unknown field tool.{extra} (known: arguments, name)")
    if "arguments" not in tool:
        raise bad("tool.arguments", "tool.arguments must be a JSON object")
    found = _tool(tool)
    checked: dict[str, Any] = {"tool_name": found["tool_name"], "arguments": found["arguments"],
                               "allowed_by": _text(data, "allowed_by", most=MAX_ALLOWED_BY, required=True)}
    checked.update(_who(data))
    return Allowed(**checked, body_digest=canonical_digest(data))


USE_TOKEN = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")


def use_token(data: Any) -> str:
    """The body of `POST /api/v1/approvals/{id}/use`: `{"token": ...}`, the using process's own id (its retry
    after a lost answer, with the same token, is the same use)."""
    if not isinstance(data, dict) or set(data) != {"token"}:
        raise bad("token", "send {\"token\": <8 to 128 letters, digits or _ . : ->}")
    token = data["token"]
    if not isinstance(token, str) or not USE_TOKEN.fullmatch(token):
        raise bad("token", "token must be 8 to 128 letters, digits or _ . : -")
    return token


def json_object(raw: bytes, *, known: Collection[str]) -> dict[str, Any]:
    """A body that must be a JSON object of only the `known` fields (400 naming the first other one)."""
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise bad("", "the body must be a JSON object")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise bad(unknown[0], f"unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return data


def parse_json(raw: bytes) -> Any:
    """A body as JSON: UTF-8, nested at most MAX_JSON_DEPTH deep, numbers finite (no NaN, Infinity or 1e999)."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_not_a_number, parse_float=_finite)
    except UnicodeDecodeError:
        raise bad("", "the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise bad("", f"the body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise bad("", f"the body nests objects and arrays deeper than {MAX_JSON_DEPTH} levels") from None
    if depth_of(data) > MAX_JSON_DEPTH:
        raise bad("", f"the body nests objects and arrays deeper than {MAX_JSON_DEPTH} levels")
    return data


def _not_a_number(word: str) -> Any:
    raise bad("", f"the body is not JSON: {word} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise bad("", f"the body holds a number too large for a 64-bit float ({text[:40]})")
    return value


def ask_body(raw: bytes, *, allow_private_callbacks: bool = False) -> Ask:
    """The checked body of `POST /api/v1/approvals` (see the module docstring)."""
    data = json_object(raw, known=FIELDS)
    kind = data.get("kind")
    if kind not in ("tool", "message", "code"):
        raise bad("kind", "kind must be one of tool, message, code")
    title = _text(data, "title", most=MAX_TITLE, required=True)
    ask: dict[str, Any] = {"kind": kind, "title": title}
    if kind == "tool":
        if "text" in data:
            raise bad("text", "a tool call has no text: send tool.name and tool.arguments")
        ask.update(_tool(data.get("tool")))
    else:
        if "tool" in data:
            raise bad("tool", f"a {kind} approval has no tool: send text")
        ask["text"] = _text(data, "text", most=MAX_TEXT, required=True)
    ask.update(_who(data))
    if "timeout" in data:
        timeout = data["timeout"]
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 7 * 86400:
            raise bad("timeout", "timeout must be a whole number of seconds from 1 to 604800")
        ask["timeout"] = timeout
    if "context_url" in data:
        ask["context_url"] = _url(data["context_url"], "context_url", allow_http=False, allow_private=True)
    if "callback_url" in data:
        ask["callback_url"] = _url(
            data["callback_url"], "callback_url", allow_http=allow_private_callbacks,
            allow_private=allow_private_callbacks,
        )
    if "may_have_run" in data:
        if not isinstance(data["may_have_run"], bool) or kind != "tool":
            raise bad("may_have_run", "may_have_run is true or false, for a tool call")
        ask["may_have_run"] = data["may_have_run"]
    if "workflow" in data:
        ask["workflow"] = _workflow(data["workflow"])
    if "run" in data:
        if not isinstance(data["run"], str) or not PROGRAM_RUN.fullmatch(data["run"]):
            raise bad("run", "run must be 1 to 128 letters, digits or _ . : - (the program's own run or session id)")
        ask["run"] = data["run"]
    # what the ask is, without who runs it: a resumed program (a new process, its own new run id) retrying the
    # same Idempotency-Key is the same ask, and finds the same approval
    return Ask(**ask, body_digest=canonical_digest({k: v for k, v in data.items() if k != "run"}))


def _who(data: dict[str, Any]) -> dict[str, str]:
    """The optional `channel`, `requester` and `agent` of a body, checked."""
    found: dict[str, str] = {}
    for name, patterns, what in (("channel", (CHANNEL_ID,), "a Slack channel id (C…)"),
                                 ("requester", (USER_ID, EMAIL), "a Slack user id (U… or W…) or their email")):
        if name in data:
            value = data[name]
            if not isinstance(value, str) or not any(pattern.fullmatch(value) for pattern in patterns):
                raise bad(name, f"{name} must be {what}")
            found[name] = value
    if "agent" in data:
        found["agent"] = _text(data, "agent", most=MAX_AGENT, required=True)
    return found


def _text(data: dict[str, Any], name: str, *, most: int, required: bool, field: str = "") -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    field = field or name
    if not isinstance(value, str) or not value.strip():
        raise bad(field, f"{field} must be a non-empty string")
    if len(value) > most:
        raise bad(field, f"{field} is longer than {most} characters")
    return value


def _workflow(workflow: Any) -> dict[str, str]:
    """`workflow`: the durable workflow that asks (agent_approvals.temporal, .dbos), shown on the card (its `url`, an
    https link to the engine's own page of it) and given to the policies (`context.workflow`)."""
    if not isinstance(workflow, dict):
        raise bad("workflow", "workflow must be an object: {engine, id, type, namespace, url}")
    unknown = sorted(set(workflow) - WORKFLOW_FIELDS)
    if unknown:
        raise bad(f"workflow.{unknown[0]}",
                  f"unknown field workflow.{unknown[0]} (known: {', '.join(sorted(WORKFLOW_FIELDS))})")
    engine = workflow.get("engine")
    if not isinstance(engine, str) or not ENGINE.fullmatch(engine):
        raise bad("workflow.engine", "workflow.engine must be 1 to 20 lowercase letters, digits, _ or - (temporal)")
    found = {"engine": engine, "id": _text(workflow, "id", most=MAX_WORKFLOW_ID, required=True, field="workflow.id")}
    for name in ("type", "namespace"):
        if workflow.get(name) is not None:
            found[name] = _text(workflow, name, most=MAX_AGENT, required=True, field=f"workflow.{name}")
    if workflow.get("url") is not None:
        found["url"] = _url(workflow["url"], "workflow.url", allow_http=False, allow_private=True)
    return found


def _tool(tool: Any) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise bad("tool", "tool must be an object: {name, arguments, schema, editable}")
    unknown = sorted(set(tool) - TOOL_FIELDS)
    if unknown:
        raise bad(f"tool.{unknown[0]}", f"unknown field tool.{unknown[0]} (known: {', '.join(sorted(TOOL_FIELDS))})")
    name = tool.get("name")
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise bad("tool.name", "tool.name must be 1 to 64 letters, digits or _ . : / -")
    arguments = tool.get("arguments")
    if not isinstance(arguments, dict):
        raise bad("tool.arguments", "tool.arguments must be a JSON object")
    if len(json.dumps(arguments, ensure_ascii=False)) > MAX_ARGUMENTS:
        raise bad("tool.arguments", f"tool.arguments is larger than {MAX_ARGUMENTS} characters of JSON")
    inexact = inexact_integer(arguments, "tool.arguments")
    if inexact:
        raise bad(inexact, f"{inexact} is an integer beyond ±(2^53-1), which JSON numbers do not carry exactly"
                  " (RFC 8785, I-JSON): send it as a string")
    found: dict[str, Any] = {"tool_name": name, "arguments": arguments}
    if "editable" in tool:
        if not isinstance(tool["editable"], bool):
            raise bad("tool.editable", "tool.editable must be true or false")
        found["editable"] = tool["editable"]
    if "schema" in tool:
        schema = tool["schema"]
        if not isinstance(schema, dict):
            raise bad("tool.schema", "tool.schema must be a JSON schema (an object)")
        if len(json.dumps(schema)) > MAX_SCHEMA:
            raise bad("tool.schema", f"tool.schema is larger than {MAX_SCHEMA} characters of JSON")
        found["schema"] = schema
    return found


MAX_EXACT_INTEGER = 2**53 - 1  # I-JSON (RFC 7493): larger integers are not exact in most JSON readers


def inexact_integer(value: Any, path: str) -> str:
    """The path of the first integer in `value` beyond ±(2^53-1) (`tool.arguments.ids[1]`), or ''. Such a number
    has no RFC 8785 form, so no receipt could be signed for it, and most readers (JavaScript's) change it."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return path if abs(value) > MAX_EXACT_INTEGER else ""
    if isinstance(value, dict):
        items: Any = ((f"{path}.{name}", item) for name, item in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    else:
        return ""
    for where, item in items:
        found = inexact_integer(item, where)
        if found:
            return found[:200]
    return ""


def check_arguments(ask: Ask) -> None:
    """Raise `ApiError` (400 naming `tool.schema` or `tool.arguments`) unless the ask's schema may be used
    (`agent_approvals.schemas`: nothing fetched or read, limits on size, depth and `$ref` expansion, RE2 for
    patterns) and its arguments pass it within the check's time limit. CPU-bound: an event loop runs it in a
    thread (`asyncio.to_thread`)."""
    if ask.schema is None:
        return
    try:
        found = problem(ask.arguments, ask.schema)
    except SchemaRefused as exc:
        raise bad("tool.schema", f"tool.schema is not used: {exc}") from None
    if found:
        raise bad("tool.arguments", f"tool.arguments fail tool.schema: {found}")


def _url(value: Any, field: str, *, allow_http: bool, allow_private: bool) -> str:
    if not isinstance(value, str) or len(value) > MAX_URL:
        raise bad(field, f"{field} must be a URL of at most {MAX_URL} characters")
    parts = urlsplit(value)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise bad(field, f"{field} must be an https:// URL")
    if parts.username or parts.password:
        raise bad(field, f"{field} must not carry a user or password")
    try:
        host = client_host(value)
    except ValueError:
        raise bad(field, f"{field} has a host that cannot be a name (IDNA)") from None
    if not allow_private and private_host(host):
        raise bad(field, f"{field} must not point at a loopback, private or link-local address")
    return value


def client_host(url: str | URL) -> str:
    """The host of `url` as the HTTP client (aiohttp, through yarl) connects to it: normalised by IDNA / UTS #46,
    so `１２７．０．０．１` and `127。0。0。1` are `127.0.0.1`. Checks look at this host, never at the text as sent;
    ValueError when it cannot be a host."""
    found = url if isinstance(url, URL) else URL(url)
    return found.host or ""


LEGACY_IPV4 = re.compile(r"^[0-9a-fx.]{1,40}$")  # 127.1, 0x7f.1, 2130706433: inet_aton's shorthand spellings


def private_host(host: str) -> bool:
    """Whether `host` (normalised: `client_host`) names this machine or a private network: a loopback, private,
    link-local or reserved address (in any spelling the resolver reads as one, `127.1` or `2130706433` too), or
    `localhost`. (Names are checked again, by what they resolve to, when a webhook is sent.)"""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not LEGACY_IPV4.fullmatch(host):
            return False
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return False
    return not address.is_global


def wait_seconds(raw: str | None) -> float:
    """`?wait=S` of a long-poll: 0 to 60 seconds."""
    if raw is None or raw == "":
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise bad("wait", "wait must be a number of seconds from 0 to 60") from None
    if not 0 <= value <= MAX_WAIT:
        raise bad("wait", "wait must be a number of seconds from 0 to 60")
    return value
