"""The Slack service: approvals for agents, decided by people in Slack.

The folders are the architecture; each imports only from the layers below it (tests/test_layout.py
checks this on every run), from the bottom:

    core/        what everything uses: settings, records, ids, durations, logs, metrics, background
                 tasks, secrets, signing keys, what an "always allow" rule matches (pure)
    store/       Redis, by concept; every multi-key step a Lua script. Only the store speaks Redis
    policy/      policy as code: Cedar bundles (POLICY_DIR) that decide the routine, route the risky and keep
                 budgets (windows), for every way in; shadow mode, replay and explanations
    audit/       audit integrity: entries hashed and checkpoints signed off the write path, `audit verify`
    report/      how approvals are going: the headline numbers (pure), the HTML report, the audit export
    slack/       what the bot sends Slack and asks it: blocks/ (pure Block Kit builders), the Web API
                 client, the directory
    people/      who is who across surfaces: one person (one id) whatever surface they decide on, merged by
                 verified email; each surface's accounts behind a port
    redaction/   hidden values: found as an approval opens, stored redacted, sealed apart, ended with it
    approvals/   the approval core: opening, the decision chain, the service, its events (opened, decided,
                 ended), cards kept in step, Homes, reminders, rules, the waiter
    sessions/    a run's header, thread and Slack agent session, told of its approvals by their events
    runs/        the bot's own `/agent` runs: the run manager, the supervisor, the side-effect ledger, commands
                 done once, the team presets and their model clients
    api/         the Approvals API: what programs outside the bot ask with a key, webhooks, receipts
    signin/      Sign in with Slack (OpenID Connect) in front of every page the bot serves
    stepup/      step-up: people's passkeys (WebAuthn), registered through one-time links from their App Home
    msteams/     Microsoft Teams, a second place to decide: the Teams SDK's app, Adaptive Cards, people mapped
    email/       e-mail, the third surface (issue 88): an approval's mail, its signed single-use links, the sender
                 (the parts, not wired yet)
    links/       signed decide links and the page they open, shared by e-mail and push (issue 90)
    push/        Web Push, a phone and desktop surface (issue 90): the web app, subscriptions, the pushes' sender
    tickets/     change tickets (issue 91): a change in Jira or ServiceNow per approval, linked on its card, closed
                 with the decision; retried as due work
    cli/         `python -m bot keys | signing | policy`: the operator's commands that are not the worker
    slackapp/    where Slack's requests come in: the Bolt app, the gate, the `/agent` parser, listeners/
    templates/   the pages the bot serves (sign-in, step-up, reveal) and `audit evidence`'s summary, as jinja2
                 templates with their scripts (rendered by core/templates.py, every text escaped)
    devslack/    the local Slack stand-in for `python -m bot dev` and the tests (imports nothing above)
    devmsteams/  the local Microsoft Teams stand-in (a Bot Connector and its sign-in) for dev and the tests (imports
                 nothing above)
    devmail/     the local mail catcher (aiosmtpd) for dev and the tests (imports nothing above)
    devpush/     the local push service (receives, checks VAPID, decrypts) for dev and the tests (nothing above)
    devoncall/   the local on-call provider (PagerDuty's, Opsgenie's, Grafana OnCall's shapes) for dev and the tests
    devkit/      what those three stand-ins share: a free port, an aiohttp app in its own thread, a wait for arrivals

    services.py  `Services`: one worker's (or tenant's) parts, started and stopped together
    root.py      the composition root: builds and wires the parts, lists the deciders and the events' listeners
    tenancy.py   each workspace's parts: one worker serves every workspace it is installed in
    server.py    one worker's HTTP server: mounts `/slack/events`, `/api/v1`, `/healthz`, `/metrics`
    probes.py    `/livez` and `/readyz`: the process answers; the worker can serve (no Slack call)
    __main__.py  `python -m bot [serve | dev | keys | signing | policy | audit | report]`: one argparse parser
    dev/         `python -m bot dev`: the product, the stand-ins and Redis in one process
    dev_data.py  where dev keeps its data across restarts (`--data`, `--fresh`): the folder, its lock, the dev key,
                 the redis-server it starts
    dev_slackbot.py  dev's Slackbot keys: one per other workspace (`--workspaces`), named in SLACKBOT_MCP

`bot` imports `agents` (the agent side, `agent_approvals`), never the other way round."""

from bot.core.version import __version__

__all__ = ["__version__"]
