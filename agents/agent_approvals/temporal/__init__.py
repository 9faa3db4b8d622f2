"""`agent_approvals.temporal`, the name the interface gives it:
the package `agent_approvals.durable.temporal`'s names, and its modules
under their old names (`agent_approvals.temporal.<module>` is `agent_approvals.durable.temporal.<module>`).

    activities.py, delivery.py  the modules under their old names

Not deprecated: the old name stays, as the interface names it."""

from agent_approvals.durable.temporal import *  # noqa: F403
