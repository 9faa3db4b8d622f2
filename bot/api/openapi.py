"""The Approvals API described as an OpenAPI 3.1 document, served at `GET /api/v1/openapi.json`.

The tests validate it (`openapi-spec-validator`) and check every route the server mounts against it,
and every answer they get against its response schemas.
"""

from __future__ import annotations

from typing import Any

from bot.api.requests import MAX_AGENT, MAX_ALLOWED_BY, MAX_TEXT, MAX_TITLE, MAX_URL, MAX_WAIT, MAX_WORKFLOW_ID

STATUSES = ["pending", "approved", "rejected", "revised", "timed_out", "cancelled"]

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "the field, header or query parameter at fault"},
            },
        }
    },
}

_APPROVAL = {
    "type": "object",
    "required": ["id", "status"],
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": STATUSES},
        "title": {"type": "string"},
        "expires_at": {"type": "string", "format": "date-time", "description": "absent: it never times out"},
        "card_url": {"type": "string"},
        "workflow": {"type": "object", "description": "the durable workflow that asked, as asked"},
        "decided_at": {"type": ["string", "null"], "format": "date-time"},
        "decided_by": {"type": "string", "description": "a Slack user id; `rule R7`, `auto`, `timeout` or `system`"},
        "decided_by_name": {
            "type": "string",
            "description": "the Slack display name of the person who decided (e.g. `bob`), when a person decided and"
            " the worker knows the name; absent otherwise (`decided_by` stays the id)",
        },
        "on_behalf_of": {"type": "string", "description": "decided by a delegate for this person, who is away"},
        "approved_by": {
            "type": "array", "items": {"type": "string"},
            "description": "approved by a quorum: every person whose vote counted, in the order they voted"
            " (`decided_by` is the last of them)",
        },
        "policy": {
            "type": "object", "required": ["bundle", "ids"],
            "properties": {"bundle": {"type": "string"}, "ids": {"type": "array", "items": {"type": "string"}},
                           "reason": {"type": "string"}},
            "description": "the policies that decided or routed it: the bundle's hash, their ids, their reason",
        },
        "reason": {"type": "string", "description": "why it was rejected, timed out or cancelled; a comment"},
        "feedback": {"type": "string", "description": "a revision's text"},
        "timeout_outcome": {"type": "string", "enum": ["approve", "reject"]},
        "tool": {"type": "string"},
        "arguments": {"type": "object", "description": "the arguments to run: edited ones when a reviewer edited them"},
        "used_at": {"type": "string", "format": "date-time", "description": "when its program used it (ran it)"},
        "edited": {"type": "boolean", "description": "a revision that edited the arguments (`arguments` are those)"},
        "digest": {"type": "string", "description": "sha256 of the canonical JSON of `arguments`"},
        "receipt": {
            "type": ["string", "null"],
            "description": "a signed receipt (compact JWS, EdDSA, typ `approval-receipt+jwt`, its key in"
            " /api/v1/jwks.json) when the approval allows the call; null otherwise; absent when the bot signs no"
            " receipts. Claims: iss, sub (this id), aud (the asking key's id, GET /api/v1/key), jti, iat, exp, tool,"
            " args_sha256 (hex SHA-256 of the RFC 8785 JSON of `arguments`), decided_by, quorum, audit",
        },
    },
}

_JWKS = {
    "type": "object",
    "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["kty", "crv", "x", "kid", "alg", "use"],
        "properties": {
            "kty": {"const": "OKP"}, "crv": {"const": "Ed25519"}, "x": {"type": "string"}, "kid": {"type": "string"},
            "alg": {"const": "EdDSA"}, "use": {"const": "sig"},
        },
    }}},
}

REQUESTER = ("the Slack user the program acts for: their user id (U…), or their email, which the bot asks Slack"
             " about (users.lookupByEmail; nobody has it: 400)")

_KEY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "name", "channels"],
    "properties": {
        "id": {"type": "string", "description": "the key's id: never changes, never another key's; receipts' aud"},
        "name": {"type": "string", "description": "the key's name (a revoked key frees it for a new one)"},
        "channels": {"type": "array", "items": {"type": "string"}, "description": "where it may ask"},
    },
}

