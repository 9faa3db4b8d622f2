"""Pure: one audit entry as an OCSF 1.5 API Activity event (class 6003, category 6 Application Activity).

The entry's stream id is the event's unique id (`metadata.uid`), so a receiver drops a repeat (the stream delivers at
least once); its seq is `metadata.sequence`, in order. What happened is the activity (`requested`: Create; a decision,
a vote, a setting: Update; a revocation or an end: Delete; a reveal or an export: Read; the rest: Other, named) and
the API operation (the entry's `event`); who did it the actor; a refusal a Failure with its reason. The entry's own
fields follow unchanged under `unmapped`: the audit keeps no secret (a hidden value is there as its path and keyed
commitment, the arguments as their redacted copy: bot/store/opening.py), so neither does the event.

    >>> event = api_activity("1700000000000-0", {"event": "decision", "by": "U1", "approval": "A1", "seq": "7"},
    ...                      product_version="1.0")
    >>> event["class_uid"], event["type_uid"], event["metadata"]["uid"], event["metadata"]["sequence"]
    (6003, 600303, '1700000000000-0', 7)
"""

from __future__ import annotations

from typing import Any

OCSF_VERSION = "1.5.0"
CLASS_UID, CATEGORY_UID = 6003, 6
CLASS_NAME, CATEGORY_NAME = "API Activity", "Application Activity"
PRODUCT = "HITL Approvals"
VENDOR = "agent-approvals"
CREATE, READ, UPDATE, DELETE, OTHER = 1, 2, 3, 4, 99
ACTIVITY_NAMES = {CREATE: "Create", READ: "Read", UPDATE: "Update", DELETE: "Delete", OTHER: "Other"}
ACTIVITIES = {
    CREATE: {"requested", "installed", "frozen", "away", "attestation_brief", "attested", "attestation_granted",
             "signing_key", "passkey_enrolled", "rule_created", "api_key_created", "run_started", "audit_finding"},
    READ: {"revealed", "audit_exported", "authzen_evaluated"},
    UPDATE: {"decision", "vote", "auto_approved", "auto_rejected", "escalated", "settings", "unfrozen",
             "unfreeze_asked", "away_ended", "used", "receipt_used", "passkey_confirmed", "run_finished",
             "drill_ended", "freeze_drill", "api_key_rotated", "key_sponsor", "sponsor_left", "signing_rotated",
             "audit_cleared", "workspaces_moved"},
    DELETE: {"uninstalled", "passkey_revoked", "passkey_removed", "rule_ended", "api_key_revoked",
             "attestation_revoked", "cancelled", "withdrawn"},
}
REFUSED = {"refused", "api_refused", "keys_refused", "receipt_refused", "rule_refused", "email_given_up"}
SUCCESS, FAILURE = 1, 2
INFORMATIONAL, LOW = 1, 2


def activity_of(event: str) -> int:
    """The OCSF activity of an entry's `event` word."""
    return next((activity for activity, words in ACTIVITIES.items() if event in words), OTHER)


def time_of(entry_id: str) -> int:
    """When the entry was written, in epoch milliseconds (its stream id's first part)."""
    ms = entry_id.partition("-")[0]
    return int(ms) if ms.isascii() and ms.isdigit() else 0


def api_activity(entry_id: str, fields: dict[str, str], *, product_version: str, chain: str = "") -> dict[str, Any]:
    """The OCSF 1.5 API Activity event of the audit entry `entry_id` (`fields` as stored) of the audit chain `chain`
    ("": home's; else a tenant's, whose seqs are its own: `metadata.log_name` `audit/<tenant>`)."""
    word = fields.get("event", "") or "unknown"
    activity = activity_of(word)
    failed = word in REFUSED
    seq = fields.get("seq", "")
    approval = fields.get("approval", "")
    event: dict[str, Any] = {
        "class_uid": CLASS_UID, "class_name": CLASS_NAME, "category_uid": CATEGORY_UID,
        "category_name": CATEGORY_NAME, "activity_id": activity,
        "activity_name": ACTIVITY_NAMES[activity] if activity != OTHER else word,
        "type_uid": CLASS_UID * 100 + activity, "type_name": f"{CLASS_NAME}: {ACTIVITY_NAMES[activity]}",
        "severity_id": LOW if failed else INFORMATIONAL, "severity": "Low" if failed else "Informational",
        "status_id": FAILURE if failed else SUCCESS, "status": "Failure" if failed else "Success",
        "time": time_of(entry_id), "message": _message(word, fields),
        "metadata": _metadata(entry_id, seq, fields, product_version=product_version, chain=chain),
        "api": {"operation": word, "service": {"name": "hitl-approvals"},
                **({"request": {"uid": approval}} if approval else {})},
        "actor": _actor(fields),
        "src_endpoint": {"svc_name": fields.get("surface") or "hitl-approvals"},
        "unmapped": dict(fields),
    }
    if failed and (reason := fields.get("reason") or fields.get("why") or ""):
        event["status_detail"] = reason[:500]
    if approval:
        event["resources"] = [{"uid": approval, "type": "approval",
                               **({"name": fields["tool"]} if fields.get("tool") else {})}]
    return event


def _metadata(entry_id: str, seq: str, fields: dict[str, str], *, product_version: str, chain: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "version": OCSF_VERSION, "uid": entry_id, "log_name": f"audit/{chain}" if chain else "audit",
        "event_code": fields.get("event", ""),
        "product": {"name": PRODUCT, "vendor_name": VENDOR, "version": product_version},
    }
    if seq.isascii() and seq.isdigit():
        metadata["sequence"] = int(seq)
    if fields.get("approval"):
        metadata["correlation_uid"] = fields["approval"]
    if fields.get("team"):
        metadata["tenant_uid"] = fields["team"]
    return metadata


def _actor(fields: dict[str, str]) -> dict[str, Any]:
    """Who did it: the person (a Slack id, `teams:…`), the model, the API key or the bot itself."""
    who = fields.get("by", "")
    if not who:
        return {"app_name": "hitl-approvals"}
    return {"user": {"uid": who, **({"type": "model"} if who.startswith("model:") else {})}}


def _message(word: str, fields: dict[str, str]) -> str:
    parts = [word]
    if outcome := fields.get("outcome", ""):
        parts.append(outcome)
    if fields.get("approval"):
        parts.append(f"approval {fields['approval']}")
    if fields.get("by"):
        parts.append(f"by {fields['by']}")
    return " ".join(parts)[:500]
