"""Local stand-in for Slack, for development and tests only (never imported by production code).

    server.py      `SlackStandIn`: the parts below assembled on one workspace, and their routes
    workspace.py   the state every part shares: people, channels, what was posted and called
    model.py       the workspace's fixed ids and limits, the records tests see, and the preset of several workspaces
    webapi.py      `/api/{method}`: the Web API, with Slack's answers and errors, every call recorded
    messages.py    `chat.*` and the `response_url`
    sessions.py    agent sessions: `agents.sessions.setStatus`, streamed messages and their chunks, Stop, and a
                   person's message in the Messages tab
    views.py       `views.*`: modals and App Homes
    files.py       the two-step file upload, and downloads
    blockkit.py    what Slack refuses in blocks and views, with Slack's error codes
    simulate.py    people: commands, clicks, submissions, as Slack would send them
    delivery.py    to the bot: signed HTTP to its `events_url`, or over Socket Mode
    oauth.py       Slack's OAuth v2: the authorize page, `oauth.v2.access` (and rotation), `apps.uninstall`
    openid.py      Sign in with Slack (OpenID Connect): discovery, keys, the authorize page, `openid.connect.token`,
                   `openid.connect.userInfo`
    control.py     the Slack-like page (`static/`) and its control API (`/_control/*`)
    pages.py       what a stand-in's page answers (loopback host names, same-origin POSTs) and its static files:
                   the local Teams' too
    api_proxy.py   `/api/v1/*` forwarded to the worker's Approvals API (dev mode: one port)
    slackbot.py    Slackbot's MCP client for the page's "Slackbot" pane: signed calls of the bot's `/slack/mcp`
    alone.py       `python -m bot devslack`: the stand-in served alone, for staging workers pointed at it
    static/        the page: HTML, CSS and JavaScript (Block Kit and mrkdwn drawn in the browser)"""

from __future__ import annotations

from bot.devslack.server import DeliveryResult, DevChannel, DevUser, RecordedCall, SlackStandIn

__all__ = ["DeliveryResult", "DevChannel", "DevUser", "RecordedCall", "SlackStandIn"]
