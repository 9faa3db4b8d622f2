"""What `rules_check.py` measured, as figures RESULTS.md quotes, its goals and a table."""

from __future__ import annotations

import json
from typing import Any


def figures(result: dict[str, Any]) -> dict[str, float]:
    """The figures RESULTS.md quotes (flat: `run_all.py` takes medians of them over rounds)."""
    out: dict[str, float] = {}
    for name, case in result["counts"].items():
        out[f"{name}: Redis round trips on the path"] = case["redis_on_path"]["round_trips"]
        out[f"{name}: Redis commands on the path"] = case["redis_on_path"]["commands"]
        out[f"{name}: Slack calls before ask returns"] = sum(case["slack_before_return"].values())
        out[f"{name}: Slack calls after"] = sum(case["slack_after_return"].values())
    base = result["counts"]["baseline: no rule check (maybe_ran)"]["redis_on_path"]
    for name in ("no rules in the channel", "100 live rules, none matching"):
        case = result["counts"][name]["redis_on_path"]
        out[f"{name}: round trips added by the check"] = case["round_trips"] - base["round_trips"]
        out[f"{name}: commands added by the check"] = case["commands"] - base["commands"]
    for name, row in result["latency"]["series"].items():
        out[f"{name}: p50 ms"] = row["p50_ms"]
        out[f"{name}: p50 / floor"] = row["p50_over_floor"]
    for name, row in result["latency"]["differences"].items():
        out[f"{name}: ms"] = row["ms"]
    out["matched ask / card path (100 rules)"] = result["latency"]["matched ask / card path (100 rules)"]
    out["matched ask / card path (1 rule; 0 rules)"] = result["latency"]["matched ask (1 rule) / card path (0 rules)"]
    out["matched ask: the chain / the policies asked first"] = result["latency"][
        "matched ask (1 rule): the chain / the policies asked first"]
    for name, count in result["latency"]["policy evaluations per matched ask"].items():
        out[f"policy evaluations per matched ask: {name}"] = count
    for name, ns in result["cpu"]["matches_ns_per_call"].items():
        out[f"Match.matches ns: {name}"] = ns
    for name, us in result["cpu"]["approves_100_rules_us"].items():
        out[f"100 rules us: {name}"] = us
    out["decode 100 stored rules us"] = result["cpu"]["decode_100_stored_rules_us"]
    return out


def goals(result: dict[str, Any]) -> dict[str, Any]:
    counts = result["counts"]
    base = counts["baseline: no rule check (maybe_ran)"]["redis_on_path"]["round_trips"]
    checked = [counts[n] for n in ("no rules in the channel", "100 live rules, none matching")]
    matched = [counts[n] for n in ("a matching rule (alone)", "a matching rule (100 rules, it last)")]
    return {
        "the check adds at most one Redis round trip": all(
            c["redis_on_path"]["round_trips"] - base <= 1 for c in checked
        ),
        "the check adds no Slack call": all(
            sum(c["slack_before_return"].values())
            == sum(counts["baseline: no rule check (maybe_ran)"]["slack_before_return"].values())
            for c in checked
        ),
        "a matched call makes no Slack call before its decision": all(
            sum(c["slack_before_return"].values()) == 0 for c in matched
        ),
    }


def print_table(result: dict[str, Any]) -> None:
    print("\nper tool call (medians over the calls):")
    print(f"{'case':40} {'RTT path':>8} {'cmds':>5} {'slack before':>12} {'slack after':>12}  path commands")
    for name, case in result["counts"].items():
        path = case["redis_on_path"]
        print(
            f"{name:40} {path['round_trips']:8g} {path['commands']:5g} {sum(case['slack_before_return'].values()):12g}"
            f" {sum(case['slack_after_return'].values()):12g}  {json.dumps(path['by_command'])}"
        )
    latency = result["latency"]
    print(f"\nlatency ({latency['rounds']} rounds of {latency['samples_per_round']}; medians of per-round p50)")
    for name, row in latency["series"].items():
        print(f"  {name:55} {row['p50_ms']:7.3f} ms  {row['p50_over_floor']:6.2f}x floor")
    for name, row in latency["differences"].items():
        print(f"  {name:70} {row['ms']:+7.3f} ms ({row['over_floor']:+.2f}x floor)")
    print(f"  matched ask / card path, 100 rules: {latency['matched ask / card path (100 rules)']:.3f}")
    print(f"  matched ask (1 rule) / card path (0 rules): {latency['matched ask (1 rule) / card path (0 rules)']:.3f}")
    print("\nCPU:")
    for name, ns in result["cpu"]["matches_ns_per_call"].items():
        us = result["cpu"]["approves_100_rules_us"][name]
        print(f"  {name:45} {ns:8.0f} ns per matches()  {us:8.1f} us per 100 rules")
    print(f"  decode 100 stored rules {result['cpu']['decode_100_stored_rules_us']:.0f} us")
    print(f"\ngoals: {json.dumps(result['goals'])}")
    if result["errors"]:
        print(f"ERRORS: {result['errors']}")
