"""`agent_approvals.autogen.input_func`, the name the interface gives it:
the module `agent_approvals.integrations.autogen.input_func` (the same module).

Not deprecated: the old name stays, as the interface names it."""

import sys

import agent_approvals.integrations.autogen.input_func as _module
from agent_approvals.integrations.autogen.input_func import *  # noqa: F403

sys.modules[__name__] = _module
