"""What a program may send the Approvals API: the request models (pydantic) that check a body and that the OpenAPI
document is made of (bot/api/openapi.py), checked before anything is stored. Pure.

`ask_body(raw)` turns the body of `POST /api/v1/approvals` (an `Ask`) into a `CheckedAsk`, or raises `ApiError`
naming the field that is wrong, in the project's words (`Must`: what a field must be; pydantic's own messages never
reach a program): malformed JSON, unknown fields, wrong types, a schema that is not a JSON schema, arguments that
fail the schema, a URL that is not https. A refusal changes nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, get_args
from urllib.parse import urlsplit

from agent_approvals.artifacts import MAX_ARTIFACTS, ArtifactError, normalised_all
from agent_approvals.schemas import SchemaRefused, depth_of, problem
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from bot.api.canonical import canonical_digest, inexact_integer
from bot.api.hosts import client_host, private_host
from bot.core.sensitive import shown_name

MAX_BODY = 256 * 1024
MAX_TITLE = 150
MAX_TEXT = 40_000
MAX_ARGUMENTS = 30_000  # the arguments as canonical JSON
MAX_SCHEMA = 30_000
MAX_URL = 2000
MAX_WHY = 1000  # the agent's stated reason (`why`)
MAX_AGENT = 80
MAX_WAIT = 60
MAX_JSON_DEPTH = 64  # objects and arrays within each other in a body
MAX_WORKFLOW_ID = 255
MAX_ALLOWED_BY = 200
MAX_RECEIPT = 8192  # characters: a longer one is none of ours
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
CLIENT_HEADER = "X-Agent-Approvals-Client"  # name/version of the client: python, typescript, mcp, claude-code
CLIENT = re.compile(r"^[a-z][a-z0-9-]{0,31}/[A-Za-z0-9.+-]{1,32}$")
CLIENT_WAYS = {"mcp": "mcp", "claude-code": "claude_code"}  # the clients that are ways in of their own (metrics)
TOOL_NAME = r"^[A-Za-z0-9_.:/-]{1,64}$"
USER_ID = r"[UW][A-Z0-9]{2,23}"
EMAIL = r"[^@\s<>]{1,64}@[^@\s<>]{1,253}"  # a requester named by email: the bot asks Slack who it is
CHANNEL_ID = r"^[CGD][A-Z0-9]{2,23}$"
APPROVAL_ID = re.compile(r"^a-[a-z0-9]{20,40}$")  # ids the API makes (`bot.api.service.new_approval_id`)
PROGRAM_RUN = r"^[A-Za-z0-9_.:-]{1,128}$"  # a program's own run or session id (`run`)
ENGINE = r"^[a-z][a-z0-9_-]{0,19}$"
USE_TOKEN = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
NOT_BLANK = r"\S"  # (searched: somewhere in the text)
MAX_NOTIFY = 20
NOTIFY = r"^email:[^@\s<>,;\"()]{1,64}@[^@\s<>,;\"()]{1,253}$"  # a person told the decision by e-mail (`notify`)

Kind = Literal["tool", "message", "code"]
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
class Must:
    """What a field must be, in the words a refusal says (`<field> must be <words>`): metadata of a model's field."""

    words: str


# checks a field's type and bounds cannot say (raised as `ApiError`, naming the field themselves) ----------------------
def _url(value: str, field: str, *, allow_http: bool, allow_private: bool) -> str:
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


def _https(field: str) -> AfterValidator:
    """An https URL, anywhere (a page a person opens: private addresses too)."""
    return AfterValidator(lambda value: _url(value, field, allow_http=False, allow_private=True))


def _arguments(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, ensure_ascii=False)) > MAX_ARGUMENTS:
        raise bad("tool.arguments", f"tool.arguments is larger than {MAX_ARGUMENTS} characters of JSON")
    inexact = inexact_integer(value, "tool.arguments")
    if inexact:
        raise bad(inexact, f"{inexact} is an integer beyond ±(2^53-1), which JSON numbers do not carry exactly"
                  " (RFC 8785, I-JSON): send it as a string")
    return value


