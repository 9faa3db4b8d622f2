"""`agent_approvals.temporal.activities`, the name the interface gives it:
the module `agent_approvals.durable.temporal.activities` (the same module).

Not deprecated: the old name stays, as the interface names it."""

import sys

import agent_approvals.durable.temporal.activities as _module
from agent_approvals.durable.temporal.activities import *  # noqa: F403

sys.modules[__name__] = _module
