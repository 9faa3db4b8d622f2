"""`agent_approvals.autogen`, the name the interface gives it: the package `agent_approvals.integrations.autogen`'s
names (its modules are imported from there: `agent_approvals.integrations.autogen.tools`, ...).

Not deprecated: the old name stays, as the interface names it."""

from agent_approvals.integrations.autogen import *  # noqa: F403
