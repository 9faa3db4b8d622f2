"""The approval core: every step of an approval, and what keeps people told.

    service.py     `ApprovalService`: open, wait, decide (every approver rule), show, cancel
    opening.py     what opening an approval decides before anything is stored: the record, the input mode's
                   verdict, the policies' request and routing, the audit entries of what was decided at once (pure)
    at_once.py     what is decided before anyone is asked, stored as an approval used once: the policies
                   (bot/policy/), a live "always allow" rule, the input mode
    rights.py      who may do what: a channel's admins, who may change its settings, cancel a run (pure)
    refusals.py    what a person is told when their click decided nothing (pure)
    card_sync.py   keeps each card and its DM copies in Slack in step with Redis
    homes.py       each person's App Home: what waits for them, kept current
    nudges.py      reminders and escalations, on any worker
    rulebook.py    who may create and revoke "always allow" rules (what they match: `bot.core.allow_rules`)
    run_thread.py  a run's header and thread, posted in order
    ledger.py      side effects run once
    waiter.py      one pub/sub subscription per worker, and the deadline sweeper

May import: `bot.core`, `bot.store`, `bot.policy`, `bot.report` (headline numbers), the leaves of `bot.slack`
(`blocks`, `client`, `directory`) and `agents`. Never `bot.runs` or the Slack entry."""
