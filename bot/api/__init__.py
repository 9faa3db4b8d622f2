"""The Approvals API: programs outside the bot ask for approvals with a key; only people decide, in Slack.

    routes.py       the HTTP surface on every worker (`/api/v1/approvals`, `/api/v1/openapi.json`,
                    `/api/v1/jwks.json`)
    admission.py    admission on one worker before a request costs anything: token buckets per key, log
                    throttle (pure)
    requests.py     what a program may send: the request models, checked before anything is stored (pure)
    canonical.py    a body's RFC 8785 digest (idempotent retries), the integers JSON cannot carry exactly (pure)
    hosts.py        where a program's URL points: its host as the client connects, private or not (pure)
    answers.py      what the API answers: the answer models (pure)
    service.py      ask, read (long-poll), withdraw, a receipt's use; `ApiWaiters`, this worker's long-polls
    shown.py        an approval as the API shows it (`view`: a GET's body, a webhook's), the decider's name
    allowed.py      a call a program's allow-list let through: the decision chain walked to its "record as
                    allowed" end (counted in the policy windows)
    receipts.py     signed receipts of approvals that allow a call (`ReceiptIssuer`), and their use
    canary.py       the worker's synthetic canary (CANARY_INTERVAL): an approval opened, decided by its probe and
                    heard back through the store's real steps, shown by no surface; its metrics
    webhooks.py     the decision POSTed, signed, to the program's callback_url, by any worker
    claude_code_hook.py  Claude Code's HTTP hook (`/api/v1/hooks/claude-code`), decided as the command hook is
    openapi.py      the OpenAPI 3.1 document, made of the request and answer models
    authzen.py      OpenID AuthZEN 1.0 evaluations: what a policy enforcement point may send, mapped to an ask (pure)
    evaluations.py  AuthZEN evaluations answered from the policies (the decision chain walked to an end that
                    records nothing), a person asked where one must decide
    keys.py         making an API key (`create_key`): for `python -m bot keys` (bot/cli/) and `/agent keys`

May import: `bot.core`, `bot.store`, `bot.report`, the leaves of `bot.slack`, `bot.approvals` and
`agents`. The worker's HTTP server (`bot/server.py`) mounts the routes."""
