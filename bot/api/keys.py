"""Making API keys, one way for every door: `python -m bot keys create` (bot/cli/keys.py), `/agent keys create` in
Slack and dev mode's key all call `create_key`, which checks what it is given and says why not in words."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Unpack

from bot.core.key_records import DEFAULT_MAX_PENDING, DEFAULT_PER_MINUTE, KEY_NAME
from bot.core.records import ENTERPRISE_ID, TEAM_ID
from bot.core.workspaces import WorkspaceRef
from bot.store import NewKey, Store
from bot.store.api_keys import MAX_CHANNELS, KeyTerms

CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,23}$")
# a sponsor as given: `@U…`, `U…`, or Slack's escaped mention `<@U…>` / `<@U…|ana>` (a slash command's text)
SPONSOR = re.compile(r"^(?:<@([UW][A-Z0-9]{2,23})(?:\|[^>]*)?>|@?([UW][A-Z0-9]{2,23}))$")
SPONSOR_WORDS = ("a sponsor is a person's Slack member id (U…), as @U… or U… (Slack: their profile → ⋮ → Copy member"
                 " ID), or an @mention in Slack")


def sponsor_of(text: str) -> str | None:
    """The Slack user id `text` names as a key's sponsor (`--sponsor @U…`), or None when it names none."""
    found = SPONSOR.fullmatch(text.strip())
    return (found.group(1) or found.group(2)) if found else None


async def create_key(
    store: Store,
    name: str,
    channels: Sequence[str],
    *,
    by: str,
    **terms: Unpack[KeyTerms],
) -> NewKey | str:
    """A new key on `terms` (its `workspace`, None: the home workspace, as keys made before keys carried one), or
    why not (a message for the person who asked). `operator`: more of who made it, for its audit entry (a command's
    OS user, host and claimed name)."""
    workspace = terms.get("workspace")
    max_pending = terms.get("max_pending", DEFAULT_MAX_PENDING)
    per_minute = terms.get("per_minute", DEFAULT_PER_MINUTE)
    if not KEY_NAME.fullmatch(name):
        return "a key's name is 1 to 40 lowercase letters, digits or _ . - (starting with a letter or digit)"
    if not channels:
        return "name at least one channel the key may ask in (--channel C…)"
    if len(channels) > MAX_CHANNELS:
        return f"a key may ask in at most {MAX_CHANNELS} channels"
    wrong = [c for c in channels if not CHANNEL.fullmatch(c)]
    if wrong:
        return f"{wrong[0][:30]!r} is not a channel id (C… or G…)"
    if not 1 <= max_pending <= 100_000 or not 1 <= per_minute <= 100_000:
        return "limits are whole numbers from 1 to 100000"
    if workspace is not None and not _reads_as_workspace(workspace):
        return "a workspace is a team id (T…), and its organisation an enterprise id (E…)"
    if workspace is not None and workspace.enterprise is None:
        org = await store.tenants.organisation_of(workspace.team)
        if org is not None:  # its asks would name a workspace the app is not installed in on its own: each a 403
            return (f"workspace {workspace.team} is of the Enterprise Grid organisation {org}, where the app is"
                    f" installed org-wide: name it too (--team {workspace.team} --enterprise {org})")
    if workspace is not None and workspace.enterprise is not None:
        added = await store.tenants.added_to(workspace.enterprise)
        if added is not None and workspace.team not in added:  # its every ask would be refused: not made
            return (f"the app is approved for the Enterprise Grid organisation {workspace.enterprise} but not added to"
                    f" workspace {workspace.team} (Slack's word at the workers' last check): an org admin adds it to"
                    " that workspace in the organisation's app settings; then make the key")
    made = await store.api_keys.create(name, channels, by=by, **terms)
    return made if made is not None else f"there is a key named {name} already (revoke it first)"


def _reads_as_workspace(workspace: WorkspaceRef) -> bool:
    """A team id (T…), and an enterprise id (E…) if any."""
    enterprise = workspace.enterprise
    return bool(TEAM_ID.fullmatch(workspace.team)) and (enterprise is None or bool(ENTERPRISE_ID.fullmatch(enterprise)))
