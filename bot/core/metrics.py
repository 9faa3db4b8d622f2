"""Prometheus metrics of one worker, served at `GET /metrics` (no secrets, no user text)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

from bot.core.oversight import QUANTILES, Timed, grouped, quantile
from bot.core.service_levels import STATES as SLA_STATES
from bot.core.version import __version__

LATENCY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 86400, 7 * 86400)
TEAMS_BUCKETS = (.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)
REDIS_BUCKETS = (.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5)
MAX_CHANNELS = 50  # distinct channel labels per metric; the others are counted under "other"
OTHER = "other"  # the label of what a bounded label set sums beyond its top N


def top_people(counts: Mapping[str, float], n: int) -> dict[str, float]:
    """`counts` by person as a bounded label set: the `n` largest (ties by name), the rest summed as "other" (only
    when there is a rest). Every worker computes it from what Redis keeps, so each reports the same series.

    >>> top_people({"U1": 5, "U2": 3, "U3": 1, "U4": 1}, 2)
    {'U1': 5, 'U2': 3, 'other': 2}
    """
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    top = dict(ranked[:max(0, n)])
    rest = ranked[max(0, n):]
    if rest:
        top[OTHER] = top.get(OTHER, 0) + sum(count for _, count in rest)
    return top


def reason_of(word: str) -> str:
    """A surface's word as a bounded label: the code in its parentheses ("token refused (token_revoked)":
    token_revoked), else the word itself ("not answered yet"), cut to 40 characters.

    >>> reason_of("token refused (token_revoked)")
    'token_revoked'
    """
    inner = word[word.find("(") + 1: word.rfind(")")] if "(" in word and word.endswith(")") else word
    return inner.replace(" ", "_")[:40]


@dataclass(frozen=True, slots=True)
class Oversight:
    """What the decide step keeps of how people decide, read at a scrape (bot/store/oversight.py): each signal's
    counts by person ({"fast": {person: n}, ...}) and the last decisions' times to decide."""

    signals: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    times: tuple[Timed, ...] = ()


def from_zero(counter: Counter, *values: str) -> None:
    """Each of `counter`'s series (one label, these `values`) exported from 0, so that its first count is an increase
    an alert's `increase()` sees."""
    for value in values:
        counter.labels(value)


