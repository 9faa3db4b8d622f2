"""The Approvals API described as an OpenAPI 3.1 document, served at `GET /api/v1/openapi.json`: made from the
request models that check every body (bot/api/requests.py) and the answer models (bot/api/answers.py), never
written beside them. Each route is written once here (`ROUTES`: its method, path and operation, with the answers it
can give: every way in that needs a key may answer 401, 429 and 503, every body 400, 408 and 413, `refusals`): the
server mounts these (bot/api/routes.py `mount`, each with the handler its `operationId` names, refusing to start when
a route has no handler or a handler no route) and the document's paths are made of them, so the two cannot differ.

The tests validate it (`openapi-spec-validator`), check every route the server mounts against it, every answer they
get against its response schemas, and every refusal the routes can give against its answer codes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from bot.api import answers, authzen
from bot.api.requests import CLIENT, CLIENT_HEADER, IDEMPOTENCY_KEY, MAX_WAIT, Allowed, Ask, ReceiptUse, Use

SCHEMAS = "#/components/schemas/{model}"
REQUESTS: tuple[type[BaseModel], ...] = (Ask, Allowed, Use, ReceiptUse)
AUTHZEN: tuple[type[BaseModel], ...] = (authzen.Evaluation, authzen.Evaluations)  # unknown members ignored
ANSWERS: tuple[type[BaseModel], ...] = (answers.Approval, answers.AllowedCall, answers.Key,
                                        answers.Jwks, answers.Error, answers.HookAnswer)

ERRORS = {
    400: "malformed JSON, an unknown field, a wrong value (the error names the field)",
    401: "a missing, wrong or revoked key; for an executor's use, a receipt that does not verify, has expired or"
    " is not this approval's (`invalid_receipt`)",
    403: "a channel outside the key's",
    404: "no such approval of this key",
    408: "the body was not received within 10 s",
    409: "an Idempotency-Key used before with another body (compared as RFC 8785 canonical JSON: key order does"
    " not matter); for a use: `used`, `not_approved`, `rule_revoked`, or `key_revoked` (the key that asked was"
    " revoked: its approvals and receipts run nothing more)",
    413: "a body over 256 KiB",
    423: "`frozen`: an admin froze the scope (`/agent freeze`, `python -m bot freeze`): an approved call in it may"
    " not be used (nor its receipt spent), nor a call recorded as allowed, until it is unfrozen; the message says"
    " \"frozen: …\"",
    429: "a limit (see Retry-After): `rate_limited` (the key's admission on this worker, 50 a second, checked"
    " before the body is read, or its per-minute limit; for a keyless receipt spend, 20 a second per address),"
    " `too_many_pending` (the key's max_pending)",
    502: "Slack refused the card (`slack_refused`): the approval was cancelled",
    503: "the approval store cannot be reached (see Retry-After)",
}
KEYED = (401, 429, 503)  # what every request with a key may be answered (bot/api/routes.py `_guarded`)
BODY = (400, 408, 413)  # what every request with a body may be answered (`_body`, `parse_json`, the models)


class _Schema(GenerateJsonSchema):
    """pydantic's JSON schema without the titles that only repeat a field's name."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _without_defaults(value: Any, *, empty_only: bool) -> Any:
    """`value` without its `default`s (`empty_only`: those that say "absent", None, "", [] or {})."""
    if isinstance(value, dict):
        return {k: _without_defaults(v, empty_only=empty_only) for k, v in value.items()
                if not (k == "default" and (not empty_only or v in (None, "", [], {})))}
    if isinstance(value, list):
        return [_without_defaults(v, empty_only=empty_only) for v in value]
    return value


def schemas() -> dict[str, Any]:
    """The components' schemas: the request models as they validate (their defaults said), the answer models as
    they are sent (an absent field is absent: no default)."""
    found: dict[str, Any] = {}
    for models, mode in ((REQUESTS, "validation"), (AUTHZEN, "validation"), (ANSWERS, "serialization")):
        _, made = models_json_schema([(model, mode) for model in models], ref_template=SCHEMAS,  # type: ignore[misc]
                                     schema_generator=_Schema)
        found.update(_without_defaults(made["$defs"], empty_only=mode == "validation"))
    found["Decision"] = DECISION
    return dict(sorted(found.items()))


def _ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS.format(model=name)}


def _json(schema: dict[str, Any] | str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema) if isinstance(schema, str) else schema}}}


