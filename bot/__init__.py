"""The Slack service: approvals for agents, decided by people in Slack.

The folders are the architecture; each imports only from the layers below it (tests/test_layout.py
checks this on every run):

    core/        what everything uses: settings, records, ids, durations, logs, metrics, background
                 tasks, secrets, what an "always allow" rule matches (pure)
    store/       Redis, by concept; every multi-key step a Lua script
    audit/       audit integrity: entries hashed and checkpoints signed off the write path, `audit verify`
    report/      how approvals are going: the headline numbers (pure), the HTML report, the audit export
    slack/       the Slack surface. Its leaves (blocks/: pure Block Kit builders, client, directory) are
                 Slack's vocabulary for the layers above; its entry (app, gate, listeners/, the
                 `/agent` parser) receives Slack's requests and calls the core
    approvals/   the approval core: the service, cards kept in step, Homes, reminders, rules, threads,
                 the side-effect ledger, the waiter
    runs/        the bot's own `/agent` runs: the run manager, the supervisor, commands done once, the
                 model response cache
    devslack/    the local Slack stand-in for `python -m bot dev` and the tests (imports nothing above)

    services.py  builds one worker's parts (the composition root)
    __main__.py  `python -m bot [dev | audit | report]`
    dev.py       `python -m bot dev`: the product, the stand-in and Redis in one process

`bot` imports `agents` (the AutoGen side), never the other way round.
"""
