"""The change tickets' Redis keys (issue 91; bot/store/keys.py holds every other key and is at its size limit), under
the same prefix (`Keys.prefix`: a tenant's keys are its own). Every key expires; nothing is renamed elsewhere.

{p}:ticket:{<id>}             hash    an approval's change ticket: system, key (the   KEEP_SECONDS after its last
                                      system's: `CHG-12`, `CHG0030001`), ref (Jira's  write
                                      issue id, ServiceNow's sys_id), url, state
                                      (wanted, open, closed, failed), tries (of the
                                      step now due), commented (1: Jira's decision
                                      comment posted)
{p}:tickets:due               zset    (bot/store/keys.py: the tickets' due set, `SurfaceDue`)
"""

from __future__ import annotations

from bot.store.key_names import Family
from bot.store.keys import Keys

KEEP_SECONDS = 90 * 86400  # a ticket's record outlives its last change this long


class TicketKeys:
    """The change tickets' key names over one store's `Keys` (its table, as `Keys`': bot/store/key_names.py)."""

    def __init__(self, keys: Keys) -> None:
        self.prefix, self.root = keys.prefix, keys.root

    ticket = Family("ticket", tagged=True)