def refusals(*codes: int) -> dict[str, Any]:
    """The error answers `codes`, each an `Error` (`components.responses`, written once)."""
    return {str(code): {"$ref": f"#/components/responses/{code}"} for code in sorted(set(codes))}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _idempotency(description: str) -> dict[str, Any]:
    return {"name": "Idempotency-Key", "in": "header", "required": False,
            "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern}, "description": description}


_CLIENT = {"name": CLIENT_HEADER, "in": "header", "required": False,
           "schema": {"type": "string", "pattern": CLIENT.pattern},
           "description": "the client's name/version (python/0.1.0, typescript/0.1.0, mcp/0.1.0, claude-code/0.1.0):"
                          " the metrics count asks by way in from it (mcp, claude-code: their own ways; others: api);"
                          " not name/version: 400"}

_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_WAIT: dict[str, Any] = {"name": "wait", "in": "query", "required": False,
                         "schema": {"type": "number", "minimum": 0, "maximum": MAX_WAIT}}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the Approvals API."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Agent Approvals API",
            "version": "1",
            "description": "Agents ask; only people decide, in Slack. There is no way to decide through this API.",
        },
        "components": {
            "securitySchemes": {"key": {"type": "http", "scheme": "bearer", "description": "aak_… keys"}},
            "schemas": schemas(),
            "responses": {str(code): _json("Error", text) for code, text in ERRORS.items()},
        },
        "security": [{"key": []}],
        "paths": paths(),
        "webhooks": {
            "decision": {
                "post": {
                    "summary": "The decision of an approval asked with a callback_url, POSTed there once decided",
                    "description": (
                        "Signed like Slack's requests: `X-Approvals-Signature: v1=<hex HMAC-SHA256 of"
                        " 'v1:<timestamp>:<body>' with the key's webhook secret>`, `X-Approvals-Timestamp` (Unix"
                        " seconds), `X-Approvals-Delivery` (the approval id: deliveries are at least once, so use"
                        " it to drop repeats); the route too: `X-Approvals-Route` (the callback URL's path and query"
                        " as sent) and `X-Approvals-Route-Signature: v2=<hex HMAC-SHA256 of 'v2:<timestamp>:<route>',"
                        " a newline, then the body>`. While a key's secret is rotated (`keys rotate --grace`), each"
                        " signature header carries both signatures, comma-separated: accept the delivery when one"
                        " verifies. Retried with backoff for at least 24 h until a 2xx answer; a 400 is not tried"
                        " again."
                    ),
                    "requestBody": {"content": {"application/json": {"schema": _ref("Approval")}}},
                    "responses": {"200": {"description": "received"}},
                }
            }
        },
    }


@dataclass(frozen=True)
class Route:
    """One route of the API: its method and path (what the server mounts: bot/api/routes.py serves each with the
    handler of its `operationId`) and its operation (what the document says of it, every answer it can give)."""

    method: str
    path: str
    operation: dict[str, Any]

    @property
    def operation_id(self) -> str:
        return str(self.operation["operationId"])


DECISION: dict[str, Any] = {
    "type": "object", "required": ["decision"],
    "description": "an AuthZEN decision (Authorization API 1.0 §5.5): true, or false with a `context` saying why"
                   " (`reason`, `reason_user`, `reason_admin`) and, where a person decides, the approval it opened"
                   " (`task` {id, status, status_endpoint}, `next_action`, `retry_after`, `wait`: provisional,"
                   " after the AuthZEN access-request profile's draft)",
    "properties": {"decision": {"type": "boolean"}, "context": {"type": "object"}},
}
METADATA: dict[str, Any] = {
    "type": "object", "required": ["policy_decision_point", "access_evaluation_endpoint"],
    "properties": {name: {"type": "string"} for name in (
        "policy_decision_point", "access_evaluation_endpoint", "access_evaluations_endpoint")},
}
AUTHZEN_REFUSALS = (*KEYED, *BODY, 403, 502)
_REQUEST_ID = {"name": "X-Request-ID", "in": "header", "required": False, "schema": {"type": "string"},
               "description": "the request's id, echoed in the answer's X-Request-ID (AuthZEN §10.1.4); a"
                              " re-evaluation's use of its approval is made with it (a retry: the same use)"}


