"""`agent_approvals.dbos`, the name the interface gives it:
the module `agent_approvals.durable.dbos` (the same module).

Not deprecated: the old name stays, as the interface names it."""

import sys

import agent_approvals.durable.dbos as _module
from agent_approvals.durable.dbos import *  # noqa: F403

sys.modules[__name__] = _module