def _schema(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > MAX_SCHEMA:
        raise bad("tool.schema", f"tool.schema is larger than {MAX_SCHEMA} characters of JSON")
    return value


# the request models --------------------------------------------------------------------------------------------------
REQUESTER = ("the Slack user the program acts for: their user id (U…), or their email, which the bot asks Slack"
             " about (users.lookupByEmail; nobody has it: 400)")
NON_EMPTY = Must("a non-empty string")
Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE, pattern=NOT_BLANK, description="the card's task"),
                  NON_EMPTY]
Channel = Annotated[str, Field(pattern=CHANNEL_ID), Must("a Slack channel id (C…)")]
Requester = Annotated[str, Field(pattern=f"^(?:{USER_ID}|{EMAIL})$", description=REQUESTER),
                      Must("a Slack user id (U… or W…) or their email")]
Agent = Annotated[str, Field(min_length=1, max_length=MAX_AGENT, pattern=NOT_BLANK), NON_EMPTY]
ToolName = Annotated[str, Field(pattern=TOOL_NAME), Must("1 to 64 letters, digits or _ . : / -")]
Arguments = Annotated[dict[str, Any], AfterValidator(_arguments), Must("a JSON object")]
Token = Annotated[str, Field(pattern=USE_TOKEN.pattern), Must("8 to 128 letters, digits or _ . : -")]
Notify = Annotated[list[Annotated[str, Field(pattern=NOTIFY)]], Field(
    max_length=MAX_NOTIFY, description="who is told the decision by e-mail once it is made, on any surface (with the"
    " e-mail surface, SMTP_URL): people as approvers name them, `email:<address>`; deciding stays with the approvers"),
    Must(f"a list of at most {MAX_NOTIFY} people, each email:<address>")]