# The API's routes, each written once: the server mounts these and the document's paths are these.
ROUTES: tuple[Route, ...] = (
    Route("post", "/api/v1/approvals", {
        "operationId": "ask",
        "summary": "Ask for an approval",
        "parameters": [_idempotency("a retry with the same key and body (as RFC 8785 canonical JSON)"
                                    " returns the same approval"), _CLIENT],
        "requestBody": _body("Ask"),
        "responses": {
            "201": _json("Approval", "asked: the approval is pending, its card posted"),
            "200": _json("Approval", "decided at once by an always-allow rule, a policy or the channel's"
                         " input mode; or refused at once by a freeze: `status` `rejected`, `code` `frozen`,"
                         " `decided_by` `freeze`, `refusal` \"Not run: frozen: <reason> (scope …, by …)\""),
            **refusals(*KEYED, *BODY, 403, 404, 409, 502),
        },
    }),
    Route("get", "/api/v1/approvals/{id}", {
        "operationId": "read",
        "summary": "Read an approval, waiting for its decision up to `wait` seconds",
        "parameters": [_ID, _WAIT],
        "responses": {"200": _json("Approval", "the approval"), **refusals(*KEYED, 400, 404)},
    }),
    Route("delete", "/api/v1/approvals/{id}", {
        "operationId": "withdraw",
        "summary": "Withdraw a pending approval (its card says so); a decided one is shown as it is",
        "parameters": [_ID],
        "responses": {"200": _json("Approval", "the approval"), **refusals(*KEYED, 404)},
    }),
    Route("post", "/api/v1/approvals/{id}/use", {
        "operationId": "use",
        "summary": "Use an approved call, right before running it: once",
        "description": (
            "With the key: `used` is true for the first use (and for a retry with the same token), false"
            " when another process used it already: that one may have run the call, so ask again with"
            " `may_have_run` instead of running it (`refusal` says so, in the words a model reads). Without"
            " a key, an executor spends the approval's `receipt` (`{receipt, token}`), apart from the"
            " program's own use: 200 with `used` true for the token that spent it (its retry too), 409"
            " `used` for any other, 401 `invalid_receipt` for a receipt that does not verify, has expired"
            " or is another approval's, 409 `key_revoked` once the key that asked was revoked, 423 `frozen`"
            " while its scope is frozen (`/agent freeze`)."
        ),
        "security": [{"key": []}, {}],
        "parameters": [_ID],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "oneOf": [_ref("Use"), _ref("ReceiptUse")]}}}},
        "responses": {
            "200": _json({"allOf": [_ref("Approval"), {
                "type": "object", "required": ["used"], "properties": {"used": {
                    "type": "boolean", "description": "true for the first use (and its retry with the same"
                    " token); false when another process used it already (`refusal` says so)"}}}]},
                "the approval, and whether this is its use"),
            **refusals(*KEYED, *BODY, 404, 409, 423),
        },
    }),
    Route("post", "/api/v1/audit/allowed", {
        "operationId": "recordAllowed",
        "summary": "Record a tool call the program runs without a card, by its own allow-list",
        "description": (
            "Nobody is asked: the bot's audit log gets an `allowed` entry (the key, the tool, the digest"
            " of the arguments and the arguments themselves up to 4,000 characters, `by: allow-list`,"
            " `outcome: allowed`, `allowed_by`), shown by the audit export and counted apart in the"
            " report. The policies decide first, as on every way in: a policy that refuses the call"
            " answers 403 `refused_by_policy` (audited; the program must not run it), one that asks a"
            " person 409 `ask_a_person` (ask for an approval instead). A retry with the same"
            " Idempotency-Key and body gets the same answer and adds no entry."
        ),
        "parameters": [_idempotency("a retry with the same key and body records the call once"), _CLIENT],
        "requestBody": _body("Allowed"),
        "responses": {
            "201": _json("AllowedCall", "recorded in the audit log"),
            **refusals(*KEYED, *BODY, 403, 409, 423),
        },
    }),
    Route("post", "/api/v1/hooks/claude-code", {
        "operationId": "claudeCodeHook",
        "summary": "Claude Code's PreToolUse HTTP hook: the call asked about, the hook's decision answered",
        "description": (
            "The body is Claude Code's hook input (`session_id`, `cwd`, `tool_name`, `tool_input`, ...)."
            " The call is asked about as `agent-approvals-claude-code hook` asks (the same card, the same"
            " idempotency key per session and exact call); within `wait` seconds the decision is answered"
            " (an approval used once), past it `deny` with the card's link (the identical retry spends"
            " the approval once). An error answers `deny` (or `ask` with `on_error=ask`), never `allow`."
            " Every answer is 200: Claude Code reads any other status as no decision and runs its own"
            " flow, so a refusal (a wrong or revoked key, a body too large, a limit passed, bad input) is"
            " `deny` with the refusal's reason (the store unreachable: the `on_error` verdict)."
        ),
        "parameters": [
            {**_WAIT, "schema": {**_WAIT["schema"], "default": 50},
             "description": "seconds to wait for the decision before denying with the card's link"},
            {"name": "on_error", "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["deny", "ask"], "default": "deny"}},
            {"name": "X-Approvals-Requester", "in": "header", "required": False,
             "schema": {"type": "string"}, "description": "the Slack user id the session acts for"},
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "description": "Claude Code's PreToolUse hook input"}}}},
        "responses": {"200": _json("HookAnswer", "the hook's decision, as Claude Code reads it (refusals"
                                   " too: `deny` with the reason)")},
    }),
    Route("get", "/api/v1/key", {
        "operationId": "key",
        "summary": "The key this request carries: its id (the `aud` of its receipts, to pin in executors),"
        " name and channels. A program checks its URL and key with it before asking",
        "responses": {"200": _json("Key", "the key stands"), **refusals(*KEYED)},
    }),
    Route("get", "/api/v1/jwks.json", {
        "operationId": "jwks",
        "summary": "The public keys receipts are signed with (the current one and those retired less than"
        " RECEIPT_TTL ago); empty when the bot signs no receipts",
        "security": [],
        "responses": {"200": _json("Jwks", "a JWK Set (RFC 7517) of Ed25519 public keys; Cache-Control"
                                   " max-age=60")},
    }),
    Route("post", "/access/v1/evaluation", {
        "operationId": "authzenEvaluation",
        "summary": "OpenID AuthZEN 1.0 Access Evaluation, answered from the policies",
        "description": (
            "subject.id is the agent, action.name the tool (or resource.id when resource.type is \"tool\"),"
            " resource.properties the call's arguments; context.channel and context.requester as an ask's."
            " Decided as every way in (the policies first) but recorded as nothing: `decision` true when a policy"
            " (or a rule, or the channel's mode) allows the call at once, false when one refuses it, and false"
            " with the approval it opened where a person decides (`context.task`; wait with GET"
            " /api/v1/approvals/{id}?wait=60, then evaluate again with `context.approval.id`: true once)."
            " Unknown members are ignored; see docs/agents/authzen.md."
        ),
        "parameters": [_REQUEST_ID],
        "requestBody": _body("Evaluation"),
        "responses": {"200": _json("Decision", "the decision"), **refusals(*AUTHZEN_REFUSALS)},
    }),
    Route("post", "/access/v1/evaluations", {
        "operationId": "authzenEvaluations",
        "summary": "OpenID AuthZEN 1.0 Access Evaluations (a batch), answered from the policies",
        "description": (
            "The top-level subject, action, resource and context are defaults of each of `evaluations` (at most"
            " 100); `options.evaluations_semantic`: execute_all (default), deny_on_first_deny,"
            " permit_on_first_permit; `options.open_approvals` false: a decision a person makes opens no"
            " approval (a tools/list's filter). Without `evaluations`, the single form's answer."
        ),
        "parameters": [_REQUEST_ID],
        "requestBody": _body("Evaluations"),
        "responses": {"200": _json({"oneOf": [
            {"type": "object", "required": ["evaluations"],
             "properties": {"evaluations": {"type": "array", "items": _ref("Decision")}}},
            _ref("Decision")]}, "the decisions, in the order asked (cut short by a short-circuit semantic)"),
            **refusals(*AUTHZEN_REFUSALS)},
    }),
    Route("get", "/.well-known/authzen-configuration", {
        "operationId": "authzenConfiguration",
        "summary": "The AuthZEN Policy Decision Point metadata (Authorization API 1.0 §9)",
        "security": [],
        "responses": {"200": _json(METADATA, "the PDP's metadata")},
    }),
    Route("get", "/api/v1/openapi.json", {
        "operationId": "openapi",
        "summary": "This document",
        "security": [],
        "responses": {"200": {"description": "the OpenAPI document",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }),
)


def paths() -> dict[str, Any]:
    """Every route (`ROUTES`) as the document's paths: each path's operations, by method."""
    described: dict[str, Any] = {}
    for route in ROUTES:
        described.setdefault(route.path, {})[route.method] = copy.deepcopy(route.operation)
    return described
