"""`agent_approvals.relay`, moved to `agent_approvals.durable.relay` (the same module under its old name, for one
release: importing it warns; `agent-approvals-relay` runs the new one)."""

import sys
import warnings

import agent_approvals.durable.relay as _module
from agent_approvals.durable.relay import *  # noqa: F403

warnings.warn("agent_approvals.relay moved to agent_approvals.durable.relay; the old name goes in the next release",
              DeprecationWarning, stacklevel=2)
if __name__ == "__main__":  # python -m agent_approvals.relay
    _module.main()
else:
    sys.modules[__name__] = _module