class Body(BaseModel):
    """A request body: exactly its fields (an unknown one is refused), each of exactly its JSON type."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ToolCall(Body):
    """The tool call an ask is about."""

    name: ToolName
    arguments: Annotated[Arguments, Field(
        description="integers within ±(2^53-1) only (I-JSON, RFC 8785): send larger ones, such as 64-bit ids, as"
                    " strings (else 400 naming the field)")]
    schema_: Annotated[dict[str, Any] | None, Field(alias="schema", description="the tool's JSON schema of its"
                       " arguments"), AfterValidator(lambda v: None if v is None else _schema(v)),
                       Must("a JSON schema (an object)")] = None
    editable: Annotated[bool, Field(description="false: the program runs only this call as made; no edit is"
                        " offered"), Must("true or false")] = True


class Workflow(Body):
    """The durable workflow that asks (agent_approvals.temporal, .dbos): shown on the card, and read by the policies
    as `context.workflow` {engine, type, id}."""

    engine: Annotated[str, Field(pattern=ENGINE, description="temporal, dbos"),
                      Must("1 to 20 lowercase letters, digits, _ or - (temporal)")]
    id: Annotated[str, Field(min_length=1, max_length=MAX_WORKFLOW_ID, pattern=NOT_BLANK), NON_EMPTY]
    type: Agent | None = None
    namespace: Agent | None = None
    url: Annotated[str | None, Field(max_length=MAX_URL, description="https: the engine's page of it"),
                   AfterValidator(lambda v: None if v is None else _url(v, "workflow.url", allow_http=False,
                                                                         allow_private=True)),
                   Must("an https:// URL")] = None


class Ask(Body):
    """The body of `POST /api/v1/approvals`. Validated with the context `{"allow_private_callbacks": bool}`."""

    kind: Annotated[Kind, Must("one of tool, message, code")]
    title: Title
    tool: Annotated[ToolCall | None, Must("an object: {name, arguments, schema, editable}")] = None
    text: Annotated[str | None, Field(min_length=1, max_length=MAX_TEXT, pattern=NOT_BLANK,
                                      description="kind message or code"), NON_EMPTY] = None
    channel: Annotated[Channel | None, Field(description="the origin channel (default: the key's first)")] = None
    requester: Requester | None = None
    timeout: Annotated[int | None, Field(ge=1, le=7 * 86400, description="seconds; never longer than the channel"
                                         " allows"), Must("a whole number of seconds from 1 to 604800")] = None
    context_url: Annotated[str | None, Field(max_length=MAX_URL), _https("context_url"),
                           Must(f"an https:// URL of at most {MAX_URL} characters")] = None
    callback_url: Annotated[str | None, Field(max_length=MAX_URL, description="https; the decision is POSTed here"),
                            Must(f"an https:// URL of at most {MAX_URL} characters")] = None
    agent: Annotated[Agent | None, Field(description="which agent asks (shown on the card)")] = None
    why: Annotated[str | None, Field(
        max_length=MAX_WHY, description="the agent's own reason for the call, as it states it: shown to the reviewer"
                                        " as its claim (\"The agent says: …\"), never as a fact"),
        Must(f"a string of at most {MAX_WHY} characters")] = None
    may_have_run: Annotated[bool, Field(
        description="this call was approved before and its program died while it ran: the card says so, and only"
                    " a person may approve it (no rule)"), Must("true or false, for a tool call")] = False
    run: Annotated[str | None, Field(
        pattern=PROGRAM_RUN,
        description="the program's own run or session id: a “This run only” rule covers the asks with the same run"
                    " (of this key, in this channel); without it, every program of the key that sends none shares"
                    " one run, where “This run only” is refused"),
        Must("1 to 128 letters, digits or _ . : - (the program's own run or session id)")] = None
    workflow: Annotated[Workflow | None, Must("an object: {engine, id, type, namespace, url}")] = None
    notify: Notify | None = None
    artifacts: Annotated[list[dict[str, Any]] | None, Field(
        max_length=MAX_ARTIFACTS,
        description="the change itself, as it will happen (`agent_approvals.artifacts`): file changes ({kind: file,"
                    " path, before, after} or {kind: file, path, diff, before_sha256}), commands ({kind: command,"
                    " command, cwd}), messages ({kind: message, to, subject, body}), queries ({kind: query, sql,"
                    " database}); the plane keeps each one's SHA-256, which the receipt binds"),
        Must(f"a list of at most {MAX_ARTIFACTS} artefacts, each an object with its kind")] = None

    @field_validator("artifacts")
    @classmethod
    def _artifacts(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        """Each artefact whole and of its kind (`agent_approvals.artifacts.normalised`): else 400 naming the field."""
        if value is None:
            return None
        try:
            return normalised_all(value)
        except ArtifactError as error:
            raise bad(error.field, f"{error.field} {error.message}") from None

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, value: str | None, info: ValidationInfo) -> str | None:
        """https, never to this machine or a private network (unless the worker allows it: dev mode, tests)."""
        private = bool((info.context or {}).get("allow_private_callbacks"))
        return None if value is None else _url(value, "callback_url", allow_http=private, allow_private=private)

    @model_validator(mode="after")
    def _kind(self) -> Ask:
        """A tool call has `tool` and no `text`; a message or code has `text` and no `tool`."""
        if self.kind == "tool":
            if self.text is not None:
                raise bad("text", "a tool call has no text: send tool.name and tool.arguments")
            if self.tool is None:
                raise bad("tool", "tool must be an object: {name, arguments, schema, editable}")
        else:
            if self.tool is not None:
                raise bad("tool", f"a {self.kind} approval has no tool: send text")
            if self.text is None:
                raise bad("text", "text must be a non-empty string")
            if "may_have_run" in self.model_fields_set:
                raise bad("may_have_run", "may_have_run is true or false, for a tool call")
        return self


class AllowedTool(Body):
    """The call a program let through."""

    name: ToolName
    arguments: Arguments


class Allowed(Body):
    """The body of `POST /api/v1/audit/allowed`."""

    tool: Annotated[AllowedTool, Must("an object: {name, arguments}")]
    allowed_by: Annotated[str, Field(min_length=1, max_length=MAX_ALLOWED_BY, pattern=NOT_BLANK,
                                     description="what in the program's allow-list let the call through"
                                                 " (`--allow list_*`)"), NON_EMPTY]
    channel: Annotated[Channel | None, Field(description="the channel it is recorded about (default: the key's"
                                             " first)")] = None
    requester: Requester | None = None
    agent: Annotated[Agent | None, Field(description="which agent made the call")] = None


class Use(Body):
    """The body of a program's use of its approval (with its key)."""

    token: Annotated[Token, Field(description="the using process's own id")]