_ASK = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "title"],
    "properties": {
        "kind": {"type": "string", "enum": ["tool", "message", "code"]},
        "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE, "description": "the card's task"},
        "tool": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "arguments"],
            "properties": {
                "name": {"type": "string", "pattern": "^[A-Za-z0-9_.:/-]{1,64}$"},
                "arguments": {"type": "object",
                              "description": "integers within ±(2^53-1) only (I-JSON, RFC 8785): send larger ones,"
                                             " such as 64-bit ids, as strings (else 400 naming the field)"},
                "schema": {"type": "object", "description": "the tool's JSON schema of its arguments"},
                "editable": {"type": "boolean", "default": True,
                             "description": "false: the program runs only this call as made; no edit is offered"},
            },
        },
        "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "description": "kind message or code"},
        "channel": {"type": "string", "description": "the origin channel (default: the key's first)"},
        "requester": {"type": "string", "description": REQUESTER},
        "timeout": {"type": "integer", "minimum": 1, "maximum": 604800,
                    "description": "seconds; never longer than the channel allows"},
        "context_url": {"type": "string", "maxLength": MAX_URL},
        "callback_url": {"type": "string", "maxLength": MAX_URL, "description": "https; the decision is POSTed here"},
        "agent": {"type": "string", "maxLength": MAX_AGENT, "description": "which agent asks (shown on the card)"},
        "may_have_run": {"type": "boolean", "default": False,
                         "description": "this call was approved before and its program died while it ran: the card"
                                        " says so, and only a person may approve it (no rule)"},
        "run": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$",
                "description": "the program's own run or session id: a “This run only” rule covers the asks with the"
                               " same run (of this key, in this channel); without it, every program of the key that"
                               " sends none shares one run, where “This run only” is refused"},
        "workflow": {
            "type": "object", "additionalProperties": False, "required": ["engine", "id"],
            "description": "the durable workflow that asks (agent_approvals.temporal, .dbos): shown on the card,"
                           " and read by the policies as `context.workflow` {engine, type, id}",
            "properties": {
                "engine": {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,19}$", "description": "temporal, dbos"},
                "id": {"type": "string", "minLength": 1, "maxLength": MAX_WORKFLOW_ID},
                "type": {"type": "string", "minLength": 1, "maxLength": MAX_AGENT},
                "namespace": {"type": "string", "minLength": 1, "maxLength": MAX_AGENT},
                "url": {"type": "string", "maxLength": MAX_URL, "description": "https: the engine's page of it"},
            },
        },
    },
}


_ALLOWED = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tool", "allowed_by"],
    "properties": {
        "tool": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "arguments"],
            "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9_.:/-]{1,64}$"},
                           "arguments": {"type": "object"}},
        },
        "allowed_by": {"type": "string", "minLength": 1, "maxLength": MAX_ALLOWED_BY,
                       "description": "what in the program's allow-list let the call through (`--allow list_*`)"},
        "channel": {"type": "string", "description": "the channel it is recorded about (default: the key's first)"},
        "requester": {"type": "string", "description": REQUESTER},
        "agent": {"type": "string", "maxLength": MAX_AGENT, "description": "which agent made the call"},
    },
}

_ALLOWED_CALL = {
    "type": "object",
    "required": ["id", "status", "tool", "digest", "allowed_by", "recorded_at"],
    "properties": {
        "id": {"type": "string", "description": "the record's id (`c-…`), in its audit entry as `call`"},
        "status": {"type": "string", "enum": ["allowed"]},
        "tool": {"type": "string"},
        "digest": {"type": "string", "description": "sha256 of the canonical JSON of the arguments"},
        "allowed_by": {"type": "string"},
        "recorded_at": {"type": "string", "format": "date-time"},
    },
}


