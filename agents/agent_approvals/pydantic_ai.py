"""`agent_approvals.pydantic_ai`, the name the interface gives it:
the module `agent_approvals.integrations.pydantic_ai` (the same module).

Not deprecated: the old name stays, as the interface names it."""

import sys

import agent_approvals.integrations.pydantic_ai as _module
from agent_approvals.integrations.pydantic_ai import *  # noqa: F403

sys.modules[__name__] = _module
