"""The Approvals API: programs outside the bot ask for approvals with a key; only people decide, in Slack.

    routes.py     the HTTP surface on every worker (`/api/v1/approvals`, `/api/v1/openapi.json`)
    admission.py  admission on one worker before a request costs anything: token buckets per key, log throttle (pure)
    requests.py   what a program may send, checked before anything is stored (pure)
    service.py    ask, read (long-poll), withdraw; `ApiWaiters`, this worker's long-polls
    webhooks.py   the decision POSTed, signed, to the program's callback_url, by any worker
    openapi.py    the OpenAPI 3.1 document
    keys_cli.py   `python -m bot keys create | list | revoke`

May import: `bot.core`, `bot.store`, `bot.report`, the leaves of `bot.slack`, `bot.approvals` and
`agents`. The Slack entry (`bot/slackapp/app.py`) mounts the routes.
"""
