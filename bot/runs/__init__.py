"""The bot's own `/agent` runs, and what keeps them going across workers.

    manager.py         `RunManager`: starts AutoGen teams, asks through the approval service, ends
                       them, adopts runs whose worker died
    run_approver.py    what a run's team asks through: its input policy and its `Approver`
    run_state.py       what the owner knows of a run (`RunState`) and what its approver asks of the manager (`RunHost`)
    takeover.py        where a run taken over from a dead worker goes on from, and what its thread is told
    endings.py         how a run's end is said: a completed team's result, a failure's reason in one line
    plan.py            a run's team, its turns and tool calls shown as the plan of its agent session
    supervisor.py      heartbeat, orphaned runs, their unposted cards (through its port `Cards`: Slack's due work)
    ledger.py          a run's side-effect ledger: tool calls and code run once, across takeovers
    idempotency.py     each slash command is done once
    teams.py           the team presets of `/agent` runs
    models.py          their model clients: from MODEL_CONFIG, an OpenAI key or the demo model, with fallback
    demo_model.py      the offline, deterministic demo model
    caching_client.py  a model client whose answers are cached
    model_call.py      one request to a model client as a value, and the clients that answer one
    response_cache.py  the model response cache in Redis (`MODEL_CACHE`)
    email_tool.py      the email team's demo `send_email` (one .eml file per approved email)
    summaries.py       one plain sentence of what an approval does, written by that model (MODEL_CONFIG)
    triage_model.py    the triage model's port (`@triage`, bot/approvals/triage.py) on MODEL_CONFIG's models

May import: `bot.core`, `bot.store`, `bot.report`, `bot.approvals`, `bot.sessions` (a run's header, thread and
session: its words through `RunThreads.writing`, its ending through `post_ending`) and `agents`. Never Slack (its SDK,
`bot.slack`, `bot.slackapp`: tests/test_boundaries.py): its cards and Homes come through ports the root fills."""
