"""Microsoft Teams, a second place to decide (issue 81): the same door, the same rights, the same record.

A surface beside the Slack app: it is told by the approval core's events (bot/approvals/events.py: a card posted,
an approval decided) and decides through the core's one door (`ApprovalService.decide`, `surface="teams"`), so
quorum, policies, the freeze, step-up, receipts and the audit are the Slack path's.

    adapter.py   the Teams SDK's HTTP server adapter on the worker's aiohttp server (`POST /teams/messages`)
    app.py       the SDK's app on the worker: post, update, personal chats; the conversations it is added to
    invokes.py   a click on a card (`adaptiveCard/action`), decided through the core's one door

    cards.py      the approval card as an Adaptive Card (1.5, the SDK's card models): the approver's (Approve,
                  Reject, Revise as `Action.Execute`) and the read-only status, a `refresh` for the approvers;
                  untrusted text made inert by `plain`

    people.py     `TeamsPeople`: who a Teams decider is (the Slack user with their email, else the Teams file's
                  `teams:<object id>`; another tenant, a guest, an unknown person `Refused`), their Teams accounts
                  and names

May import: `bot.core`, `bot.store`, `bot.policy`, `bot.redaction`, `bot.report`, the leaves of `bot.slack`
(`directory`: people by email) and `bot.approvals`' public names (tests/test_root.py). Built by the composition
root (bot/root.py) when `TEAMS_APP_ID` is set, mounted by the worker's HTTP server (bot/server.py)."""

from __future__ import annotations

import warnings

from microsoft_teams.common.experimental import ExperimentalWarning

with warnings.catch_warnings():  # the SDK's import warns of a preview feature we do not use (HTML widgets)
    warnings.simplefilter("ignore", ExperimentalWarning)
    import microsoft_teams.apps  # noqa: F401
