"""Policy as code: Cedar policies decide the routine, route the risky to the right people with the reason on the
card, keep budgets, and can run in shadow before they enforce (docs/operators/policies.md).

    bundle.py    a bundle: POLICY_DIR's `*.cedar` files and `policy.yaml`, with the shipped defaults (defaults/),
                 parsed, checked (file:line) and hashed
    annotations.py  a policy's annotations (@id, @outcome, @approvers, @sla, @step_up, @require_details...), checked
    windows.py   counts and sums over time (policy.yaml), kept in Redis in the store's open and decide steps
    decide.py    what a bundle decides about one request: deny > ask > allow > no opinion, shadow beside (pure)
    engine.py    a worker's active bundle, reloaded when its files change, and the one evaluation
                 (`PolicyEngine.judge`) that the decision chain's policies link (bot/approvals/deciders/policies.py)
                 calls for every way in
    replay.py    re-deciding recorded asks from the audit log, and explaining one approval's decision

May import: `bot.core`, `bot.store`. Never `bot.approvals`, `bot.api` or the Slack entry."""
