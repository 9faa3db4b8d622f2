"""Local stand-in for Microsoft Teams, for development and tests only (never imported by production code): the Bot
Connector and its sign-in, real software that refuses what Microsoft refuses, and the people who use the app.

    server.py      `TeamsStandIn`: the parts below on their own thread and event loop, driven as Teams is
    model.py       what it holds (members, conversations, the bot's activities, calls, deliveries) and Teams' limits
    signin.py      its key, the OpenID metadata and keys, the client-credentials token endpoint, tokens and forgeries
    connector.py   the Bot Connector's `/v3/conversations…` routes, a bearer token checked on each
    simulate.py    what Teams sends the bot: installs, `adaptiveCard/action` invokes (clicks, refreshes), signed
    page.py        its page (`/teams`): the conversations, each card drawn by `adaptivecards`, who you are, clicks
    local.py       `python -m bot dev --teams`: the stand-in, its page, a channel of the local Slack's people, routes
    static/        the page's HTML, CSS and JavaScript, and the vendored `adaptivecards` renderer (its README)"""

from __future__ import annotations

from bot.devmsteams.model import Delivery, Member, RecordedCall
from bot.devmsteams.server import TeamsStandIn
from bot.devmsteams.signin import FORGERIES, Forgery

__all__ = ["FORGERIES", "Delivery", "Forgery", "Member", "RecordedCall", "TeamsStandIn"]
