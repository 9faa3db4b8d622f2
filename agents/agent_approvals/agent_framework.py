"""`agent_approvals.agent_framework`, the name the interface gives it:
the module `agent_approvals.integrations.agent_framework` (the same module).

Not deprecated: the old name stays, as the interface names it."""

import sys

import agent_approvals.integrations.agent_framework as _module
from agent_approvals.integrations.agent_framework import *  # noqa: F403

sys.modules[__name__] = _module
