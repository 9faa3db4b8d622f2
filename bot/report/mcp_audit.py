"""The audit log as MCP's tamper-evident audit records (SEP-3004, a draft: provisional), for `python -m bot audit
export --format sep3004` and `python -m bot audit check-records FILE`.

SEP-3004 ("Tamper-Evident Audit Record Contract", modelcontextprotocol PR #3004) fixes a record's protected core
(`event_id`, `occurred_at`, `principal_id`, `event_type`, `tool_name`, `outcome`, `extensions`, `previous_hash`),
its canonical bytes (keys sorted at every level, no whitespace; strings NFC, trimmed of U+0020 only, no control
character, at most 8,192 code units; values strings, booleans or null, never numbers; `occurred_at` RFC 3339 UTC to
the millisecond with `Z`) and the chain: `event_hash` is SHA-256 of those bytes, `previous_hash` the record before's
`event_hash`, null at a segment's head. An export is one segment: its first record's `previous_hash` is null.

How an entry becomes a record:

- `event_id` the entry's id in the log (unique), `occurred_at` its `at` (else its id's milliseconds);
- `principal_id` who the entry is about: the person who acted (`by`), else the API key (`key`), else the requester
  (`for`), else `system`;
- `event_type` the entry's `event`, `tool_name` its `tool` (null where none; an entry about an approval, a decision
  say, takes the tool and title of the approval's `requested` entry where the export holds it);
- `outcome` (the SEP's closed vocabulary): a decision approved or revised, and an allowed or used call, `allowed`;
  rejected, timed out, cancelled, and every refusal, `denied`; a vote, an ask, a reminder or an escalation,
  `deferred` (non-terminal); a failure, `error`; anything else (a setting changed, a freeze) proceeded: `allowed`;
- one registered extension, `caller-governance`: `purpose_declared` the approval's title, else the run's task, else
  the tool, else the event; `session_id` the approval (else the run); `invoked_by_principal_id` who asked (`for`,
  else `key`) or null; `human_actor_id` the person who acted, where one did; `flagged` true where a person decided
  faster than the card's reading time (`fast`).

Entries hold text people and programs wrote: a control character (which the SEP rejects) is written as its
Unicode picture (a newline as `␊`, U+240A; DEL `␡`; C1 U+FFFD), a text longer than the cap is cut with `…`. The log's
own chain (`audit verify`) holds the entries exactly; these records are a view of them another party can check with
no code of ours: `check_records` is the SEP's verification procedure (§2.6).

    >>> record = seal({"event_id": "1-0", "occurred_at": "2026-06-06T12:00:00.000Z", "principal_id": "U1",
    ...                "event_type": "decision", "tool_name": None, "outcome": "allowed", "previous_hash": None,
    ...                "extensions": {"caller-governance": {"purpose_declared": "Deploy"}}})
    >>> check_records([record]).ok
    True
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CANONICAL_FORM_VERSION = "audit-record-contract/1"
MANIFEST = {
    "storage_mechanism": "redis-stream-hash-chained-signed-checkpoints+write-once-archive",
    "chain_algorithm": "sha-256",
    "canonical_form_version": CANONICAL_FORM_VERSION,
    "verification_procedure_ref": "python -m bot audit check-records FILE (bot/report/mcp_audit.py check_records)",
}
CORE = ("event_id", "occurred_at", "principal_id", "event_type", "tool_name", "outcome", "extensions",
        "previous_hash")
OUTCOMES = ("allowed", "denied", "deferred", "error")
EXTENSION = "caller-governance"
REGISTERED = {"caller-governance": ("purpose_declared",),
              "runtime-security": ("drift_status", "severity", "quarantine_decision", "policy_id")}
MAX_UNITS = 8192
EXCLUDED = ("event_hash", "anchor_witness")  # the output, and §2.8's reserved field: never in the preimage
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")

ALLOWED_DECISIONS = frozenset({"approved", "revised", "always_allow", "rule_create"})
DEFERRED_EVENTS = frozenset({"vote", "requested", "reminded", "escalated", "unfreeze_asked", "policy_shadow"})


class RecordError(ValueError):
    """A value the SEP's canonical form refuses (a control character, a number, a text too long...)."""


