"""What a link surface sends and when (bot/links/sends.py, shared by e-mail and push): a send once sent or given up
is never tried again; a kind not published yet is not tried unless tried before (its retry); a record is kept past
the deadline; the reminders' and the escalation's kinds go only to those still to decide."""

from __future__ import annotations

from dataclasses import replace

from bot.links.sends import KEEP_AFTER, due_a_try, keep_for, pending_sends
from tests.support.records import approval


def test_a_send_is_tried_when_fresh_or_retried_never_once_sent_or_given_up() -> None:
    fresh = {"opened"}
    assert due_a_try("", "opened", fresh)
    assert due_a_try("retry:123:1", "reminded", fresh)  # tried before: its retry
    assert not due_a_try("", "reminded", fresh)  # not published yet
    assert not due_a_try("sent:<id>", "opened", fresh)
    assert not due_a_try("failed:3", "opened", fresh)


def test_a_record_outlives_the_deadline_and_the_nudges_skip_who_voted() -> None:
    assert keep_for(1000.0, 400.0) == 600 + KEEP_AFTER
    assert keep_for(400.0, 1000.0) == 8 * KEEP_AFTER
    record = replace(approval("se-00000-a"), remind=("60",), votes="U0BOB")
    assert pending_sends(record, ["U0ANN", "U0BOB"]) == [
        ("U0ANN", "opened"), ("U0BOB", "opened"), ("U0ANN", "reminded"), ("U0ANN", "escalated")]
