"""`agent_approvals.google_adk`, the name the interface gives it:
the module `agent_approvals.integrations.google_adk` (the same module).

Not deprecated: the old name stays, as the interface names it."""

import sys

import agent_approvals.integrations.google_adk as _module
from agent_approvals.integrations.google_adk import *  # noqa: F403

sys.modules[__name__] = _module
