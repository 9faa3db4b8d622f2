"""What the Approvals API answers: the answer models (pydantic) the OpenAPI document is made of (bot/api/openapi.py).
Pure.

An approval's answer (`Approval`: GET, the long-poll, the ask's answer, a withdrawal, a webhook's body) says who
decided and, when its call does not run, what an agent's model reads (`who`, `refusal`: `bot.core.verdicts`), so
every client prints the same words without composing them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

Status = Literal["pending", "approved", "rejected", "revised", "timed_out", "cancelled"]


class Answer(BaseModel):
    """An answer's JSON: its fields as the API sends them (absent ones left out; a later version may add more)."""


class PolicyClaim(Answer):
    """The policies that decided or routed an approval: the bundle's hash, their ids, their reason."""

    bundle: str
    ids: list[str]
    reason: str = ""


class ArtifactDigest(Answer):
    """An artefact of the ask (`agent_approvals.artifacts`) as the plane keeps it: its kind and digest (its content
    is the program's own, and is not answered back), unless a reviewer edited it (`edited`: then answered whole)."""

    kind: Literal["file", "command", "message", "query"]
    sha256: Annotated[str, Field(description="hex SHA-256 of the RFC 8785 JSON of the normalised artefact: what a"
                                             " receipt binds")]
    path: Annotated[str | None, Field(description="a file change's path, as people see it")] = None
    before_sha256: Annotated[str | None, Field(description="a file change's: SHA-256 of the text it applies to"
                                                           " (null: a new file)")] = None
    edited: Annotated[bool, Field(
        description="true: a reviewer edited this artefact (Revise: a message's body, a file's new text); it is then"
                    " answered whole, its content as edited and `sha256` its new digest (what the receipt binds): the"
                    " program applies this one, not the one it asked with. Absent: as asked")] = False
    before: Annotated[str | None, Field(description="an edited file change's text before (null: a new file)")] = None
    after: Annotated[str | None, Field(description="an edited file change's text after, as edited")] = None
    diff: Annotated[str | None, Field(description="an edited file change's diff (null: before/after)")] = None
    to: Annotated[list[str] | None, Field(description="an edited message's recipients")] = None
    subject: Annotated[str | None, Field(description="an edited message's subject")] = None
    body: Annotated[str | None, Field(description="an edited message's body, as the reviewer left it")] = None


class HiddenValue(Answer):
    """A value of the arguments hidden from people (cards, logs, webhooks, the audit log)."""

    path: Annotated[str, Field(description="where it is: `payments[0].card.number`")]
    kind: Annotated[str, Field(description="what it is: `card`, `iban`, `password field`…")]
    shown: Annotated[str, Field(description="what people see instead: `card ending 1111`")]


