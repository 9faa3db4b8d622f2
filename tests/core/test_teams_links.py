"""`/agent config teams <link or id>`'s parser (bot/core/msteams_links.py): a Teams channel's or chat's link, or a
conversation id, to the conversation id; anything else, and another tenant's link, refused in clear words."""

from __future__ import annotations

import pytest

from bot.core.msteams_links import parse_teams_target

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CHANNEL = "19:4d1b2f0c8e5a4b6f9a2c3d4e5f6a7b8c@thread.tacv2"
CHANNEL_LINK = ("https://teams.microsoft.com/l/channel/19%3a4d1b2f0c8e5a4b6f9a2c3d4e5f6a7b8c%40thread.tacv2/"
                f"Approvals?groupId=0f3e8a6c-1b2d-4e5f-8a9b-0c1d2e3f4a5b&tenantId={TENANT}")
CHAT = "19:meeting_a1b2c3@thread.v2"
CHAT_LINK = ("https://teams.microsoft.com/l/chat/19:meeting_a1b2c3@thread.v2/conversations?context="
             "%7B%22contextType%22%3A%22chat%22%7D")


def test_a_channels_link_a_chats_link_and_an_id_name_their_conversation() -> None:
    assert parse_teams_target(CHANNEL_LINK, tenant_id=TENANT) == CHANNEL
    assert parse_teams_target(CHANNEL_LINK.replace("%3a", "%3A"), tenant_id=TENANT.upper()) == CHANNEL
    assert parse_teams_target(f"<{CHANNEL_LINK}>") == CHANNEL  # as Slack escapes a link in a command
    assert parse_teams_target(CHAT_LINK, tenant_id=TENANT) == CHAT
    assert parse_teams_target(f"  {CHANNEL} ") == CHANNEL
    assert parse_teams_target("19:abc@thread.skype") == "19:abc@thread.skype"


def test_another_tenants_link_is_refused() -> None:
    other = CHANNEL_LINK.replace(TENANT, "00000000-0000-0000-0000-000000000001")
    with pytest.raises(ValueError, match="another Microsoft 365 tenant than the bot's"):
        parse_teams_target(other, tenant_id=TENANT)
    chat = CHAT_LINK.replace("%7D", "%2C%22tid%22%3A%2200000000-0000-0000-0000-000000000001%22%7D")
    with pytest.raises(ValueError, match="another Microsoft 365 tenant"):
        parse_teams_target(chat, tenant_id=TENANT)
    assert parse_teams_target(other) == CHANNEL  # (the tenant is checked where the worker's is known)


@pytest.mark.parametrize(("text", "words"), [
    ("", "give a Teams channel's link"),
    ("general", "no Teams conversation id nor link"),
    ("19:abc@thread.tacv2 <!channel>", "no Teams conversation id nor link"),
    ("a:1personal", "no Teams conversation id nor link"),
    ("http://teams.microsoft.com/l/channel/19%3aabc%40thread.tacv2/x", "only links of https://teams.microsoft.com"),
    ("https://evil.example/l/channel/19%3aabc%40thread.tacv2/x", "only links of https://teams.microsoft.com"),
    ("https://teams.microsoft.com/l/team/19%3aabc%40thread.tacv2/conversations", "names no channel nor chat"),
    ("https://teams.microsoft.com/l/channel/19%3aab%3Cc%40thread.tacv2/x", "is no channel nor chat id"),
    ("x" * 3000, "give a Teams channel's link"),
])
def test_anything_else_is_refused_saying_what_to_give(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as refused:
        parse_teams_target(text)
    assert "<!channel>" not in str(refused.value) and "evil" not in str(refused.value)  # never quoting the input
