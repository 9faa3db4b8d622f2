"""Each kind of audit entry as an OCSF 1.5 API Activity event that passes the schema (ocsf-emitter's models), with the
entry's id as its unique id and its seq in order; a refusal a Failure with its reason; as an RFC 5424 message, framed
by its octet count."""

from __future__ import annotations

import json

import pytest

from bot.audit.siem.ocsf import OTHER, api_activity
from bot.audit.siem.syslog import frame, message
from tests.support.siem import SYSLOG_LINE, ocsf_checked

pytestmark = pytest.mark.slow  # OCSF's 200 event models, built at the first check: 1.9 s of CPU (tests/support/slow.py)

ENTRIES = [
    {"event": "requested", "approval": "A1", "by": "U1", "tool": "send_email", "arguments": '{"to":"b@x.io"}'},
    {"event": "decision", "outcome": "approved", "by": "teams:3f2c", "approval": "A1", "surface": "teams"},
    {"event": "vote", "by": "model:triage", "approval": "A1"},
    {"event": "refused", "by": "U9", "reason": "outsider", "approval": "A1"},
    {"event": "settings", "by": "U1", "channel": "C1", "key": "timeout", "value": "15m"},
    {"event": "revealed", "by": "U1", "approval": "A1"},
    {"event": "uninstalled", "team": "T1"},
    {"event": "something_new"},
]


@pytest.mark.parametrize("fields", ENTRIES, ids=[e["event"] for e in ENTRIES])
def test_each_entry_is_a_valid_ocsf_event(fields: dict[str, str]) -> None:
    entry_id = "1732850000123-4"
    event = ocsf_checked(api_activity(entry_id, {**fields, "at": "1732850000.1", "seq": "42"}, product_version="9"))
    assert event["metadata"]["uid"] == entry_id and event["metadata"]["sequence"] == 42
    assert event["time"] == 1732850000123 and event["api"]["operation"] == fields["event"]
    assert event["unmapped"]["event"] == fields["event"]
    if fields["event"] == "refused":
        assert (event["status_id"], event["status_detail"]) == (2, "outsider")
    else:
        assert event["status_id"] == 1
    if fields["event"] == "something_new":
        assert event["activity_id"] == OTHER and event["activity_name"] == "something_new"


def test_an_event_as_an_rfc_5424_message_octet_counted() -> None:
    event = api_activity("1732850000123-4", {"event": "refused", "by": "U9", "reason": "outsider", "seq": "7"},
                         product_version="9")
    framed = frame(message(event, host="worker 1"))
    length, _, msg = framed.partition(b" ")
    assert int(length) == len(msg)
    found = SYSLOG_LINE.fullmatch(msg)
    assert found is not None, msg
    assert int(found.group(1)) == 13 * 8 + 4  # log audit, warning (a refusal)
    assert found.group(2) == b"2024-11-29T03:13:20.123Z" and found.group(3) == b"worker_1"
    assert (found.group(6), found.group(7)) == (b"refused", b'[meta sequenceId="7"]')
    assert json.loads(found.group(8)) == event
