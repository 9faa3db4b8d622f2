"""Where `/agent config teams` sends a channel's cards in Microsoft Teams (issue 81), from what a person pastes:
a Teams channel's link, a chat's link or a bare conversation id. Pure.

    https://teams.microsoft.com/l/channel/19%3a…%40thread.tacv2/General?groupId=…&tenantId=…   a channel ("Get link
                                                                                               to channel")
    https://teams.microsoft.com/l/chat/19:…@thread.v2/conversations?context=…                  a group chat
    19:…@thread.tacv2, 19:…@thread.v2, 19:…@thread.skype                                       a conversation id

Example:
    `parse_teams_target("https://teams.microsoft.com/l/channel/19%3aabc%40thread.tacv2/General?tenantId=T",
    tenant_id="T")` is `"19:abc@thread.tacv2"`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

CONVERSATION_ID = re.compile(r"^19:[0-9A-Za-z_.=-]{1,200}@thread\.(?:tacv2|v2|skype)$")
HOSTS = ("teams.microsoft.com",)
KINDS = ("channel", "chat")  # /l/channel/<id>/<name>, /l/chat/<id>/<anything>
MAX_TEXT = 2000
FORMS = ("a Teams channel's link (… → *Get link to channel*), a chat's link, or a conversation id such as"
         " `19:…@thread.tacv2`")


def parse_teams_target(text: str, *, tenant_id: str = "") -> str:
    """The Teams conversation id `text` names (a channel's or chat's link, or the id itself); ValueError saying what
    is wrong (never quoting `text`: the caller shows it inert). A link naming another tenant than `tenant_id` (when
    given) is refused: the bot acts in its own tenant only."""
    text = text.strip().strip("<>").strip()
    if not text or len(text) > MAX_TEXT:
        raise ValueError(f"give {FORMS}")
    if "://" not in text:
        if CONVERSATION_ID.fullmatch(text):
            return text
        raise ValueError(f"this is no Teams conversation id nor link: give {FORMS}")
    parts = urlsplit(text)
    if parts.scheme != "https" or (parts.hostname or "").lower() not in HOSTS:
        raise ValueError(f"only links of https://teams.microsoft.com are Teams links: give {FORMS}")
    path = [p for p in parts.path.split("/") if p]
    if len(path) < 3 or path[0] != "l" or path[1] not in KINDS:
        raise ValueError(f"this Teams link names no channel nor chat: give {FORMS}")
    conversation = unquote(path[2])
    if not CONVERSATION_ID.fullmatch(conversation):
        raise ValueError(f"this Teams link's conversation is no channel nor chat id: give {FORMS}")
    tenants = parse_qs(parts.query).get("tenantId") or []
    if not tenants:  # a chat's link carries it in `context` ({"contextType":"chat"}) or not at all
        tenants = re.findall(r'"tid"\s*:\s*"([0-9a-fA-F-]{36})"', unquote(parts.query))
    if tenant_id and any(t.strip().lower() != tenant_id.strip().lower() for t in tenants):
        raise ValueError("this link is of another Microsoft 365 tenant than the bot's (TEAMS_TENANT_ID): the bot"
                         " posts in its own tenant only")
    return conversation
