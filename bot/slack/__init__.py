"""The Slack surface (issue 88: above the approval core, which imports none of it): what the bot sends Slack and
asks it. It may import the core (`bot.approvals`) and what is below it (`bot.core`, `bot.store`, `bot.people`,
`bot.report`'s numbers, `agents`), never another surface:

    blocks/          pure Block Kit builders, one module per surface (`approval_card`, `home`, `decision_modals`,
                     `batch_modals`, `rule_modals`, ...); all untrusted text goes through `blocks/text.py`
    admin_panels.py  what a channel's admins see of their channels on their Home: numbers, rules
    alerts_channel.py  ALERTS_CHANNEL as Slack said it last: checked at start, again in the background
    card_sync.py     each card and its DM copies kept in step with Redis: posted, redrawn (the outbox), linked
    client.py        the Web API client: bounded retries, counted
    delivery.py      a pending approval's card posted where the channel says (DM copies), noted (the core's
                     `CardDelivery`)
    due.py           Slack's own due work (`SlackDue`): the outbox's cards redrawn, a card owed or unseen posted
    digest.py        the channel admins' weekly oversight digest (issue 80): kept for their Homes, sent as a DM
    nudges.py        the nudger's reminders and escalations posted in the card's thread and DMs, once (`NudgeTeller`)
    reach.py         a route's Slack step: the card in each person's DM (the `slack` `Reacher`, issue 90)
    held_batches.py  the approvals held for the hour (fatigue) sent at the hour, one DM per person
    directory.py     who is who: users, user groups, channels (cached)
    accounts.py      `SlackAccounts`: Slack users as accounts for `People` (bot/people/), their verified emails
    workspaces.py    the workspaces served: the Slack client for a team (`for_team`), Bolt's `authorize`, uninstalls
    homes.py         each person's App Home: what waits for them, kept current (`HomeService`)
    refusals.py      the core's refusal words in mrkdwn (`SlackWriting`), and `outsider_text`
    policy_groups.py  the user groups a policy bundle's @approvers name, checked with Slack as it loads
    installations.py  Bolt's installation and OAuth state stores over the bot's Redis (tokens sealed)

Where Slack's requests come in (the Bolt app, the gate, the command parser, the listeners) is `bot/slackapp/`."""
