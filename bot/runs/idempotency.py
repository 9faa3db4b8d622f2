"""Each slash command is done once.

Slack gives every invocation its own `trigger_id`; a replay of the same signed request (accepted
for 5 minutes) carries the same one. The first delivery claims it (the store's do-once step, `Workers.first`)
before anything is done; a later delivery finds the claim and does nothing.
"""

from __future__ import annotations

import re

from bot.store import Store

TRIGGER_ID = re.compile(r"^[0-9A-Za-z._-]{1,128}$")
KEEP_SECONDS = 600  # twice the 5 minutes in which Slack's signature of a request is accepted
IN_PROGRESS = "-"


def command_key(store: Store, trigger_id: str) -> str:
    return store.keys.command(trigger_id)


async def claim_command(store: Store, trigger_id: str) -> str | None:
    """None when this is the first delivery of the command (now claimed). Otherwise what the first
    delivery recorded with `record_command` (`IN_PROGRESS` until it has)."""
    return await store.workers.first(command_key(store, trigger_id), IN_PROGRESS, seconds=KEEP_SECONDS)


async def record_command(store: Store, trigger_id: str, outcome: str) -> None:
    """What the first delivery did (e.g. the run it started), for a replay's answer."""
    await store.workers.note(command_key(store, trigger_id), outcome)