class ReceiptUse(Body):
    """The body of an executor's use of an approval's receipt (without a key)."""

    receipt: Annotated[str, Field(min_length=1, max_length=MAX_RECEIPT, description="the approval's receipt"),
                       Must("the approval's receipt (a compact JWS)")]
    token: Annotated[Token, Field(description="the executor's own id for this call")]


# from a body to a checked value ---------------------------------------------------------------------------------------
M = TypeVar("M", bound=BaseModel)


def checked(model: type[M], data: Any, *, context: dict[str, Any] | None = None,
            whole: tuple[str, str] | None = None) -> M:
    """`data` (parsed JSON) as `model`, or `ApiError` 400 naming the first field at fault in the project's words (an
    unknown field first). `whole`: (field, message) said instead when the body's shape is wrong (not an object,
    a field missing or unknown)."""
    try:
        return model.model_validate(data, strict=True, context=context)
    except ValidationError as exc:
        errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
        first = errors[0]
        if whole is not None and (first["type"] in ("extra_forbidden", "missing") or not first["loc"]):
            raise bad(*whole) from None
        raise _refusal(model, first) from None


def _refusal(model: type[BaseModel], error: Any) -> ApiError:
    """One of pydantic's errors, said as the project says it."""
    loc = [part for part in error["loc"] if isinstance(part, str)]
    field = ".".join(loc)
    if not loc:
        return bad("", "the body must be a JSON object")
    if error["type"] == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        known = ", ".join(sorted(info.alias or name for name, info in owner.model_fields.items()))
        name = field if len(loc) > 1 else repr(field)
        return bad(field, f"unknown field {name} (known: {known})")
    if error["type"] == "string_too_long":
        return bad(field, f"{field} is longer than {error['ctx']['max_length']} characters")
    must = next((m for m in field_metadata(_field(_model_at(model, loc[:-1]), loc[-1])) if isinstance(m, Must)), None)
    return bad(field, f"{field} must be {must.words}" if must else f"{field} is not valid: {error['msg']}")


def _model_at(model: type[BaseModel], loc: list[str]) -> type[BaseModel]:
    """The model of the object at `loc` (a path of field names) in `model`."""
    for name in loc:
        model = next(t for t in _types(_field(model, name).annotation) if isinstance(t, type)
                     and issubclass(t, BaseModel))
    return model


def _field(model: type[BaseModel], name: str) -> FieldInfo:
    return next(info for key, info in model.model_fields.items() if name in (key, info.alias))


def field_metadata(info: FieldInfo) -> list[Any]:
    """A field's metadata, with that of the types it is made of (`Channel | None`: Channel's)."""
    return [*info.metadata, *(m for t in _types(info.annotation) for m in getattr(t, "__metadata__", ()))]


def _types(annotation: Any) -> list[Any]:
    """`annotation` and every type within it (the arms of a union, the type an `Annotated` adds to)."""
    return [annotation, *(inner for arg in get_args(annotation) for inner in _types(arg))]


@dataclass(frozen=True, slots=True)
class CheckedAsk:
    """A checked request for an approval (an `Ask`, as the service takes it)."""

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
    why: str = ""  # the agent's stated reason: its claim
    callback_url: str = ""
    agent: str = ""
    may_have_run: bool = False  # this call was approved before and its program died while it ran
    run: str = ""  # the program's own run or session id: "This run only" rules cover the asks with the same one
    workflow: dict[str, str] | None = None  # a durable workflow that asks: engine, id, type, namespace, url
    artifacts: tuple[dict[str, Any], ...] = ()  # the change itself, normalised (`agent_approvals.artifacts`)
    notify: tuple[str, ...] = ()  # told the decision by e-mail: `email:<address>` (lowercased, once each)
    body_digest: str = ""  # of the body's canonical JSON but its `run` (`canonical_digest`): what an Idempotency-Key
    # is bound to


@dataclass(frozen=True, slots=True)
class CheckedAllowed:
    """A checked record of a tool call the program let through by its own allow-list (nobody was asked)."""

    tool_name: str
    arguments: dict[str, Any]
    allowed_by: str  # what in the program's allow-list let it through, e.g. "--allow list_*"
    channel: str = ""
    requester: str = ""
    agent: str = ""
    body_digest: str = ""  # as an ask's


