"""A change ticket as an approval names it (issue 91): the ticket system, the ticket's key (Jira's `CHG-12`,
ServiceNow's `CHG0030001`) and its page, kept as JSON in the approval's `ticket` field and shown on its card. Pure."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Final

SYSTEMS: Final = {"jira": "Jira", "servicenow": "ServiceNow"}  # the systems, as people read their names


@dataclass(frozen=True, slots=True)
class TicketRef:
    system: str
    key: str
    url: str = ""

    @property
    def system_name(self) -> str:
        return SYSTEMS.get(self.system, self.system)

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def ticket_ref(stored: str) -> TicketRef | None:
    """The ticket an approval's `ticket` field names (None: none, or not one this version reads)."""
    if not stored:
        return None
    try:
        found = json.loads(stored)
    except ValueError:
        return None
    if not isinstance(found, dict) or not all(isinstance(found.get(k), str) for k in ("system", "key", "url")):
        return None
    return TicketRef(system=found["system"], key=found["key"], url=found["url"]) if found["key"] else None
