"""What the open step (`Approvals.open`, bot/store/approvals.py) is given and what it writes to the audit log: an
`Opening` (the approval and the limits it is opened under, `Once` for an idempotent ask) and the entry it appends,
with a tool call's arguments (up to AUDITED_ARGUMENTS) and the commitments of its hidden values."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agent_approvals.approver import canonical_json

from bot.core.records import ApprovalRecord
from bot.store.shared import Fence

OpenStatus = Literal["ok", "exists", "conflict", "full", "gone", "fenced", "stale", "unsettled"]


@dataclass(frozen=True, slots=True)
class Once:
    """What makes an ask idempotent: the asking key's id (`owner`), its Idempotency-Key, the digest of its body,
    and how long the key is remembered."""

    owner: str
    key: str
    digest: str
    ttl: int = 24 * 3600


@dataclass(frozen=True, slots=True)
class Opening:
    """What the open step (`Approvals.open`) is given: the `approval` (pending, or decided at once), and what it
    checks and counts with it (each described there)."""

    approval: ApprovalRecord
    checkpoint: str | None = None
    fence: Fence | None = None
    once: Once | None = None
    max_pending: int = 0
    audit: dict[str, str] | None = None
    rule: tuple[str, str] = ("", "")
    now: float | None = None
    windows: Sequence[Mapping[str, Any]] = ()
    policy: Sequence[str] = ()
    policy_bundle: str = ""
    settings: tuple[str, Sequence[str] | None] = ("", None)


AUDITED_TITLE = 500  # characters of an approval's title (a program's, or its run's task) in its first entry
AUDITED_ARGUMENTS = 4000  # a tool call's arguments (canonical JSON) are in its `requested` entry up to this


def call_of(approval: ApprovalRecord) -> dict[str, str]:
    """A tool call's digest and arguments for the audit log (what suggested rules are replayed on: the redacted copy
    when values are hidden, with their `commitments`); arguments longer than AUDITED_ARGUMENTS are left out."""
    if approval.kind != "tool_call" or not approval.arguments:
        return {}
    hidden = commitments(approval)
    try:
        arguments = canonical_json(json.loads(approval.arguments))
    except ValueError:
        return {"digest": approval.digest, **hidden}
    return {"digest": approval.digest, **({"arguments": arguments} if len(arguments) <= AUDITED_ARGUMENTS else {}),
            **hidden}


def commitments(approval: ApprovalRecord) -> dict[str, str]:
    """`hidden`: what the audit log keeps of each hidden value of its arguments (which are the redacted copy): its
    path and a keyed commitment (HMAC-SHA256 under SECRETS_KEY, `kid:hex`), never the value."""
    items = [{"path": item.get("path", ""), "hmac": item.get("hmac", "")} for item in approval.hidden_items]
    return {"hidden": canonical_json(items)} if items else {}


def opened_entry(opening: Opening) -> dict[str, str]:
    """The audit entry the open step appends: a pending approval's `requested` entry, or the entry of the decision
    made at once (`opening.audit`) with what was asked as a request's entry says it (policy replay); each with the
    title, the workflow, the workspace and the policies (with the windows they read) when the approval has them."""
    approval, audit, windows = opening.approval, opening.audit, opening.windows
    entry = audit if audit is not None else {
        "event": "requested",
        "approval": approval.id,
        "run": approval.run_id,
        "by": approval.requester,
        "at": repr(approval.created_at),
        "card_channel": approval.card_channel,
        "origin_channel": approval.origin_channel,
        "kind": approval.kind,
        "tool": approval.tool_name,
        **call_of(approval),
        **({"key": approval.asked_by} if approval.asked_by else {}),  # asked through the API with this key
    }
    if audit is not None:  # decided at once: what was asked, as a request's entry says it (policy replay)
        entry = {**call_of(approval), "requester": approval.requester, **entry}
    if approval.task:  # the title as its reviewers see it (hidden values hidden: bot/redaction/hiding.py)
        entry = {"title": approval.task[:AUDITED_TITLE], **entry}
    if approval.workflow:  # the durable workflow that asked (policies read its engine and type)
        entry = {**entry, "workflow": approval.workflow}
    if approval.team:  # the workspace it belongs to (policies read it; none: the home workspace's)
        entry = {**entry, "team": approval.team, **({"enterprise": approval.enterprise} if approval.enterprise
                                                    else {})}
    if approval.policy:  # the policies that decided or routed it (bot/policy/), and the windows they read
        entry = {**entry, "policy": approval.policy}
        if windows:
            entry["windows"] = json.dumps({str(w["name"]): w["expect"] for w in windows}, separators=(",", ":"))
    return entry
