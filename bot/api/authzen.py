"""OpenID AuthZEN Authorization API 1.0 (https://openid.net/specs/authorization-api-1_0.html): what a policy
enforcement point may send `POST /access/v1/evaluation` and `/access/v1/evaluations`, checked and mapped to the
Approvals API's ask (a `CheckedAsk`: the same models check it, bot/api/requests.py). Pure.

The mapping (docs/agents/authzen.md):

    subject.id                     the agent (`agent`, shown on the card); subject.type is named in the title
    action.name                    the tool (`tool.name`), unless resource.type is "tool" (COAZ-MCP's default
                                   mapping, action "tools/call"): then resource.id is the tool
    resource.properties            the call's arguments (`tool.arguments`; absent: {})
    context.channel, .requester    the ask's `channel` and `requester` (as an ask's)
    context.approval.id            a re-evaluation after a person decided (the access-request profile's draft)
    options.open_approvals         false: a decision that needs a person opens nothing (`tools/list` filtering)

Unknown fields are ignored, as the specification says; a missing or wrong required field is a 400 naming it in
AuthZEN's words (`action.name`, `evaluations[1].subject.id`). The batch form's top-level subject, action, resource
and context are defaults for each of its `evaluations` (an evaluation's own replace them, member by member at the
top level only), and `options.evaluations_semantic` is one of `execute_all` (the default), `deny_on_first_deny`,
`permit_on_first_permit`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.api.canonical import canonical_digest
from bot.api.requests import (
    APPROVAL_ID,
    MAX_AGENT,
    MAX_TITLE,
    NOT_BLANK,
    TOOL_NAME,
    ApiError,
    Ask,
    CheckedAsk,
    Must,
    bad,
    checked,
    parse_json,
)

MAX_EVALUATIONS = 100  # evaluations in one batch: a tools/list of a large server fits
MAX_ID = 256
Semantic = Literal["execute_all", "deny_on_first_deny", "permit_on_first_permit"]
SEMANTICS: tuple[Semantic, ...] = ("execute_all", "deny_on_first_deny", "permit_on_first_permit")
TOOL_TYPE = "tool"  # a resource of this type names the tool itself (COAZ-MCP: action "tools/call")
# the Approvals API's field a refusal named, in AuthZEN's words
AUTHZEN_FIELDS = {"tool.name": "action.name", "tool.arguments": "resource.properties", "agent": "subject.id",
                  "channel": "context.channel", "requester": "context.requester", "title": "subject"}

Text = Annotated[str, Field(min_length=1, max_length=MAX_ID, pattern=NOT_BLANK),
                 Must(f"a non-empty string of at most {MAX_ID} characters")]
Properties = Annotated[dict[str, Any] | None, Must("a JSON object")]


class _Open(BaseModel):
    """An AuthZEN object: unknown members ignored (the specification's forward compatibility)."""

    model_config = ConfigDict(extra="ignore", strict=True)


class Subject(_Open):
    """Who asks: the agent (its `id`), of a `type` (agent, user, identity...)."""

    type: Text
    id: Annotated[str, Field(min_length=1, max_length=MAX_AGENT, pattern=NOT_BLANK),
                  Must(f"a non-empty string of at most {MAX_AGENT} characters (the agent)")]
    properties: Properties = None


class Resource(_Open):
    """What the call is about; its `properties` are the call's arguments."""

    type: Text
    id: Text
    properties: Properties = None


class Action(_Open):
    """What is done: the tool's name."""

    name: Annotated[str, Field(pattern=TOOL_NAME), Must("1 to 64 letters, digits or _ . : / - (the tool)")]
    properties: Properties = None


class Evaluation(_Open):
    """The body of `POST /access/v1/evaluation` (AuthZEN 1.0 §6.1), and each evaluation of a batch."""

    subject: Annotated[Subject, Must("an object: {type, id, properties}")]
    action: Annotated[Action, Must("an object: {name, properties}")]
    resource: Annotated[Resource, Must("an object: {type, id, properties}")]
    context: Annotated[dict[str, Any] | None, Must("a JSON object")] = None
    options: Annotated[dict[str, Any] | None, Must("a JSON object")] = None


class Evaluations(_Open):
    """The body of `POST /access/v1/evaluations` (AuthZEN 1.0 §7.1): defaults, `evaluations`, `options`."""

    subject: Annotated[dict[str, Any] | None, Must("an object: {type, id, properties}")] = None
    action: Annotated[dict[str, Any] | None, Must("an object: {name, properties}")] = None
    resource: Annotated[dict[str, Any] | None, Must("an object: {type, id, properties}")] = None
    context: Annotated[dict[str, Any] | None, Must("a JSON object")] = None
    evaluations: Annotated[list[dict[str, Any]] | None, Field(max_length=MAX_EVALUATIONS),
                           Must(f"a list of at most {MAX_EVALUATIONS} objects")] = None
    options: Annotated[dict[str, Any] | None, Must("a JSON object")] = None


@dataclass(frozen=True, slots=True)
class Target:
    """One evaluation, checked: the ask it maps to, the approval a re-evaluation names, whether a decision that
    needs a person may open an approval."""

    ask: CheckedAsk
    subject: str  # "type:id", for the audit
    approval_id: str = ""
    open_approvals: bool = True


def evaluation_body(raw: bytes) -> Target:
    """The checked body of `POST /access/v1/evaluation`."""
    return _target(checked(Evaluation, parse_json(raw)), where="")


def evaluations_body(raw: bytes) -> tuple[list[Target], Semantic, bool]:
    """The checked body of `POST /access/v1/evaluations`: its evaluations (the defaults applied), the semantic, and
    whether it is the batch form (else the single form: an absent or empty `evaluations`)."""
    data = parse_json(raw)
    body = checked(Evaluations, data)
    options = body.options or {}
    semantic = options.get("evaluations_semantic", "execute_all")
    if semantic not in SEMANTICS:
        raise bad("options.evaluations_semantic", f"options.evaluations_semantic must be one of {', '.join(SEMANTICS)}")
    defaults = {name: value for name in ("subject", "action", "resource", "context")
                if (value := data.get(name)) is not None}
    if not body.evaluations:
        return [_target(checked(Evaluation, {**defaults, "options": options}), where="")], semantic, False
    targets = []
    for n, item in enumerate(body.evaluations):
        where = f"evaluations[{n}]."
        try:
            one = checked(Evaluation, {**defaults, "options": options, **item})
        except ApiError as exc:
            raise bad(where + exc.field, f"{where}{exc.message}") from None
        targets.append(_target(one, where=where))
    return targets, semantic, True


def _target(one: Evaluation, *, where: str) -> Target:
    """`one` as the ask it maps to (the module docstring), checked by the ask's own model."""
    context = one.context or {}
    tool = one.resource.id if one.resource.type == TOOL_TYPE else one.action.name
    subject = f"{one.subject.type}:{one.subject.id}"
    ask: dict[str, Any] = {
        "kind": "tool", "title": f"{tool} for {one.subject.type} {one.subject.id} (AuthZEN)"[:MAX_TITLE],
        "tool": {"name": tool, "arguments": one.resource.properties or {}}, "agent": one.subject.id,
        **{name: context[name] for name in ("channel", "requester") if context.get(name) is not None},
    }
    try:
        checked_ask = checked(Ask, ask)
    except ApiError as exc:
        field = AUTHZEN_FIELDS.get(exc.field, exc.field)
        if one.resource.type == TOOL_TYPE and exc.field == "tool.name":
            field = "resource.id"
        raise bad(where + field, where + exc.message.replace(exc.field, field, 1)) from None
    approval_id = _approval_id(context.get("approval"), where=where)
    open_approvals = (one.options or {}).get("open_approvals", True)
    if not isinstance(open_approvals, bool):
        raise bad("options.open_approvals", "options.open_approvals must be true or false")
    made = CheckedAsk(kind="tool", title=checked_ask.title, tool_name=tool,
                      arguments=checked_ask.tool.arguments if checked_ask.tool else {},
                      channel=checked_ask.channel or "", requester=checked_ask.requester or "",
                      agent=checked_ask.agent or "", body_digest=canonical_digest(ask))
    return Target(ask=made, subject=subject, approval_id=approval_id, open_approvals=open_approvals)


def _approval_id(approval: Any, *, where: str) -> str:
    """The approval a re-evaluation presents (`context.approval.id`, the access-request profile's draft), or ""."""
    if approval is None:
        return ""
    found = approval.get("id") if isinstance(approval, dict) else None
    if not isinstance(found, str) or not APPROVAL_ID.fullmatch(found):
        raise bad(f"{where}context.approval.id", f"{where}context.approval.id must be the id of the approval a"
                  " decision that needed a person named (a-…)")
    return found


def compact(value: Any) -> str:
    """`value` as compact JSON (an audit entry's)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
