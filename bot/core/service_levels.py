"""Service levels (issue 80): how long an approval may wait for a person before it is late, pure.

An approval's service level (`sla_seconds`, 0: none) is the shorter of its channel's `sla` setting and the `@sla`
of the policies that routed it (a policy's is a floor no channel setting lowers). While it waits it is:

    within     less than `AT_RISK_SHARE` (80 %) of its service level gone
    at_risk    80 % gone, not all of it
    breached   all of it gone, and still nobody decided

The changes come as two of its timed steps (`ApprovalRecord.steps`: `at_risk`, `breached`), told by the nudger
(bot/approvals/nudges.py) once each: the card is redrawn, the change audited (`sla_at_risk`, `sla_breached`) and kept
on the record (`sla_state`, what the card, the Homes, `/agent status` and the metrics read)."""

from __future__ import annotations

import math
from typing import Literal

SlaState = Literal["within", "at_risk", "breached"]
STATES: tuple[SlaState, ...] = ("within", "at_risk", "breached")
AT_RISK_SHARE = 0.8  # at risk once this share of the service level is gone
EVENTS = {"at_risk": "sla_at_risk", "breached": "sla_breached"}  # the audit entry of each change
ESCALATE_AT = ("request", "at_risk")  # the channel setting `escalate_at`: when the escalation may come at the latest


def effective_sla(channel: int, policy: int | None) -> int:
    """The service level of an approval: the shorter of the channel's and the policy's (0 or None: not set)."""
    given = [seconds for seconds in (channel, policy or 0) if seconds > 0]
    return min(given) if given else 0


def at_risk_after(sla_seconds: int) -> int:
    """Seconds after its request an approval of service level `sla_seconds` is at risk (0 with none)."""
    return math.ceil(sla_seconds * AT_RISK_SHARE) if sla_seconds > 0 else 0


def sla_changes(sla_seconds: int) -> list[tuple[int, Literal["at_risk", "breached"]]]:
    """When (seconds after its request) an approval of service level `sla_seconds` is at risk, then breached ([]
    without one): its steps (`ApprovalRecord.steps`)."""
    return [(at_risk_after(sla_seconds), "at_risk"), (sla_seconds, "breached")] if sla_seconds > 0 else []


def escalate_after(*, escalate_after: int, escalate_at: str, sla_seconds: int) -> int:
    """When an escalation comes (seconds after the request; 0: none): the channel's `escalate_after`, or, with
    `escalate_at at_risk` and a service level, the moment the approval is at risk when that is sooner."""
    at_risk = at_risk_after(sla_seconds) if escalate_at == "at_risk" else 0
    return effective_sla(escalate_after, at_risk)


def state_of(stored: str) -> SlaState:
    """The state an approval's record keeps (`sla_state`: "" until a change is told)."""
    return "at_risk" if stored == "at_risk" else "breached" if stored == "breached" else "within"


def state_at(*, created_at: float, sla_seconds: int, now: float) -> SlaState:
    """The state by the clock (what the nudger's next step tells)."""
    waited = now - created_at
    if sla_seconds <= 0 or waited < at_risk_after(sla_seconds):
        return "within"
    return "breached" if waited >= sla_seconds else "at_risk"


def urgency(stored: str) -> int:
    """Sort key of the inbox: breached first (0), then at risk (1), then within (2)."""
    return {"breached": 0, "at_risk": 1}.get(stored, 2)


def state_counts(approvals: list[tuple[int, str]]) -> dict[str, int]:
    """How many pending approvals with a service level are in each state, of (sla_seconds, stored state) pairs."""
    counts: dict[str, int] = dict.fromkeys(STATES, 0)
    for sla_seconds, stored in approvals:
        if sla_seconds > 0:
            counts[state_of(stored)] += 1
    return counts
