"""`agent_approvals.temporal`, the name the interface gives it: the package `agent_approvals.durable.temporal`'s
names (its modules are imported from there: `agent_approvals.durable.temporal.activities`, ...), and the two a
worker and the relay are built with, `ApprovalActivities` and `TemporalDelivery`, as the CHANGELOG says.

Not deprecated: the old name stays, as the interface names it."""

from agent_approvals.durable.temporal import *  # noqa: F403
from agent_approvals.durable.temporal import __all__ as _durable_names
from agent_approvals.durable.temporal.activities import ApprovalActivities
from agent_approvals.durable.temporal.delivery import TemporalDelivery

__all__ = [*_durable_names, "ApprovalActivities", "TemporalDelivery"]