def _text(value: str) -> str:
    """A protected string in the canonical form: NFC, trimmed of U+0020 only; a control character, an unpaired
    surrogate or a text over the cap is refused (`RecordError`)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RecordError("an unpaired surrogate in a protected string") from exc
    text = unicodedata.normalize("NFC", value).strip(" ")
    if _CONTROLS.search(text):
        raise RecordError("a control character in a protected string")
    if len(text.encode("utf-16-le")) // 2 > MAX_UNITS:
        raise RecordError(f"a protected string over {MAX_UNITS} code units")
    return text


def _protected(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Mapping):
        return {str(key): _protected(item) for key, item in value.items()}
    raise RecordError(f"a protected value must be a string, a boolean or null, not {type(value).__name__}")


def canonical_form(record: Mapping[str, Any]) -> bytes:
    """The SEP's canonical bytes of a record's protected body (§2.3): everything but `event_hash` and
    `anchor_witness`, keys sorted at every level, no whitespace, UTF-8 written as itself."""
    body = {key: value for key, value in record.items() if key not in EXCLUDED}
    return json.dumps(_protected(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the record's canonical form, in lowercase hex (§2.4)."""
    return hashlib.sha256(canonical_form(record)).hexdigest()


def seal(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with its `event_hash`."""
    return {**record, "event_hash": event_hash(record)}


def shown(value: str) -> str:
    """Text as a protected string: control characters as their pictures (C0 U+2400 + code, DEL ␡, C1 U+FFFD),
    NFC, cut to the cap with an ellipsis."""
    text = _CONTROLS.sub(_picture, value.encode("utf-8", "replace").decode("utf-8"))
    text = unicodedata.normalize("NFC", text).strip(" ")
    if len(text.encode("utf-16-le")) // 2 <= MAX_UNITS:
        return text
    cut = text.encode("utf-16-le")[: (MAX_UNITS - 1) * 2].decode("utf-16-le", "ignore")
    return cut + "…"


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else "\ufffd"


def outcome_of(entry: Mapping[str, str]) -> str:
    """The SEP's disposition of an entry (see the module)."""
    event = entry.get("event") or ""
    if event == "decision":
        return "allowed" if (entry.get("outcome") or "") in ALLOWED_DECISIONS else "denied"
    if event in ("auto_rejected",) or event.endswith("refused"):
        return "denied"
    if event in DEFERRED_EVENTS:
        return "deferred"
    if event.endswith(("failed", "given_up")):
        return "error"
    return "allowed"


def occurred_at(entry_id: str, entry: Mapping[str, str]) -> str:
    """RFC 3339 UTC to the millisecond: the entry's `at`, else its stream id's milliseconds."""
    try:
        millis = round(float(entry["at"]) * 1000)
    except (KeyError, ValueError):
        millis = int(entry_id.split("-", 1)[0] or 0)
    whole, part = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{part:03d}Z"


def _first(entry: Mapping[str, str], *names: str) -> str | None:
    return next((entry[name] for name in names if entry.get(name)), None)


def record_of(entry_id: str, entry: Mapping[str, str], *, previous: str | None) -> dict[str, Any]:
    """One audit entry as a sealed SEP-3004 record chained after `previous` (null: a segment's head)."""
    person = entry.get("by") or None
    governance: dict[str, Any] = {
        "purpose_declared": shown(_first(entry, "title", "task", "tool", "event") or "(none)"),
        "session_id": _maybe(_first(entry, "approval", "run")),
        "invoked_by_principal_id": _maybe(_first(entry, "for", "key")),
    }
    if person is not None:
        governance["human_actor_id"] = shown(person)
    if entry.get("fast") in ("true", "false"):
        governance["flagged"] = entry["fast"] == "true"
    return seal({
        "event_id": shown(entry_id),
        "occurred_at": occurred_at(entry_id, entry),
        "principal_id": shown(_first(entry, "by", "key", "for") or "system"),
        "event_type": shown(entry.get("event") or "(none)"),
        "tool_name": _maybe(entry.get("tool")),
        "outcome": outcome_of(entry),
        "extensions": {EXTENSION: governance},
        "previous_hash": previous,
    })


def _maybe(value: str | None) -> str | None:
    return shown(value) if value else None


ASKED = ("tool", "title")  # what a decision's entry does not repeat: its approval's `requested` entry says it


def records_of(entries: Iterable[tuple[str, Mapping[str, str]]]) -> Iterable[dict[str, Any]]:
    """Entries (id, fields), in the log's order, as one chain segment of records; an entry about an approval takes
    the tool and title its `requested` entry gave, where that is in the segment."""
    previous: str | None = None
    asked: dict[str, dict[str, str]] = {}
    for entry_id, entry in entries:
        approval = entry.get("approval") or ""
        if entry.get("event") == "requested" and approval:
            asked[approval] = {name: entry[name] for name in ASKED if entry.get(name)}
        record = record_of(entry_id, {**asked.get(approval, {}), **entry}, previous=previous)
        previous = record["event_hash"]
        yield record


@dataclass
class Verdict:
    """What `check_records` found: `ok` when every record conforms and the chain holds."""

    records: int = 0
    segments: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_json(self) -> dict[str, Any]:
        return {"verdict": "pass" if self.ok else "fail", "records": self.records, "segments": self.segments,
                "failures": self.failures[:20], "manifest": MANIFEST}


def shape_problems(record: Mapping[str, Any]) -> list[str]:
    """What in a record breaks the SEP's core and extension rules (C-REC-1)."""
    problems = [f"missing {name}" for name in (*CORE, "event_hash") if name not in record]
    if problems:
        return problems
    if record["outcome"] not in OUTCOMES:
        problems.append(f"outcome {record['outcome']!r} is not one of {', '.join(OUTCOMES)}")
    if not isinstance(record["occurred_at"], str) or not _TIME.fullmatch(record["occurred_at"]):
        problems.append("occurred_at is not RFC 3339 UTC to the millisecond")
    extensions = record["extensions"]
    if not isinstance(extensions, Mapping) or not extensions:
        return [*problems, "extensions must hold at least one registered extension"]
    for name, data in extensions.items():
        if name not in REGISTERED:
            problems.append(f"unregistered extension {name!r}")
        elif not isinstance(data, Mapping) or any(need not in data for need in REGISTERED[name]):
            problems.append(f"extension {name!r} lacks {', '.join(REGISTERED[name])}")
    return problems


def check_records(records: Iterable[Mapping[str, Any]]) -> Verdict:
    """The SEP's verification procedure (§2.6): each record's shape and `event_hash` recomputed, and
    `previous_hash` threaded through each segment (a null one starts a segment). Deterministic."""
    verdict = Verdict()
    previous: str | None = None
    for place, record in enumerate(records, start=1):
        verdict.records += 1
        name = f"record {place} ({record.get('event_id')!r})"
        verdict.failures.extend(f"{name}: {problem}" for problem in shape_problems(record))
        try:
            if event_hash(record) != record.get("event_hash"):
                verdict.failures.append(f"{name}: event_hash does not match its body (altered)")
        except RecordError as exc:
            verdict.failures.append(f"{name}: {exc}")
        linked = record.get("previous_hash")
        if linked is None:
            verdict.segments += 1
        elif linked != previous:
            verdict.failures.append(f"{name}: previous_hash is not the record before's (inserted, deleted or moved)")
        previous = record.get("event_hash") if isinstance(record.get("event_hash"), str) else None
    return verdict


def check_records_command(*, path: str) -> int:
    """`python -m bot audit check-records FILE`: the verdict as JSON on standard output (with the attestation
    manifest, §2.7); exit 0 when the records pass, 1 when they do not, 2 when the file cannot be read as JSON lines."""
    try:
        with open(path, encoding="utf-8") as lines:
            records = [json.loads(line) for line in lines if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(json.dumps({"verdict": "unreadable", "error": f"{path}: {exc}"}))
        return 2
    if not all(isinstance(record, dict) for record in records):
        print(json.dumps({"verdict": "unreadable", "error": f"{path}: each line must be a JSON object"}))
        return 2
    verdict = check_records(records)
    print(json.dumps(verdict.as_json(), ensure_ascii=False, indent=2))
    return 0 if verdict.ok else 1