class Approval(Answer):
    """An approval as the API shows it."""

    id: str
    status: Status
    title: str = ""
    expires_at: Annotated[str, Field(json_schema_extra={"format": "date-time"},
                                     description="absent: it never times out")] = ""
    card_url: str = ""
    workflow: Annotated[dict[str, Any], Field(description="the durable workflow that asked, as asked")] = {}
    decided_at: Annotated[str | None, Field(json_schema_extra={"format": "date-time"})] = None
    decided_by: Annotated[str, Field(description="a Slack user id; `rule R7`, `auto`, `policy`, `timeout`,"
                                     " `freeze` (a frozen scope: `code` `frozen`) or `system`")] = ""
    decided_by_name: Annotated[str, Field(
        description="the Slack display name of the person who decided (e.g. `bob`), when a person decided and the"
                    " worker knows the name; absent otherwise (`decided_by` stays the id)")] = ""
    who: Annotated[str, Field(
        description="who decided, in words: `@bob` (the person's name, else their user id), `rule R1`, `the input"
                    " mode`, `policy`, `timeout`, `the bot`; empty while pending. Print it: never compose it")]
    refusal: Annotated[str | None, Field(
        description="what an agent's model reads when its call does not run: who refused it and why, that nobody"
                    " decided in time, that it was cancelled, or the revision asked for (quoting edited arguments);"
                    " null while pending and when the call may run. Print it: never compose it")]
    on_behalf_of: Annotated[str, Field(description="decided by a delegate for this person, who is away")] = ""
    approved_by: Annotated[list[str], Field(
        description="approved by a quorum: every person whose vote counted, in the order they voted (`decided_by`"
                    " is the last of them)")] = []
    policy: Annotated[PolicyClaim | None, Field(description="the policies that decided or routed it")] = None
    reason: Annotated[str, Field(description="why it was rejected, timed out or cancelled; a comment")] = ""
    code: Annotated[Literal["frozen"] | None, Field(
        description="`frozen`: refused at once because an admin froze its scope (`/agent freeze`; `decided_by`"
                    " `freeze`, `reason` and `refusal` say \"frozen: <reason> (scope …, by …)\"); absent"
                    " otherwise")] = None
    feedback: Annotated[str, Field(description="a revision's text")] = ""
    timeout_outcome: Literal["approve", "reject"] = "reject"
    tool: str = ""
    arguments: Annotated[dict[str, Any], Field(
        description="the arguments to run: edited ones when a reviewer edited them")] = {}
    used_at: Annotated[str, Field(json_schema_extra={"format": "date-time"},
                                  description="when its program used it (ran it)")] = ""
    edited: Annotated[bool, Field(description="a revision that edited the arguments (`arguments` are those)")] = False
    arguments_redacted: Annotated[bool, Field(
        description="values of `arguments` are hidden (`hidden` lists them): true in a webhook's body, and in an"
                    " answer when the bot no longer keeps them (the approval ended, or no SECRETS_KEY); false when"
                    " `arguments` are whole (the program's own answers). Absent when nothing is hidden")] = False
    hidden: Annotated[list[HiddenValue], Field(
        description="the values of the arguments hidden from people (the tool's schema, `redact:`, detectors)")] = []
    digest: Annotated[str, Field(description="sha256 of the canonical JSON of `arguments`")] = ""
    artifacts: Annotated[list[ArtifactDigest], Field(
        description="the ask's artefacts, in order, each with its digest (`agent_approvals.artifacts`)")] = []
    receipt: Annotated[str | None, Field(
        description="a signed receipt (compact JWS, EdDSA, typ `approval-receipt+jwt`, its key in /api/v1/jwks.json)"
                    " when the approval allows the call; null otherwise; absent when the bot signs no receipts."
                    " Claims: iss, sub (this id), aud (the asking key's id, GET /api/v1/key), jti, iat, exp, tool,"
                    " args_sha256 (hex SHA-256 of the RFC 8785 JSON of `arguments`), artifacts (each artefact's"
                    " `sha256`, in order, when the ask had some), decided_by, quorum, audit")] = None


class AllowedCall(Answer):
    """A tool call recorded in the audit log as let through by the program's own allow-list."""

    id: Annotated[str, Field(description="the record's id (`c-…`), in its audit entry as `call`")]
    status: Literal["allowed"]
    tool: str
    digest: Annotated[str, Field(description="sha256 of the canonical JSON of the arguments")]
    allowed_by: str
    recorded_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Key(Answer):
    """The key a request carries."""

    id: Annotated[str, Field(description="the key's id: never changes, never another key's; receipts' aud")]
    name: Annotated[str, Field(description="the key's name (a revoked key frees it for a new one)")]
    channels: Annotated[list[str], Field(description="where it may ask")]


class Jwk(Answer):
    """An Ed25519 public key receipts are signed with."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    alg: Literal["EdDSA"]
    use: Literal["sig"]


class Jwks(Answer):
    """A JWK Set (RFC 7517)."""

    keys: list[Jwk]


class ErrorDetail(Answer):
    """What went wrong."""

    code: str
    message: str
    field: Annotated[str, Field(description="the field, header or query parameter at fault")] = ""


class Error(Answer):
    """Every refusal's body."""

    error: ErrorDetail


class HookDecision(Answer):
    """Claude Code's `hookSpecificOutput`."""

    hookEventName: Literal["PreToolUse"]
    permissionDecision: Literal["allow", "deny", "ask"]
    permissionDecisionReason: str


class HookAnswer(Answer):
    """The hook's decision, as Claude Code reads it."""

    hookSpecificOutput: HookDecision
