"""The bot's own `/agent` runs, and what keeps them going across workers.

    manager.py         `RunManager`: starts AutoGen teams, asks through the approval service, ends
                       them, adopts runs whose worker died
    supervisor.py      heartbeat, orphaned runs, unposted cards, the outbox
    idempotency.py     each slash command is done once
    response_cache.py  the model response cache in Redis (`MODEL_CACHE`)
    slack_approver.py  `SlackApprover`, for AutoGen programs outside the bot

May import: `bot.core`, `bot.store`, `bot.report`, `bot.approvals`, the leaves of `bot.slack` and
`agents`. Never the Slack entry (`app`, `listeners/`).
"""
