"""Microsoft Teams, pure (issue 81): who decides there, where a card goes, what was posted.

A Teams decider is (tenant, Azure AD object id): `TeamsMember`, as an invoke names them. They decide as one person
(bot/msteams/ maps them): the Slack user with the same verified email where the company has both, else the
Teams person named in the Teams file (`TEAMS_FILE`), whose person id is `teams:<object id>` (`teams_person`). Votes
and decisions keep the person id, so one person counts once toward a quorum whichever surface they click on.

A `TeamsConversation` is where a card may go (a channel, a group chat, a person's personal chat), as the app learned
it when it was added there (the conversation reference: its id, the Bot Connector's service URL, the tenant); a
`TeamsCopy` is one card posted there (its conversation and activity ids), updated in place on every decision.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal, cast

# the person id grammar lives in bot/core/people.py (issue 88); these names stay for their importers
from bot.core.people import OBJECT_ID as OBJECT_ID
from bot.core.people import TEAMS_PERSON as TEAMS_PERSON
from bot.core.people import TEAMS_PREFIX as TEAMS_PREFIX
from bot.core.people import is_teams_person as is_teams_person
from bot.core.people import teams_person as teams_person

Kind = Literal["channel", "groupChat", "personal"]
KINDS: tuple[Kind, ...] = ("channel", "groupChat", "personal")
SURFACES = ("slack", "teams")  # where a person decided, as the audit and the receipt name it
MAX_REFRESH_USERS = 60  # Teams refreshes a card for at most 60 users (`refresh.userIds`)


@dataclass(frozen=True, slots=True)
class TeamsMember:
    """Who an activity is from: their tenant, Azure AD object id, Teams user id (`29:…`), name and, as the roster
    says it (`GET /v3/conversations/{id}/members/{user id}`), their email and role (`user`, `guest`, ...)."""

    tenant_id: str
    object_id: str
    user_id: str
    name: str = ""
    email: str = ""
    role: str = ""


@dataclass(frozen=True, slots=True)
class TeamsConversation:
    """Where cards may go, as kept when the app was added there: `id` (`19:…@thread.tacv2` for a channel, `a:…` for
    a personal chat), the Bot Connector's `service_url` for it, its `tenant_id`, its `kind`, a display `name`."""

    id: str
    service_url: str
    tenant_id: str
    kind: Kind
    name: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> TeamsConversation:
        data = json.loads(raw)
        kind = data.get("kind")
        if kind not in KINDS:
            raise ValueError(f"unknown conversation kind {kind!r}")
        return cls(str(data["id"]), str(data["service_url"]), str(data["tenant_id"]), cast(Kind, kind),
                   str(data.get("name", "")))


@dataclass(frozen=True, slots=True)
class TeamsCopy:
    """One card of an approval posted in Teams: its conversation and the activity id Teams gave it."""

    conversation_id: str
    activity_id: str
