"""An approval as the Approvals API shows it (`view`: the body of `GET /api/v1/approvals/{id}` and of a webhook), and
the people's names it carries."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agent_approvals.approver import Decision, digest_of, edited_arguments

from bot.core.records import ApprovalRecord, hidden_list
from bot.core.verdicts import FROZEN_BY, worded


def view(approval: ApprovalRecord, *, card_url: str = "", names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An approval as the API shows it (the body of `GET /api/v1/approvals/{id}` and of a webhook). `names`:
    people's Slack display names by id, as the worker's cached directory knows them (no Slack call here): the
    decider's becomes `decided_by_name`; an unknown one leaves the field out."""
    body: dict[str, Any] = {"id": approval.id, "status": approval.status, "title": approval.task}
    if approval.deadline:
        body["expires_at"] = iso(approval.deadline)
    if card_url:
        body["card_url"] = card_url
    if approval.used_at:
        body["used_at"] = iso(approval.used_at)
    if not approval.pending:
        body.update(_decided(approval, names or {}))
    if approval.workflow:
        body["workflow"] = json.loads(approval.workflow)
    if approval.policy:
        claim = json.loads(approval.policy)
        body["policy"] = {"bundle": claim.get("bundle", ""), "ids": claim.get("ids", []),
                          **({"reason": approval.policy_reason} if approval.policy_reason else {})}
    decision = approval.decision()
    body.update(words(approval, decision, names=names or {}))
    body.update(_reason(approval, decision))
    if approval.artifacts:
        body["artifacts"] = [shown_artifact(item) for item in approval.artifact_items]
    if approval.kind == "tool_call":
        body.update(_call(approval, decision))
    elif approval.status == "revised":
        body["feedback"] = approval.feedback
    return body


def _decided(approval: ApprovalRecord, names: Mapping[str, str]) -> dict[str, Any]:
    """When and by whom a decided approval was decided (and for whom, and every vote of a quorum)."""
    body: dict[str, Any] = {"decided_at": iso(approval.decided_at) if approval.decided_at else None,
                            "decided_by": approval.decided_by}
    name = names.get(approval.decided_by) if PERSON.fullmatch(approval.decided_by or "") else None
    if name:
        body["decided_by_name"] = name
    if approval.on_behalf:
        body["on_behalf_of"] = approval.on_behalf
    if approval.status == "approved" and approval.required_approvals > 1 and approval.voters:
        body["approved_by"] = approval.voters  # a quorum: every person whose vote counted, in order
    return body


def _reason(approval: ApprovalRecord, decision: Decision) -> dict[str, Any]:
    """Why it ended so: a refusal's reason, a freeze's code, an approver's comment, what a timeout meant."""
    body: dict[str, Any] = {}
    if approval.status in ("rejected", "timed_out", "cancelled") and decision.feedback:
        body["reason"] = decision.feedback
    if approval.decided_by == FROZEN_BY:
        body["code"] = "frozen"
    if approval.status == "approved" and approval.feedback:
        body["reason"] = approval.feedback  # the approver's comment
    if approval.status == "timed_out":
        body["timeout_outcome"] = decision.timeout_outcome
    return body


def _call(approval: ApprovalRecord, decision: Decision) -> dict[str, Any]:
    """A tool call's fields: the tool, its arguments (a reviewer's edit where they revised them) and their digest,
    and what was hidden in them."""
    body: dict[str, Any] = {}
    arguments, digest = approval.arguments, approval.digest
    edit = edited_arguments(decision) if approval.status == "revised" else None
    if edit is not None:
        arguments, body["feedback"] = edit
        digest = digest_of(json.loads(arguments))
        body["edited"] = True
    elif approval.status == "revised":
        body["feedback"] = approval.feedback
    body["tool"] = approval.tool_name
    body["arguments"] = json.loads(arguments) if arguments else {}
    body["digest"] = digest
    items = approval.hidden_items or (hidden_list(approval.edit_hidden) if edit is not None else [])
    if items:  # the redacted copy (a webhook's, a GET whose values are not kept): what was hidden
        body["arguments_redacted"] = True
        body["hidden"] = [{k: item.get(k, "") for k in ("path", "kind", "shown")} for item in items]
    return body


def shown_artifact(artifact: Mapping[str, Any]) -> dict[str, Any]:
    """An artefact as the API answers it: a reviewer's edit whole (its content as edited, its new `sha256`,
    `edited: true`: what the program applies; it holds no hidden value, bot/slackapp/listeners/artifact_edits.py),
    any other by its digest (`digest_only`)."""
    return dict(artifact) if artifact.get("edited") is True else digest_only(artifact)


def digest_only(artifact: Mapping[str, Any]) -> dict[str, Any]:
    """An artefact as the API answers it: its kind and digest, a file change's path and `before_sha256`."""
    shown = {"kind": artifact.get("kind"), "sha256": artifact.get("sha256")}
    if artifact.get("kind") == "file":
        shown.update(path=artifact.get("path"), before_sha256=artifact.get("before_sha256"))
    return shown


PERSON = re.compile(r"^[UW][A-Z0-9]{2,20}$")  # a Slack user id (not `rule R7`, `auto`, `timeout`, `system`)


def words(approval: ApprovalRecord, decision: Decision, *, names: Mapping[str, str]) -> dict[str, Any]:
    """`who` decided and the `refusal` a model reads (`bot.core.verdicts`): "" and null while pending."""
    if approval.pending:
        return {"who": "", "refusal": None}
    said = worded(decision, name=names.get(approval.decided_by, ""))
    return {"who": said.who, "refusal": said.refusal}


NameOf = Callable[[str], Awaitable[str | None]]


async def decider_names(approval: ApprovalRecord, names: NameOf | None) -> dict[str, str]:
    """{decider: display name} for `view`, when a person decided and `names` knows them."""
    if names is None or approval.pending or not PERSON.fullmatch(approval.decided_by or ""):
        return {}
    name = await names(approval.decided_by)
    return {approval.decided_by: name} if name else {}


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