class Metrics:
    """The worker's counters, in a registry of its own (no process-global state)."""

    def __init__(self, *, commit: str = "unknown", top_people: int = 20) -> None:
        self.registry = CollectorRegistry()
        self.top_people = top_people  # METRICS_TOP_PEOPLE: per-person series, the top N and "other"
        r = self.registry
        # hitl_build_info{version, commit} 1: which release (and commit, bot.core.version.build_commit) a worker runs
        Info("hitl_build", "The worker's version and the commit it was built from (\"unknown\" in a clone)",
             registry=r).info({"version": __version__, "commit": commit})
        self.pending = Gauge(
            "hitl_pending_approvals", "Approvals waiting for a decision (all workers, every workspace)", registry=r
        )
        self.waiting = Gauge(
            "hitl_waiting_approvals", "Approvals waiting for a decision, by the run's channel", ["channel"], registry=r
        )
        self.oldest = Gauge(
            "hitl_oldest_waiting_seconds",
            "Age of the oldest approval waiting for a decision, by the run's channel",
            ["channel"],
            registry=r,
        )
        self.decisions = Counter("hitl_decisions", "Decisions made by this worker", ["outcome"], registry=r)
        self.votes = Counter("hitl_votes", "Approval votes counted towards a quorum by this worker", registry=r)
        self.latency = Histogram(
            "hitl_decision_latency_seconds",
            "From request to decision, by the run's channel and the outcome",
            ["channel", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._channels: set[str] = set()
        self.runs = Counter("hitl_runs_finished", "Runs ended by this worker, by final status", ["status"], registry=r)
        self.adoptions = Counter("hitl_run_adoptions", "Runs this worker took over from a dead worker", registry=r)
        self.slack_errors = Counter("hitl_slack_api_errors", "Slack Web API errors", ["method", "error"], registry=r)
        self.slack_retries = Counter("hitl_slack_api_retries", "Slack Web API retries", ["handler"], registry=r)
        self.frozen = Gauge("hitl_frozen", "1 for each frozen scope (`/agent freeze`: all, channel:C…, key:NAME,"
                            " agent:NAME; all workers)", ["scope"], registry=r)
        self.archive_lag = Gauge("hitl_audit_archive_lag_entries", "Audit entries numbered and not yet in the audit"
                                 " archive (AUDIT_ARCHIVE; all workers)", registry=r)
        self.archive_lag_seconds = Gauge("hitl_audit_archive_lag_seconds", "Age of the oldest audit entry not yet in"
                                         " the audit archive (0: none; all workers)", registry=r)
        self.siem_lag = Gauge("hitl_audit_siem_lag_entries", "Audit entries numbered and not yet accepted by the SIEM"
                              " (AUDIT_SIEM_URL; all workers)", registry=r)
        self.siem_lag_seconds = Gauge("hitl_audit_siem_lag_seconds", "Age of the oldest audit entry the SIEM has not"
                                      " accepted yet (0: none; all workers)", registry=r)
        self.siem_delivered = Counter("hitl_audit_siem_delivered", "Audit entries the SIEM accepted from this worker"
                                      " (a batch sent again counts again)", registry=r)
        self.siem_failures = Counter("hitl_audit_siem_failures", "Batches the SIEM did not accept from this worker, by"
                                     " reason (refused: token or certificate; rejected: the data; unavailable: down)",
                                     ["reason"], registry=r)
        from_zero(self.siem_failures, "refused", "rejected", "unavailable")
        self.redis_reconnects = Counter("hitl_redis_reconnects", "Re-subscriptions after losing Redis", registry=r)
        self.redis_writes_refused = Counter("hitl_redis_writes_refused", "Writes Redis refused this worker, by"
                                            " reason (oom: maxmemory reached; misconf: it cannot persist; readonly:"
                                            " a replica)", ["reason"], registry=r)
        from_zero(self.redis_writes_refused, "oom", "misconf", "readonly")
        self.redis_cluster_retries = Counter("hitl_redis_cluster_retries", "Redis Cluster failovers this worker's"
                                             " client rode, by reason (moved: a slot served elsewhere now;"
                                             " clusterdown: the cluster down meanwhile; connection: a node gone)",
                                             ["reason"], registry=r)
        from_zero(self.redis_cluster_retries, "moved", "clusterdown", "connection")
        self.redis_memory_used = Gauge("hitl_redis_memory_used_bytes", "Redis's used_memory (INFO memory), read at"
                                       " each scrape", registry=r)
        self.redis_memory_max = Gauge("hitl_redis_memory_max_bytes", "Redis's maxmemory (INFO memory; 0: no limit),"
                                      " read at each scrape", registry=r)
        self.canary_last_success = Gauge("hitl_canary_last_success_timestamp_seconds", "Unix time of this worker's"
                                         " last synthetic canary that went the whole way (0: none yet)", registry=r)
        self.canary_failures = Counter("hitl_canary_failures", "This worker's synthetic canaries that failed, by the"
                                       " stage they failed at (create, decide, resume)", ["stage"], registry=r)
        from_zero(self.canary_failures, "create", "decide", "resume")
        self.canary_interval = Gauge("hitl_canary_interval_seconds", "Seconds between this worker's synthetic"
                                     " canaries (CANARY_INTERVAL; 0: off)", registry=r)
        self.asks = Counter("hitl_asks", "Asks walked through the decision chain, by way in (run, api, mcp,"
                            " claude_code, workflow) and outcome (allowed, denied, asked, refused)", ["way", "outcome"],
                            registry=r)
        self.slack_calls = Counter("hitl_slack_api_calls", "Slack Web API calls, by method", ["method"], registry=r)
        self.slack_rate_wait = Counter("hitl_slack_api_rate_limit_wait_seconds", "Seconds waited on Slack's"
                                       " rate limits (Retry-After) before a call went again", registry=r)
        self.redis_latency = Histogram("hitl_redis_command_seconds", "Round trip of a Redis PING, measured at each"
                                       " scrape", buckets=REDIS_BUCKETS, registry=r)
        self.policy_failing = Gauge("hitl_policy_load_failing", "1 while the policy files on disk do not load (the"
                                    " last good bundle stays)", registry=r)
        self.webhooks = Counter("hitl_webhook_deliveries", "API webhook tries, by outcome (delivered, failed,"
                                " given_up)", ["outcome"], registry=r)
        self.stepup = Counter("hitl_stepup_confirmations", "Step-up confirmations with a passkey, by outcome"
                              " (confirmed, refused)", ["outcome"], registry=r)
        self.refusals = Counter("hitl_refusals", "Refused attempts, by reason (outsider, mismatch, workspace, ...;"
                                " the decide step's: self, not_allowed, frozen, already_decided, ...)", ["reason"],
                                registry=r)
        # the audit log, as the watcher (bot/audit/watch.py) sees it: set by the worker holding its lease
        self.audit_seq = Gauge("hitl_audit_last_seq", "The audit log's last seq (its counter)", registry=r)
        self.audit_checkpoint_seq = Gauge("hitl_audit_last_checkpoint_seq", "The seq the newest signed checkpoint"
                                          " covers to", registry=r)
        self.audit_checkpoint_at = Gauge("hitl_audit_last_checkpoint_timestamp_seconds", "When the newest checkpoint"
                                         " was signed (epoch seconds)", registry=r)
        self.audit_verified_seq = Gauge("hitl_audit_last_verified_seq", "The last seq the watcher verified against"
                                        " its signed checkpoint", registry=r)
        self.audit_verified_at = Gauge("hitl_audit_last_verified_timestamp_seconds", "When the watcher last found"
                                       " the log intact (epoch seconds): every look that does, new entries or none",
                                       registry=r)
        self.audit_findings = Counter("hitl_audit_integrity_findings", "Integrity findings said by the watcher, by"
                                      " kind", ["kind"], registry=r)
        self.audit_standing = Gauge("hitl_audit_integrity_standing", "1 for each kind of integrity finding standing"
                                    " (until a look that reads its source whole finds it gone)", ["kind"], registry=r)
        self.keys_without_sponsor = Gauge("hitl_keys_without_sponsor", "API keys that stand with no sponsor named"
                                          " (`keys create --sponsor`, `keys sponsor`; all workers)", registry=r)
        # how people decide (issue 80), the same on every worker: read from Redis at each scrape (`oversight`)
        self.fast_approvals = Gauge("hitl_fast_approvals", "Approvals made faster than the card's reading time"
                                    " (its words at 240 a minute, at least 2 s), by person (top METRICS_TOP_PEOPLE,"
                                    " the rest as \"other\")", ["person"], registry=r)
        self.approval_streak = Gauge("hitl_approval_streak", "Each person's approvals since their last rejection or"
                                     " revision (\"other\": the longest of the rest)", ["person"], registry=r)
        self.unopened_high_risk = Gauge("hitl_unopened_high_risk_approvals", "Approvals of high-risk calls (a"
                                        " policy's @step_up) whose details the person never opened, by person",
                                        ["person"], registry=r)
        self.time_to_decide = Gauge("hitl_time_to_decide_seconds", "From the card reaching a person to their"
                                    " decision, over the last decisions: p50, p90, p99 by person, channel or policy"
                                    " (scope)", ["quantile", "scope", "name"], registry=r)
        # service levels (bot/core/service_levels.py): pending approvals by state, read at each scrape; breaches told
        self.sla_approvals = Gauge("hitl_sla_approvals", "Pending approvals with a service level, by state (within,"
                                   " at_risk, breached; all workers)", ["state"], registry=r)
        self.sla_breaches = Counter("hitl_sla_breaches", "Approvals that breached their service level, told by this"
                                    " worker (each once)", registry=r)
        # fatigue (bot/approvals/fatigue.py): each person's cards this hour, read at each scrape (the top
        # `top_people` and "other"); approvers passed over for being over `max_asks_per_hour`
        self.cards_per_hour = Gauge("hitl_cards_per_hour", "Cards each named approver got this hour (the top"
                                    " METRICS_TOP_PEOPLE people, the rest summed as \"other\"; all workers)",
                                    ["person"], registry=r)
        self.fatigue_rerouted = Counter("hitl_fatigue_rerouted", "Approvers passed over for a new approval, being"
                                        " over their channel's max_asks_per_hour, by this worker", registry=r)
        # one surface down is not every surface down (#87): each surface's word, kept at each scrape
        self.surface_up = Gauge("hitl_surface_up", "1 while a surface serves (slack: Slack accepts the bot token;"
                                " teams: the Bot Connector takes the bot's cards), 0 while it is down; no series for"
                                " a surface not configured", ["surface"], registry=r)
        self.surface_refused = Gauge("hitl_surface_refused", "1 for the reason a surface is down (slack: Slack's error,"
                                     " token_revoked...; teams: the Bot Connector's status)", ["surface", "reason"],
                                     registry=r)
        self.teams_due = Gauge("hitl_teams_copies_due", "Approvals whose Teams copies wait in Teams' due set (a post"
                               " or an update Teams did not take yet, or being drawn now; all workers)", registry=r)
        self.teams_refused = Counter("hitl_teams_refused", "Sends to Teams (the Bot Connector) refused or not answered,"
                                     " by this worker, by status (401, 403, 404, 429, 5xx, unreachable)", ["status"],
                                     registry=r)
        self.teams_latency = Histogram("hitl_teams_delivery_seconds", "From an approval opened to its Teams copy"
                                       " posted (each copy: the channel's, each personal chat's), by this worker",
                                       buckets=TEAMS_BUCKETS, registry=r)
        self.alert_webhooks = Counter("hitl_alert_webhook_deliveries", "Alert webhooks (ALERT_WEBHOOK_URL) sent, by"
                                      " outcome (delivered, failed)", ["outcome"], registry=r)
        self.email_sent = Counter("hitl_email_sent", "Approval e-mails (issue 88) by outcome: sent, retry (the"
                                  " mail server refused or did not answer: tried again later), failed (given up"
                                  " after the last retry), by this worker", ["outcome"], registry=r)
        from_zero(self.email_sent, "sent", "retry", "failed")
        self.push_sent = Counter("hitl_push_sent", "Web Pushes to approvers (issue 90) by outcome: sent (a push"
                                 " service took it), retry (refused or not answered: tried again later), failed"
                                 " (given up after the last retry), gone (the device's subscription was gone: 404,"
                                 " 410; forgotten), by this worker", ["outcome"], registry=r)
        from_zero(self.push_sent, "sent", "retry", "failed", "gone")
        self.tickets = Counter("hitl_tickets", "Change tickets' calls to the ticket system (issue 91) by system (jira,"
                               " servicenow), step (open, close) and outcome: done, retry (refused or not answered:"
                               " tried again later), failed (given up after the last retry, or no such system set"
                               " up), by this worker", ["system", "step", "outcome"], registry=r)
        for system in ("jira", "servicenow"):
            for step in ("open", "close"):
                for outcome in ("done", "retry", "failed"):
                    self.tickets.labels(system, step, outcome)
        self.oncall_lookups = Counter("hitl_oncall_lookups", "Lookups of who is on call now in an on-call schedule"
                                      " (issue 90) by provider (pagerduty, opsgenie, grafana, none) and outcome: ok,"
                                      " cached (kept within the minute), unavailable (down, 5xx, no answer), refused"
                                      " (401, 403, 404: a bad token or schedule), malformed, unset (no provider);"
                                      " each but ok and cached sent the approval to its fallback approvers, by this"
                                      " worker", ["provider", "outcome"], registry=r)

    def oversee(self, seen: Oversight, *, top: int) -> None:
        """Set the per-person signals and the time-to-decide quantiles from `seen`, each bounded to `top` names."""
        for gauge, signal in ((self.fast_approvals, "fast"), (self.unopened_high_risk, "unopened")):
            gauge.clear()
            for person, value in top_people(seen.signals.get(signal, {}), top).items():
                gauge.labels(person).set(value)
        self.approval_streak.clear()
        streaks = seen.signals.get("streak", {})
        kept = top_people(streaks, top)
        for person in kept:  # (a streak is not summed: "other" is the longest of the rest)
            rest = [value for name, value in streaks.items() if name not in kept]
            self.approval_streak.labels(person).set(max(rest, default=0) if person == OTHER else streaks[person])
        self.time_to_decide.clear()
        for scope in ("person", "channel", "policy"):
            groups = grouped(seen.times, scope)
            kept = top_people({name: len(values) for name, values in groups.items()}, top)
            for name in kept:
                values = (groups[name] if name != OTHER else
                          [v for other, vs in groups.items() if other not in kept for v in vs])
                for q in QUANTILES:
                    self.time_to_decide.labels(f"{q:g}", scope, name).set(round(quantile(values, q), 3))

    def redis_cluster_retried(self, reason: str) -> None:
        """A failover the Redis Cluster client rode (bot/store/cluster_mends.py `ClusterRetries`), by reason."""
        self.redis_cluster_retries.labels(reason).inc()

    def redis_writes_refused_by(self, reason: str) -> None:
        """A write Redis refused (bot/store/connection.py `WriteRefusals`): `reason` oom, misconf or readonly."""
        self.redis_writes_refused.labels(reason).inc()

    def surfaces(self, said: Mapping[str, str]) -> None:
        """Each surface's word (bot/probes.py's `surfaces`: "ok", "token refused (token_revoked)", "refused (401)",
        "not configured"...) as `hitl_surface_up` and `hitl_surface_refused`."""
        self.surface_up.clear()
        self.surface_refused.clear()
        for surface, word in said.items():
            if word == "not configured":
                continue
            self.surface_up.labels(surface).set(1 if word == "ok" else 0)
            if word != "ok":
                self.surface_refused.labels(surface, reason_of(word)).set(1)

    def sla_states(self, counts: Mapping[str, int]) -> None:
        """The pending approvals with a service level in each state (every state, 0 included)."""
        for state in SLA_STATES:
            self.sla_approvals.labels(state).set(counts.get(state, 0))

    def channel(self, channel: str) -> str:
        """`channel` as a label: at most `MAX_CHANNELS` distinct ones, then "other" (a bounded label set)."""
        if channel in self._channels:
            return channel
        if len(self._channels) < MAX_CHANNELS and channel:
            self._channels.add(channel)
            return channel
        return "other"

    def decided(self, channel: str, outcome: str, seconds: float) -> None:
        """A decision made by this worker, `seconds` after its request."""
        self.decisions.labels(outcome).inc()
        self.latency.labels(self.channel(channel), outcome).observe(max(0.0, seconds))

    async def render(
        self, waiting: Callable[[], Awaitable[dict[str, tuple[int, float]]]],
        *, frozen: Callable[[], Awaitable[Collection[str]]] | None = None,
        archive_lag: Callable[[], Awaitable[tuple[int, float]]] | None = None,
        siem_lag: Callable[[], Awaitable[tuple[int, float]]] | None = None,
        oversight: Callable[[], Awaitable[Oversight]] | None = None, top: int = 20,
        sla: Callable[[], Awaitable[Mapping[str, int]]] | None = None,
        cards: Callable[[], Awaitable[Mapping[str, float]]] | None = None,
    ) -> bytes:
        """The metrics, with the waiting approvals read now (`waiting`: {channel: (how many, oldest
        request time)}, for every worker: a channel label per channel with approvals waiting) and the frozen
        scopes (`frozen`: a gauge of 1 per scope) and, with an archive, how far it is behind (`archive_lag`: entries,
        seconds) and so the SIEM stream (`siem_lag`), how people decide (`oversight`, each per-person series bounded
        to `top` names), the pending approvals with a service level by state (`sla`) and each person's cards this
        hour (`cards`: bounded already, `top_people`)."""
        try:
            by_channel = await waiting()
            scopes = await frozen() if frozen is not None else ()
            lag = await archive_lag() if archive_lag is not None else None
            siem = await siem_lag() if siem_lag is not None else None
            seen = await oversight() if oversight is not None else None
            states = await sla() if sla is not None else None
            per_person = await cards() if cards is not None else None
        except Exception:  # Redis down: keep the last values; /healthz says degraded
            return generate_latest(self.registry)
        if seen is not None:
            self.oversee(seen, top=top)
        if states is not None:
            self.sla_states(states)
        if per_person is not None:
            self.cards_per_hour.clear()
            for person, count in per_person.items():
                self.cards_per_hour.labels(person).set(count)
        if lag is not None:
            self.archive_lag.set(lag[0])
            self.archive_lag_seconds.set(round(lag[1], 3))
        if siem is not None:
            self.siem_lag.set(siem[0])
            self.siem_lag_seconds.set(round(siem[1], 3))
        self.frozen.clear()
        for scope in sorted(scopes)[:MAX_CHANNELS]:  # a bounded label set (frozen scopes are few)
            self.frozen.labels(scope).set(1)
        now = time.time()
        self.pending.set(sum(count for count, _ in by_channel.values()))
        self.waiting.clear()
        self.oldest.clear()
        labelled: dict[str, tuple[int, float]] = {}
        for channel, (count, oldest) in by_channel.items():
            label = self.channel(channel)
            before = labelled.get(label, (0, oldest))
            labelled[label] = (before[0] + count, min(before[1], oldest))
        for label, (count, oldest) in labelled.items():
            self.waiting.labels(label).set(count)
            self.oldest.labels(label).set(max(0.0, now - oldest))
        return generate_latest(self.registry)