def ask_body(raw: bytes, *, allow_private_callbacks: bool = False) -> CheckedAsk:
    """The checked body of `POST /api/v1/approvals` (see the module docstring)."""
    data = parse_json(raw)
    body = checked(Ask, data, context={"allow_private_callbacks": allow_private_callbacks})
    tool = body.tool
    workflow = body.workflow.model_dump(exclude_none=True) if body.workflow is not None else None
    # what the ask is, without who runs it: a resumed program (a new process, its own new run id) retrying the
    # same Idempotency-Key is the same ask, and finds the same approval
    return CheckedAsk(kind=body.kind, title=body.title, text=body.text or "", tool_name=tool.name if tool else "",
               arguments=tool.arguments if tool else None, schema=tool.schema_ if tool else None,
               editable=tool.editable if tool else True, channel=body.channel or "", requester=body.requester or "",
               timeout=body.timeout, context_url=body.context_url or "", callback_url=body.callback_url or "",
               agent=body.agent or "", may_have_run=body.may_have_run, run=body.run or "", workflow=workflow,
               artifacts=tuple(body.artifacts or ()), why=body.why or "",
               notify=tuple(dict.fromkeys(person.lower() for person in body.notify or ())),
               body_digest=canonical_digest({k: v for k, v in data.items() if k != "run"}))


def allowed_body(raw: bytes) -> CheckedAllowed:
    """The checked body of `POST /api/v1/audit/allowed`: `tool {name, arguments}`, `allowed_by`, and optional
    `channel`, `requester`, `agent` (as an ask's)."""
    data = parse_json(raw)
    body = checked(Allowed, data)
    return CheckedAllowed(tool_name=body.tool.name, arguments=body.tool.arguments, allowed_by=body.allowed_by,
                   channel=body.channel or "", requester=body.requester or "", agent=body.agent or "",
                   body_digest=canonical_digest(data))


def use_token(data: Any) -> str:
    """The body of `POST /api/v1/approvals/{id}/use`: `{"token": ...}`, the using process's own id (its retry
    after a lost answer, with the same token, is the same use)."""
    return checked(Use, data, whole=("token", "send {\"token\": <8 to 128 letters, digits or _ . : ->}")).token


def receipt_use(data: Any) -> ReceiptUse:
    """The body of an executor's use: {"receipt": <jws>, "token": <its own id for this call>} (400 otherwise)."""
    return checked(ReceiptUse, data, whole=("", 'send {"receipt": <the approval\'s receipt>, "token": <8 to 128'
                                                    " letters, digits or _ . : ->}"))


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


def check_arguments(ask: CheckedAsk) -> None:
    """Raise `ApiError` (400 naming `tool.schema` or `tool.arguments`) unless the ask's schema may be used
    (`agent_approvals.schemas`: nothing fetched or read, limits on size, depth and `$ref` expansion, RE2 for
    patterns) and its arguments pass it within the check's time limit. CPU-bound: an event loop runs it in a
    thread (`asyncio.to_thread`)."""
    if ask.schema is None:
        return
    try:
        found = problem(ask.arguments, ask.schema, name=shown_name)  # (never a value: a name holding one as shown)
    except SchemaRefused as exc:
        raise bad("tool.schema", f"tool.schema is not used: {exc}") from None
    if found:
        raise bad("tool.arguments", f"tool.arguments fail tool.schema: {found}")


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


def way_in(client: str, *, in_process: bool = False) -> str:
    """The way in an API ask is counted under (`hitl_asks_total{way}`), from the `X-Agent-Approvals-Client` header
    (`name/version`): `mcp` (the MCP gateway), `claude_code` (Claude Code's hooks; always for the HTTP hook's own
    requests, `in_process`), else `api`. A claim is a label, never a right: a key can name only these program ways
    (never `run`, and `workflow` comes from the body); a header that is not `name/version` is a 400."""
    if client and not CLIENT.fullmatch(client):
        raise ApiError(400, "invalid_request", f"{CLIENT_HEADER} must be name/version (e.g. python/0.1.0)",
                       field=CLIENT_HEADER)
    if in_process:
        return "claude_code"
    return CLIENT_WAYS.get(client.partition("/")[0], "api")
