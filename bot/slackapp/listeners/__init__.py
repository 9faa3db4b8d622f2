"""Listeners by Slack surface. Each module has `register(app)`; handlers carry no decorators, and each takes the
parts that serve its request from the request's context (`parts_of(context)`, `bot/slackapp/context.py`: resolved
at the edge), never from the app: one Bolt app serves every workspace.

    slash_command.py  `/agent ...`: every form acked at once, before any model call
    actions.py        the approval buttons, wherever they are: the card, its DM copies, an App Home
    views.py          the Reject, Revise and Always allow modals' submissions (`submission`: the brief's too)
    artifact_edits.py  a Revise modal's edit of a change (a message's body, a file's new text) read back and checked
                      (for views.py; no `register`)
    rule_form.py      the Always allow modal's form read into a rule, and its signed metadata (for views.py; no
                      `register`)
    home.py           the App Home: opening it, its own buttons, batch decisions
    passkeys.py       passkeys: the Home's "Set up a passkey" and Remove, `/agent passkeys revoke`
    sessions.py       runs as agent sessions: Slack's Stop button, a task sent in the Messages tab
    reveal.py         a card's "Show hidden values" (`reveal`): a one-time link to the bot's reveal page
    triage_reverse.py  a card's Reverse of a triage model's held approval (TRIAGE_HOLD): its channel's admins only
    config_command.py  `/agent config <key> <value>`: who may, checked against Slack and the other settings, its
                      warnings (for slash_command.py; no `register`)
    teams_config.py   `/agent config teams`: what only the worker checks of a Teams route (TEAMS_APP_ID, the link's
                      tenant, refused and audited), and whether the bot is in it yet (for config_command.py)
    freeze.py         `/agent freeze` and `/agent unfreeze` (four eyes), answered for slash_command.py (no
                      `register`: no surface of its own)
    attest.py         `/agent attest ...` (fit to decide; for slash_command.py) and the brief's modal
    sponsors.py       `user_change`: a deactivated person who sponsors API keys, said to the admins (and
                      `SponsorCheck`: the sponsors asked about again each TOKEN_CHECK_INTERVAL)
    installs.py       the app leaving a workspace: `app_uninstalled`, `tokens_revoked` (`register(app,
                      workspaces)`, called by the app factory)"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from slack_bolt.async_app import AsyncApp

from bot.slackapp.listeners import (
    actions,
    attest,
    home,
    passkeys,
    reveal,
    sessions,
    slash_command,
    sponsors,
    triage_reverse,
    views,
)

log = logging.getLogger(__name__)


class Listener(Protocol):
    """A listener module that registers on the app itself."""

    def register(self, app: AsyncApp) -> None: ...


# the modules with a `register(app)` of their own, in the order they register
REGISTERED: tuple[Listener, ...] = (slash_command, actions, views, home, passkeys, reveal, triage_reverse, sessions,
                                    sponsors, attest)


def register(app: AsyncApp) -> None:
    for listener in REGISTERED:
        listener.register(app)

    async def handle_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("listener failed on a %s request: %s", body.get("type") or body.get("command"), error, exc_info=error)

    app.error(handle_error)
