"""`agent_approvals.autogen.tools`, the name the interface gives it:
the module `agent_approvals.integrations.autogen.tools` (the same module).

Not deprecated: the old name stays, as the interface names it."""

import sys

import agent_approvals.integrations.autogen.tools as _module
from agent_approvals.integrations.autogen.tools import *  # noqa: F403

sys.modules[__name__] = _module