def _json(schema: dict[str, Any] | str, description: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "malformed JSON, an unknown field, a wrong value (the error names the field)",
        401: "a missing, wrong or revoked key; for an executor's use, a receipt that does not verify, has expired or"
        " is not this approval's (`invalid_receipt`)",
        403: "a channel outside the key's",
        404: "no such approval of this key",
        409: "an Idempotency-Key used before with another body (compared as RFC 8785 canonical JSON: key order does"
        " not matter); for a use: `used`, `not_approved`, `rule_revoked`, or `key_revoked` (the key that asked was"
        " revoked: its approvals and receipts run nothing more)",
        413: "a body over 256 KiB",
        429: "a limit (see Retry-After): `rate_limited` (the key's admission on this worker, 50 a second, checked"
        " before the body is read, or its per-minute limit; for a keyless receipt spend, 20 a second per address),"
        " `too_many_pending` (the key's max_pending)",
        503: "the approval store cannot be reached (see Retry-After)",
    }
    return {str(code): _json("Error", texts[code]) for code in codes}


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


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
            "schemas": {"Error": _ERROR, "Approval": _APPROVAL, "Ask": _ASK, "Allowed": _ALLOWED,
                        "AllowedCall": _ALLOWED_CALL, "Jwks": _JWKS, "Key": _KEY},
        },
        "security": [{"key": []}],
        "paths": {
            "/api/v1/approvals": {
                "post": {
                    "operationId": "ask",
                    "summary": "Ask for an approval",
                    "parameters": [
                        {"name": "Idempotency-Key", "in": "header", "required": False,
                         "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
                         "description": "a retry with the same key and body (as RFC 8785 canonical JSON) returns the"
                                        " same approval"}
                    ],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Ask"}}}},
                    "responses": {
                        "201": _json("Approval", "asked: the approval is pending, its card posted"),
                        "200": _json("Approval", "decided at once by an always-allow rule or the channel's input mode"),
                        **_errors(400, 401, 403, 409, 413, 429, 503),
                    },
                }
            },
            "/api/v1/approvals/{id}": {
                "get": {
                    "operationId": "read",
                    "summary": "Read an approval, waiting for its decision up to `wait` seconds",
                    "parameters": [
                        _ID,
                        {"name": "wait", "in": "query", "required": False,
                         "schema": {"type": "number", "minimum": 0, "maximum": MAX_WAIT}},
                    ],
                    "responses": {"200": _json("Approval", "the approval"), **_errors(400, 401, 404, 429, 503)},
                },
                "delete": {
                    "operationId": "withdraw",
                    "summary": "Withdraw a pending approval (its card says so); a decided one is shown as it is",
                    "parameters": [_ID],
                    "responses": {"200": _json("Approval", "the approval"), **_errors(401, 404, 429, 503)},
                },
            },
            "/api/v1/approvals/{id}/use": {
                "post": {
                    "operationId": "use",
                    "summary": "Use an approved call, right before running it: once",
                    "description": (
                        "With the key: `used` is true for the first use (and for a retry with the same token), false"
                        " when another process used it already: that one may have run the call, so ask again with"
                        " `may_have_run` instead of running it. Without a key, an executor spends the approval's"
                        " `receipt` (`{receipt, token}`), apart from the program's own use: 200 with `used` true for"
                        " the token that spent it (its retry too), 409 `used` for any other, 401 `invalid_receipt`"
                        " for a receipt that does not verify, has expired or is another approval's, 409"
                        " `key_revoked` once the key that asked was revoked."
                    ),
                    "security": [{"key": []}, {}],
                    "parameters": [_ID],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
                        {"type": "object", "additionalProperties": False, "required": ["token"],
                         "properties": {"token": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{8,128}$",
                                                  "description": "the using process's own id"}}},
                        {"type": "object", "additionalProperties": False, "required": ["receipt", "token"],
                         "properties": {"receipt": {"type": "string", "description": "the approval's receipt"},
                                        "token": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{8,128}$",
                                                  "description": "the executor's own id for this call"}}},
                    ]}}}},
                    "responses": {
                        "200": _json({"allOf": [{"$ref": "#/components/schemas/Approval"}, {
                            "type": "object", "required": ["used"], "properties": {"used": {"type": "boolean"}}}]},
                            "the approval, and whether this is its use"),
                        **_errors(400, 401, 404, 409, 429, 503),
                    },
                }
            },
            "/api/v1/audit/allowed": {
                "post": {
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
                    "parameters": [
                        {"name": "Idempotency-Key", "in": "header", "required": False,
                         "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
                         "description": "a retry with the same key and body records the call once"}
                    ],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Allowed"}}}},
                    "responses": {
                        "201": _json("AllowedCall", "recorded in the audit log"),
                        **_errors(400, 401, 403, 409, 413, 429, 503),
                    },
                }
            },
            "/api/v1/hooks/claude-code": {
                "post": {
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
                        {"name": "wait", "in": "query", "required": False,
                         "schema": {"type": "number", "minimum": 0, "maximum": MAX_WAIT, "default": 50},
                         "description": "seconds to wait for the decision before denying with the card's link"},
                        {"name": "on_error", "in": "query", "required": False,
                         "schema": {"type": "string", "enum": ["deny", "ask"], "default": "deny"}},
                        {"name": "X-Approvals-Requester", "in": "header", "required": False,
                         "schema": {"type": "string"}, "description": "the Slack user id the session acts for"},
                    ],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "description": "Claude Code's PreToolUse hook input"}}}},
                    "responses": {
                        "200": _json({"type": "object", "required": ["hookSpecificOutput"], "properties": {
                            "hookSpecificOutput": {"type": "object", "required": [
                                "hookEventName", "permissionDecision", "permissionDecisionReason"], "properties": {
                                "hookEventName": {"const": "PreToolUse"},
                                "permissionDecision": {"type": "string", "enum": ["allow", "deny", "ask"]},
                                "permissionDecisionReason": {"type": "string"}}}}},
                            "the hook's decision, as Claude Code reads it (refusals too: `deny` with the reason)"),
                    },
                }
            },
            "/api/v1/key": {
                "get": {
                    "operationId": "key",
                    "summary": "The key this request carries: its id (the `aud` of its receipts, to pin in executors),"
                    " name and channels. A program checks its URL and key with it before asking",
                    "responses": {"200": _json("Key", "the key stands"), **_errors(401, 429, 503)},
                }
            },
            "/api/v1/jwks.json": {
                "get": {
                    "operationId": "jwks",
                    "summary": "The public keys receipts are signed with (the current one and those retired less than"
                    " RECEIPT_TTL ago); empty when the bot signs no receipts",
                    "security": [],
                    "responses": {"200": _json("Jwks", "a JWK Set (RFC 7517) of Ed25519 public keys; Cache-Control"
                                               " max-age=60")},
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "the OpenAPI document",
                                          "content": {"application/json": {"schema": {"type": "object"}}}}},
                }
            },
        },
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
                        " a newline, then the body>`. Retried with backoff for at least 24 h until a 2xx answer; a"
                        " 400 is not tried again."
                    ),
                    "requestBody": {"content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Approval"}}}},
                    "responses": {"200": {"description": "received"}},
                }
            }
        },
    }
