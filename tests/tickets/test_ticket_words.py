"""What a change ticket says and how a card names it (issue 91), pure: the card's line through its one escaping path,
the ticket's words (ADF for Jira, the decision, who and when), and the settings a ticket system needs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core.settings import Settings, SettingsError
from bot.core.ticket_refs import TicketRef, ticket_ref
from bot.slack.blocks.approval_card import build_approval_blocks
from bot.slack.blocks.card_notes import ticket_line
from bot.tickets.desk import change_of, closing_of
from bot.tickets.systems import adf
from tests.support.records import approval

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "APPROVALS_CHANNEL": "C0APPROVALS"}


def test_the_card_names_its_change_linked_only_to_an_https_page_and_escaped() -> None:
    linked = ticket_line(TicketRef("jira", "CHG-12", "https://example.atlassian.net/browse/CHG-12"))
    assert linked == ":ticket: Change <https://example.atlassian.net/browse/CHG-12|CHG-12> in Jira"
    hostile = ticket_line(TicketRef("servicenow", "<!channel> *CHG1*", "javascript:alert(1)"))
    assert "<!channel>" not in hostile and "&lt;!channel&gt;" in hostile and "javascript" not in hostile
    record = replace(approval(), ticket=TicketRef("jira", "CHG-12", "http://127.0.0.1:1/browse/CHG-12").dumps())
    shown = str(build_approval_blocks(record))
    assert ":ticket: Change `CHG-12` in Jira" in shown and "127.0.0.1" not in shown
    assert ticket_ref("") is None and ticket_ref("{not json") is None and ticket_ref('{"system": "jira"}') is None


def test_a_ticket_says_the_call_and_its_close_says_the_decision_who_and_when() -> None:
    asked = replace(approval(), kind="tool_call", tool_name="deploy", arguments='{"env": "prod"}', task="Ship  it")
    change = change_of(asked)
    assert change.summary == "Approval: deploy call · Ship it" and change.approval_id == asked.id
    assert any('{"env": "prod"}' in line for line in change.lines)
    doc = adf(("one", "", "two"))
    assert doc["type"] == "doc" and [p["content"][0]["text"] for p in doc["content"]] == ["one", "two"]
    rejected = replace(asked, status="rejected", decided_by="U0BOB", decided_at=0.0 + 1_700_000_000,
                       feedback="not today")
    closing = closing_of(rejected)
    assert not closing.approved
    assert closing.lines == ("Decision: rejected by U0BOB at 2023-11-14 22:13:20 UTC.", "Reason: not today")
    assert closing_of(replace(asked, status="approved", decided_by="U0BOB", decided_at=1.0)).approved


@pytest.mark.parametrize(("env", "says"), [
    ({"JIRA_URL": "https://x.atlassian.net", "JIRA_EMAIL": "a@b.c"}, "JIRA_URL needs JIRA_EMAIL, JIRA_API_TOKEN"),
    ({"SERVICENOW_URL": "https://x.service-now.com", "SERVICENOW_USER": "u"}, "SERVICENOW_URL needs"),
    ({"TICKET_RETRIES": "soon"}, "TICKET_RETRIES"),
    ({"JIRA_URL": "ftp://x"}, "JIRA_URL"),
])
def test_a_ticket_system_half_set_up_is_refused_at_the_start(env: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError, match=says) as refused:
        Settings.from_env({**BASE, **env})
    assert "a@b.c" not in str(refused.value) or "JIRA_EMAIL" in str(refused.value)


def test_the_secrets_of_a_ticket_system_never_show() -> None:
    settings = Settings.from_env({**BASE, "JIRA_URL": "https://x.atlassian.net", "JIRA_EMAIL": "a@b.c",
                                  "JIRA_API_TOKEN": "tok-secret", "JIRA_PROJECT": "CHG",
                                  "SERVICENOW_URL": "https://x.service-now.com", "SERVICENOW_TOKEN": "sn-secret"})
    assert "tok-secret" not in repr(settings) and "sn-secret" not in repr(settings)
    assert settings.ticket_retries == (30, 120, 600, 1800) and settings.jira_issue_type == "Task"
