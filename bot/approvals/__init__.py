"""The approval core: every step of an approval, and what keeps people told.

    service.py     `ApprovalService`: open, wait, decide (every approver rule), show, cancel
    opening.py     what opening an approval starts from: the record, what an open answers (pure)
    chain.py       the decision order, one chain walked once per request by every way in: the deciders
                   bot/services.py lists, then its end (a person, or a call recorded as allowed)
    deciders/      the chain's links, one module each: policies (bot/policy/), the input mode, a live "always
                   allow" rule, and the person (the end: the approval opened, pending or decided at once)
    hiding.py      hidden values (#68): found once as an approval opens, stored redacted, sealed apart, ended
    delivery.py    a pending approval's card posted where the channel says, noted
    rights.py      who may do what: a channel's admins, who may change its settings, cancel a run (pure)
    refusals.py    what a person is told when their click decided nothing (pure)
    card_sync.py   keeps each card and its DM copies in Slack in step with Redis
    homes.py       each person's App Home: what waits for them, kept current
    admin_panels.py  what a channel's admins see of their channels on their Home: numbers, rules
    nudges.py      reminders and escalations, on any worker
    rulebook.py    who may create and revoke "always allow" rules (what they match: `bot.core.allow_rules`)
    run_thread.py  a run's header and thread, posted in order
    run_session.py a run as a Slack agent session: its status and its plan streamed, within Slack's limits
    ledger.py      side effects run once
    waiter.py      one pub/sub subscription per worker, and the deadline sweeper

May import: `bot.core`, `bot.store`, `bot.policy`, `bot.report` (headline numbers), the leaves of `bot.slack`
(`blocks`, `client`, `directory`) and `agents`. Never `bot.runs` or the Slack entry."""
