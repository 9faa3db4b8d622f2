"""Prometheus metrics of one worker, served at `GET /metrics` (no secrets, no user text)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 86400, 7 * 86400)


class Metrics:
    """The worker's counters, in a registry of its own (no process-global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.pending = Gauge("hitl_pending_approvals", "Approvals waiting for a decision (all workers)", registry=r)
        self.decisions = Counter("hitl_decisions", "Decisions made by this worker", ["outcome"], registry=r)
        self.votes = Counter("hitl_votes", "Approval votes counted towards a quorum by this worker", registry=r)
        self.latency = Histogram(
            "hitl_decision_latency_seconds", "From request to decision", buckets=LATENCY_BUCKETS, registry=r
        )
        self.runs = Counter("hitl_runs_finished", "Runs ended by this worker, by final status", ["status"], registry=r)
        self.adoptions = Counter("hitl_run_adoptions", "Runs this worker took over from a dead worker", registry=r)
        self.slack_errors = Counter("hitl_slack_api_errors", "Slack Web API errors", ["method", "error"], registry=r)
        self.slack_retries = Counter("hitl_slack_api_retries", "Slack Web API retries", ["handler"], registry=r)
        self.redis_reconnects = Counter("hitl_redis_reconnects", "Re-subscriptions after losing Redis", registry=r)

    async def render(self, pending: Callable[[], Awaitable[int]]) -> bytes:
        try:
            self.pending.set(await pending())
        except Exception:  # Redis down: keep the last value; /healthz says degraded
            pass
        return generate_latest(self.registry)
