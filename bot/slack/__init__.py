"""Slack I/O: what the bot sends Slack and asks it, used by the approval core and the runs above it (these
modules import only `bot.core`, `bot.report`'s pure numbers and `agents`):

    blocks/          pure Block Kit builders, one module per surface (`approval_card`, `home`, `decision_modals`,
                     `batch_modals`, `rule_modals`, ...); all untrusted text goes through `blocks/text.py`
    alerts_channel.py  ALERTS_CHANNEL as Slack said it last: checked at start, again in the background
    client.py        the Web API client: bounded retries, counted
    directory.py     who is who: users, user groups, channels (cached)
    accounts.py      `SlackAccounts`: Slack users as accounts for `People` (bot/people/), their verified emails
    workspaces.py    the workspaces served: the Slack client for a team (`for_team`), Bolt's `authorize`, uninstalls
    installations.py  Bolt's installation and OAuth state stores over the bot's Redis (tokens sealed)

Where Slack's requests come in (the Bolt app, the gate, the command parser, the listeners) is `bot/slackapp/`."""
