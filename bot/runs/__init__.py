"""The bot's own `/agent` runs, and what keeps them going across workers.

    manager.py         `RunManager`: starts AutoGen teams, asks through the approval service, ends
                       them, adopts runs whose worker died
    supervisor.py      heartbeat, orphaned runs, unposted cards, the outbox
    idempotency.py     each slash command is done once
    response_cache.py  the model response cache in Redis (`MODEL_CACHE`)
    teams.py           the team presets of `/agent` runs; models.py, demo_model.py, caching_client.py:
                       their model clients (from MODEL_CONFIG, with fallback and a cache), the demo model
    email_tool.py      the email team's demo `send_email` (one .eml file per approved email)

May import: `bot.core`, `bot.store`, `bot.report`, `bot.approvals`, the leaves of `bot.slack` and
`agents`. Never the Slack entry (`app`, `listeners/`).
"""
