"""`agent_approvals.temporal`, the name the interface gives it: the package `agent_approvals.durable.temporal`'s
names (its modules are imported from there: `agent_approvals.durable.temporal.activities`, ...).

Not deprecated: the old name stays, as the interface names it."""

from agent_approvals.durable.temporal import *  # noqa: F403
