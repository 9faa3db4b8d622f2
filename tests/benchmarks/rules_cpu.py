"""The rules and the call `rules_check.py` measures (a rule that matches `ARGUMENTS`, others of the same tool that do
not), and its third part: what matching costs in CPU, in this process (`Match.matches`, 100 rules' `approves`,
decoding 100 stored rules, parsing the call's arguments), each per call, median over repeats."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from agent_approvals.approver import digest_of

from bot.core.allow_rules import Condition, Match, Rule, exact_match
from bot.store.rules import _decoded
from tests.benchmarks.common import DRAFT, REVIEWER

ARGUMENTS = {"to": "jordan@example.com", "subject": "An update to our prices from 1 July", "body": DRAFT}
MATCHING = Match(tool="send_email", where=(("to", Condition("ends_with", "@example.com")),))
DAY = 86400


def other_match(i: int) -> Match:
    """A rule of the same tool that does not match `ARGUMENTS` (the worst case for the loop: same tool)."""
    if i % 3 == 0:
        return exact_match("send_email", {**ARGUMENTS, "to": f"person{i}@example.com"})
    if i % 3 == 1:
        return Match(tool="send_email", where=(("to", Condition("ends_with", f"@partner{i}.example")),))
    where = (
        ("subject", Condition("starts_with", f"Invoice {i}")),
        ("to", Condition("one_of", (f"a{i}@example.com", f"b{i}@example.com"))),
    )
    return Match(tool="send_email", where=where)


def channel_rule(channel: str, match: Match, *, now: float) -> Rule:
    return Rule(
        id="",
        scope="channel",
        channel=channel,
        run="",
        match=match,
        created_by=REVIEWER,
        created_at=now,
        expires_at=now + DAY,
    )


def five_conditions() -> Match:
    where = (
        ("notify", Condition("ends_with", "@example.com")),
        ("region", Condition("one_of", ("eu-west-1", "eu-central-1", "us-east-1"))),
        ("replicas", Condition("at_most", 10)),
        ("service", Condition("equals", "billing")),
        ("version", Condition("starts_with", "v2.")),
    )
    return Match.from_json(Match(tool="deploy", where=where).to_json())  # as stored and read back


DEPLOY = {
    "notify": "ops@example.com",
    "region": "eu-central-1",
    "replicas": 4,
    "service": "billing",
    "version": "v2.7.1",
}


def cpu_cases() -> dict[str, tuple[Match, str, Any]]:
    """name -> (a rule's match, the call's tool, its arguments)."""
    email_digest = exact_match("send_email", ARGUMENTS)
    return {
        "exact, other tool": (email_digest, "deploy", DEPLOY),
        "exact, same tool, other arguments": (
            exact_match("send_email", {**ARGUMENTS, "to": "x@example.com"}),
            "send_email",
            ARGUMENTS,
        ),
        "exact, matching": (email_digest, "send_email", ARGUMENTS),
        "1 condition (to ends with), matching": (MATCHING, "send_email", ARGUMENTS),
        "5 conditions, matching (all 5 checked)": (five_conditions(), "deploy", DEPLOY),
        "5 conditions, the last one fails": (five_conditions(), "deploy", {**DEPLOY, "version": "v3.0.0"}),
    }


def per_call_ns(fn: Callable[[], Any], *, loops: int, repeat: int) -> float:
    """Median over `repeat` of the time of one `fn()` (ns), each timed over `loops` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(loops):
            fn()
        times.append((time.perf_counter_ns() - start) / loops)
    return statistics.median(times)


def measure_cpu(*, loops: int, repeat: int) -> dict[str, Any]:
    now = time.time()
    out: dict[str, Any] = {"matches_ns_per_call": {}, "approves_100_rules_us": {}}
    for name, (match, tool, arguments) in cpu_cases().items():
        digest = digest_of(arguments)
        expected = match.tool == tool and (digest == match.digest if match.exact else "fails" not in name)
        if match.matches(tool, arguments, digest) != expected:
            raise RuntimeError(f"CPU case {name}: matches() is not {expected}")
        out["matches_ns_per_call"][name] = per_call_ns(
            lambda m=match, t=tool, a=arguments, d=digest: m.matches(t, a, d), loops=loops, repeat=repeat
        )
        rules = [replace(channel_rule("C0CPU", match, now=now), id=f"R{i + 1}") for i in range(100)]

        def all_rules(rules: list[Rule] = rules, t: str = tool, a: Any = arguments, d: str = digest) -> None:
            for rule in rules:  # as `by_rule` loops (every rule checked: the worst case)
                rule.approves(run="rbench", tool=t, arguments=a, digest=d, now=now)

        out["approves_100_rules_us"][name] = per_call_ns(all_rules, loops=max(1, loops // 100), repeat=repeat) / 1000
    stored = {
        f"R{i + 1}": json.dumps(
            {
                k: v
                for k, v in channel_rule("C0CPU", other_match(i), now=now).to_fields().items()
                if k not in ("id", "uses")
            }
        )
        for i in range(100)
    }
    out["decode_100_stored_rules_us"] = (
        per_call_ns(lambda: _decoded(stored, {}), loops=max(1, loops // 100), repeat=repeat) / 1000
    )
    arguments_text = json.dumps(ARGUMENTS, indent=2)
    out["parse_the_call_arguments_us"] = (
        per_call_ns(lambda: json.loads(arguments_text), loops=loops, repeat=repeat) / 1000
    )
    return out
