"""Microsoft Teams, a second place to decide (issue 81): the same door, the same rights, the same record.

A surface beside the Slack app: it is told by the approval core's events (bot/approvals/events.py: a card posted,
an approval decided) and decides through the core's one door (`ApprovalService.decide`, `surface="teams"`), so
quorum, policies, the freeze, step-up, receipts and the audit are the Slack path's.

    app.py        the Teams SDK's `App` (microsoft-teams-apps) on the worker's aiohttp server at `/teams/messages`
                  (adapter.py); every request's Bot Framework token verified; the conversation kept when the app is
                  added (bot/store/teams.py)
    adapter.py    the SDK's `HttpServerAdapter` on the worker's aiohttp application
    invokes.py    an `Action.Execute` (Approve / Reject / Revise, a card's refresh) through the decide step
    cards.py      the Adaptive Cards (schema 1.5, built with microsoft-teams-cards): buttons for approvers
                  (`refresh.userIds`), a read-only status for everyone else
    people.py     a Teams decider (tenant, Azure AD object id) as one person: the Slack user with the same verified
                  email, else a Teams person of `TEAMS_FILE`; another tenant's or a guest refused
    delivery.py   where cards go (a channel's `teams` route, `TEAMS_FILE`'s routes, approvers' personal chats) and
                  every copy updated in place on each decision; reminders there

May import: `bot.core`, `bot.store`, `bot.policy`, `bot.redaction`, `bot.report`, the leaves of `bot.slack`
(`directory`: people by email) and `bot.approvals`' public names (tests/test_root.py). Built by the composition
root (bot/root.py) when `TEAMS_APP_ID` is set, mounted by the worker's HTTP server (bot/server.py)."""
