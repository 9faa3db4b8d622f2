"""The Slack surface: everything that speaks Slack, in two layers.

Leaves, used by the approval core and the runs above them (they import only `bot.core`,
`bot.report`'s pure numbers and `agents`):
    blocks/          pure Block Kit builders, one module per surface (`approval_card`, `home`, `decision_modals`,
                     `batch_modals`, `rule_modals`, ...); all untrusted text goes through `blocks/text.py`
    client.py        the Web API client: bounded retries, counted
    directory.py     who is who: users, user groups, channels (cached)

The entry, where Slack's requests come in (imports anything in `bot` but `devslack`):
    app.py           the Bolt app and the aiohttp server (`POST /slack/events`, `/healthz`, `/metrics`)
    gate.py          a shape check in front of Bolt
    command_parser.py  `/agent ...` text -> a command (pure)
    listeners/       the handlers, one module per surface: `slash_command`, `actions`, `views`, `home`
"""
