"""Pure: an OCSF event as one RFC 5424 syslog message, octet-counted for a TLS transport (RFC 5425, RFC 6587).

    <110>1 2023-11-14T22:13:20.000Z host hitl-approvals - decision [meta sequenceId="7"] BOM{"class_uid":6003,...}

Facility 13 (log audit), severity 6 (informational; 4, warning, for a refusal); the MSGID is the entry's `event`;
the structured data's `meta` (RFC 5424 §7.3) carries the seq, and the message is the event's JSON (UTF-8, with
its BOM). Each message goes framed as `MSG-LEN SP SYSLOG-MSG`.

    >>> frame(b"abc")
    b'3 abc'
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

FACILITY = 13  # log audit
INFO, WARNING = 6, 4
APP = "hitl-approvals"
BOM = "\ufeff"
_PRINTABLE = re.compile(r"[^\x21-\x7e]")


def message(event: dict[str, Any], *, host: str) -> bytes:
    """The RFC 5424 message of `event` (an OCSF event of bot/audit/siem/ocsf.py)."""
    metadata = event.get("metadata", {})
    severity = WARNING if event.get("status_id") == 2 else INFO
    stamp = datetime.fromtimestamp(int(event.get("time", 0)) / 1000, UTC).isoformat(timespec="milliseconds")
    msgid = _PRINTABLE.sub("_", str(metadata.get("event_code") or "-"))[:32] or "-"
    sequence = metadata.get("sequence")
    data = f'[meta sequenceId="{sequence}"]' if isinstance(sequence, int) and 0 < sequence < 2**31 else "-"
    header = f"<{FACILITY * 8 + severity}>1 {stamp.replace('+00:00', 'Z')} {_name(host)} {APP} - {msgid} {data} "
    return (header + BOM + json.dumps(event, separators=(",", ":"), ensure_ascii=False)).encode()


def frame(msg: bytes) -> bytes:
    """One message octet-counted (RFC 6587 §3.4.1, as RFC 5425 frames it)."""
    return str(len(msg)).encode() + b" " + msg


def _name(host: str) -> str:
    return _PRINTABLE.sub("_", host)[:255] or "-"
