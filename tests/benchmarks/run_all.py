"""Run every benchmark, write their JSON, the plot and a summary of key figures (medians over repeats).

    python tests/benchmarks/run_all.py --small                   # each once at a small size (a few minutes)
    python tests/benchmarks/run_all.py --small --jobs 2          # CI: the same, two at a time (only not to rot)
    python tests/benchmarks/run_all.py --small --jobs 2 --skip ts_adapters   # CI, while npm installs the project
    python tests/benchmarks/run_all.py --repeat 3                # full sizes, 3 rounds, medians in summary.json
    python tests/benchmarks/run_all.py --only click,ack --repeat 3

Each round runs the benchmarks one after another (so repeats of one benchmark are spread over time on a noisy
machine), or `--jobs` at a time: then each one's figures share the machine with another's and are not to be quoted
(CI runs them so only to see that none crashed). Exits non-zero only when a script crashes, never because a goal
was missed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks import launch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

# name -> (script, small arguments, full arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "click": ("click_to_resume.py", ["--small"], ["--decisions", "2000"]),
    "ack": ("ack_under_load.py", ["--small"], ["--bursts", "10"]),
    "ack2": ("ack_under_load.py", ["--small", "--workers", "2"], ["--bursts", "10", "--workers", "2"]),
    "scale": ("scale.py", ["--small"], []),
    "slack_calls": ("slack_calls.py", ["--small"], []),
    "feedback": ("feedback_floor.py", ["--small"], []),
    "polling": ("polling.py", ["--small"], ["--decisions", "20", "--window", "10"]),
    "profile": ("profile_click.py", ["--small"], ["--clicks", "2000"]),
    "homes": ("home_redraws.py", ["--small"], []),
    "report": ("report_build.py", ["--small"], []),
    "reminders": ("reminders.py", ["--small"], []),
    "rules": ("rules_check.py", ["--small"], []),
    "api": ("api_long_poll.py", ["--small"], []),
    "frameworks": ("frameworks.py", ["--small"], []),
    "ts_adapters": ("ts_adapters.py", ["--small"], []),
    "mcp": ("mcp_gateway.py", ["--small"], []),
    "home_scale": ("home_scale.py", ["--small"], []),
    "home_storm": ("home_storm.py", ["--small"], []),
    "audit": ("audit_chain.py", ["--small"], []),
    "audit_archive": ("audit_archive.py", ["--small"], []),
    "audit_watch": ("audit_watch.py", ["--small"], []),
    "receipts": ("receipts.py", ["--small"], []),
    "hostile": ("hostile_load.py", ["--small"], []),
    "claude_code": ("claude_code_hook.py", ["--small"], []),
    "api_flood": ("api_flood.py", ["--small"], []),
    "policy": ("policy.py", ["--small"], []),
    "durable": ("durable_resume.py", ["--small"], []),
    "windows": ("windows.py", ["--small"], []),
    "redaction": ("redaction.py", ["--small"], []),
    "tenants": ("tenants.py", ["--small"], []),
    "workspaces": ("workspaces.py", ["--small"], []),
    "workspaces_ready": ("workspaces_ready.py", ["--small"], []),  # ready with 1,000 workspaces against home alone
    "sessions": ("session_calls.py", ["--small"], []),
    "sizing": ("sizing.py", ["--small"], []),
    "change_card": ("change_card.py", ["--small"], []),
    "triage": ("triage.py", ["--small", "--no-assert"], ["--no-assert"]),
    "push": ("push_vs_card.py", ["--small", "--report-only"], ["--report-only"]),
    "cluster": ("cluster_click.py", ["--small"], []),  # click -> resumed on Redis Cluster against one node (#89)
}


def _get(data: Any, *path: str) -> float | None:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return float(data) if isinstance(data, int | float) and not isinstance(data, bool) else None


def key_figures(name: str, result: dict[str, Any]) -> dict[str, float | None]:
    """The figures RESULTS.md quotes, flat, so repeats can be reduced to medians."""
    out: dict[str, float | None] = {}
    if name == "click":
        for series in result.get("resumed", {}):
            out[f"{series} p50 ms"] = _get(result, "resumed", series, "p50_ms")
            out[f"{series} p99 ms"] = _get(result, "resumed", series, "p99_ms")
            out[f"{series} ack p50 ms"] = _get(result, "acked", series, "p50_ms")
        for ratio in result.get("ratios", {}):
            out[f"{ratio} p50 ratio"] = _get(result, "ratios", ratio, "p50")
            out[f"{ratio} p99 ratio"] = _get(result, "ratios", ratio, "p99")
    elif name == "api":
        for series in ("in_process", "api", "http_rtt"):
            out[f"{series} p50 ms"] = _get(result, "latency", "ms", series, "p50_ms")
            out[f"{series} p99 ms"] = _get(result, "latency", "ms", series, "p99_ms")
        out["api/in_process p50 ratio"] = _get(result, "latency", "ratio_api_to_in_process_p50")
        out["api/in_process p99 ratio"] = _get(result, "latency", "ratio_api_to_in_process_p99")
        out["long-polls held"] = _get(result, "concurrency", "long_polls")
        out["RSS KB per long-poll"] = _get(result, "concurrency", "rss_kb_per_long_poll")
        out["decision -> answer p50 ms"] = _get(result, "concurrency", "decision_to_answer", "p50_ms")
        out["decision -> answer max ms"] = _get(result, "concurrency", "decision_to_answer", "max_ms")
    elif name == "api_flood":
        for series in ("quiet", "flood"):
            out[f"click -> resumed {series} p50 ms"] = _get(result, "click_to_resumed", series, "p50_ms")
            out[f"click -> resumed {series} p99 ms"] = _get(result, "click_to_resumed", series, "p99_ms")
        out["flood/quiet p50 ratio"] = _get(result, "ratio_flood_to_quiet_p50")
        out["flood requests per second"] = _get(result, "flood_requests_per_second")
    elif name == "frameworks":
        out["floor: request_tool p50 ms"] = _get(result, "auto", "floor_request_tool_ms", "p50_ms")
        out["floor: click -> wait p50 ms"] = _get(result, "click", "floor_click_to_wait_ms", "p50_ms")
        out["floor: click -> wait -> use p50 ms"] = _get(result, "click", "floor_click_to_wait_use_ms", "p50_ms")
        for fw in ("openai_agents", "langgraph", "pydantic_ai", "agent_framework", "autogen"):
            out[f"{fw}: overhead p50 ms"] = _get(result, "auto", fw, "overhead_p50_ms")
            out[f"{fw}: overhead p90 ms"] = _get(result, "auto", fw, "overhead_p90_ms")
            out[f"{fw}: overhead / request_tool p50"] = _get(result, "auto", fw, "ratio_overhead_to_floor_p50")
            out[f"{fw}: click -> tool p50 ms"] = _get(result, "click", fw, "click_to_tool_ms", "p50_ms")
            out[f"{fw}: click -> tool / click -> wait p50"] = _get(result, "click", fw, "ratio_to_floor_p50")
            out[f"{fw}: click -> tool / click -> wait -> use p50"] = _get(result, "click", fw, "ratio_to_floor_use_p50")
    elif name == "ts_adapters":
        out["floor: toolDecision p50 ms"] = _get(result, "floor_tool_decision_ms", "p50_ms")
        for adapter in ("ai-sdk", "mastra", "openai-agents", "langgraph"):
            out[f"{adapter}: gated p50 ms"] = _get(result, adapter, "gated_ms", "p50_ms")
            out[f"{adapter}: overhead p50 ms"] = _get(result, adapter, "overhead_p50_ms")
            out[f"{adapter}: overhead / toolDecision p50"] = _get(result, adapter, "ratio_overhead_to_floor_p50")
            out[f"{adapter}: native approval cost p50 ms"] = _get(result, adapter, "native_cost_p50_ms")
            out[f"{adapter}: overhead / (native approval + toolDecision) p50"] = _get(
                result, adapter, "ratio_to_native_p50"
            )
            out[f"{adapter}: overhead / (native approval + toolDecision), median of rounds"] = _get(
                result, adapter, "ratio_to_native_median_of_rounds"
            )
    elif name == "mcp":
        for series in ("direct", "gateway"):
            out[f"allowed {series} p50 ms"] = _get(result, "allowed", "ms", series, "p50_ms")
            out[f"allowed {series} p99 ms"] = _get(result, "allowed", "ms", series, "p99_ms")
        out["allowed added p50 ms"] = _get(result, "allowed", "added_p50_ms")
        out["allowed added p99 ms"] = _get(result, "allowed", "added_p99_ms")
        for series in ("tool_decision", "gateway"):
            out[f"approved click -> result {series} p50 ms"] = _get(
                result, "approved_click_to_result", "ms", series, "p50_ms"
            )
        out["approved added p50 ms"] = _get(result, "approved_click_to_result", "added_p50_ms")
        out["approved added p99 ms"] = _get(result, "approved_click_to_result", "added_p99_ms")
    elif name == "claude_code":
        for series in ("command", "http", "floor_api", "floor_process"):
            out[f"{series} p50 ms"] = _get(result, "ms", series, "p50_ms")
        out["command/http p50 ratio"] = _get(result, "ratios", "command/http p50")
        out["http/floor_api p50 ratio"] = _get(result, "ratios", "http/floor_api p50")
    elif name == "policy":
        for part in ("evaluation", "end_to_end"):
            for series, figures in (result.get(part, {}).get("median_ms") or {}).items():
                for q in ("p50", "p90"):
                    out[f"{part} {series} {q} ms"] = _get(figures, q)
            for ratio in result.get(part, {}).get("ratios") or {}:
                out[f"{part} {ratio}"] = _get(result, part, "ratios", ratio)
    elif name == "durable":
        for series in ("resumed", "floor"):
            out[f"{series} p50 ms"] = _get(result, series, "p50_ms")
            out[f"{series} p90 ms"] = _get(result, series, "p90_ms")
        out["resumed / floor p50"] = _get(result, "ratio_p50")
    elif name == "windows":
        for calls, figures in (result.get("calls") or {}).items():
            for series in ("count", "sum", "sum_loop"):
                out[f"{calls} calls {series} redis us/read"] = _get(figures, series, "redis_us_per_read")
            out[f"{calls} calls sum / sum_loop redis time"] = _get(figures, "sum / sum_loop redis time")
    elif name == "triage":
        for q in ("p50", "p90"):
            out[f"ask -> resume (model decides) {q} ms"] = _get(result, "ask_to_resume", f"{q}_ms")
        out["model answer ms"] = _get(result, "model_answer_ms")
        out["ask -> resume / model answer p50"] = _get(result, "ratio_p50")
    elif name == "change_card":
        for series in ("plain", "with_change", "with_change_no_detectors"):
            out[f"{series} p50 ms"] = _get(result, "ms", series, "p50_ms")
        out["with_change / plain p50"] = _get(result, "ratio_p50")
        out["with_change_no_detectors / plain p50"] = _get(result, "ratio_p50_no_detectors")
        out["with_change / plain CPU p50"] = _get(result, "cpu_ratio_p50")
    elif name == "push":
        for series in ("card", "push"):
            out[f"{series} p50 ms"] = _get(result, "ms", series, "p50_ms")
        out["push / card p50"] = _get(result, "ratio_p50")
    elif name == "redaction":
        for case, figures in (result.get("cases") or {}).items():
            out[f"{case} find+redact us"] = _get(figures, "find_and_redact_us")
            out[f"{case} ratio to json.dumps"] = _get(figures, "ratio_to_json_dumps")
        for case, figures in (result.get("asks") or {}).items():
            out[f"{case} ask with / without detection"] = _get(figures, "ratio_with_to_without")
    elif name == "tenants":
        for series in result.get("resumed", {}):
            out[f"{series} p50 ms"] = _get(result, "resumed", series, "p50_ms")
            out[f"{series} p99 ms"] = _get(result, "resumed", series, "p99_ms")
        for ratio in result.get("ratios", {}):
            out[f"{ratio} p50 ratio"] = _get(result, "ratios", ratio, "p50")
            out[f"{ratio} p99 ratio"] = _get(result, "ratios", ratio, "p99")
    elif name == "workspaces":
        for size in result.get("sizes", []):
            n = size.get("workspaces")
            out[f"{n} workspaces: idle CPU %"] = _get(size, "idle_cpu_percent")
            out[f"{n} workspaces: idle Redis commands/s"] = _get(size, "idle_redis_commands_per_s")
            out[f"{n} workspaces: memory per workspace KB"] = _get(size, "memory_per_workspace_kb")
            out[f"{n} workspaces: resumed p50 ms"] = _get(size, "resumed", "p50_ms")
            out[f"{n} workspaces: resumed p99 ms"] = _get(size, "resumed", "p99_ms")
    elif name == "workspaces_ready":
        for series in ("floor", "installed"):
            for key in ("first_line_to_ready_s", "start_to_ready_s", "cpu_to_ready_s"):
                out[f"{series}: {key}"] = _get(result, series, key)
        for key in ("first_line_to_ready_s", "start_to_ready_s", "cpu_to_ready_s"):
            out[f"installed / floor: {key}"] = _get(result, "ratios", key)
    elif name == "home_scale":
        opened = result.get("open_to_publish", {})
        for series in opened:
            if isinstance(opened[series], dict):
                out[f"open -> publish {series} p50 ms"] = _get(opened, series, "p50_ms")
        out["open -> publish p50 ratio (most pending / 100)"] = _get(opened, "p50_ratio")
        for key in ("homes_showing_it", "homes_redrawn", "until_each_redrawn_max_ms", "worker_cpu_ms"):
            out[f"one decision: {key}"] = _get(result, "one_decision", key)
        for key in ("publishes", "most_publishes_in_any_window", "budget_per_window", "refused_429",
                    "none_stale_after_s", "stale_homes_at_end", "worker_cpu_ms_per_decision"):
            out[f"burst: {key}"] = _get(result, "burst", key)
        for goal, met in (result.get("goals") or {}).items():
            out[f"goal met: {goal}"] = float(bool(met))
    elif name == "home_storm":
        out["click -> card update p99 ratio (Homes open / none)"] = _get(result, "p99_ratio")
        for i, entry in enumerate(result.get("rounds") or []):
            for phase, figures in (entry.get("phases") or {}).items():
                where = f"round {i} {phase}"
                for q in ("p50", "p99", "max"):
                    out[f"{where}: click -> card update {q} ms"] = _get(figures, "click_to_card_update", f"{q}_ms")
                out[f"{where}: runs requested"] = _get(figures, "runs_requested")
                out[f"{where}: runs started"] = _get(figures, "runs_started")
                counts = figures.get("log", {}).get("counts") or {}
                for line in ("ConnectionError", "No connection available", "stayed locked"):
                    out[f"{where}: log lines '{line}'"] = _get(counts, line)
        for goal, met in (result.get("goals") or {}).items():
            out[f"goal met: {goal}"] = float(bool(met))
    elif name in ("ack", "ack2"):
        out["ack p50 ms (from burst)"] = _get(result, "ack_from_burst", "p50_ms")
        out["ack p99 ms (from burst)"] = _get(result, "ack_from_burst", "p99_ms")
        out["ack max ms"] = _get(result, "ack_from_burst", "max_ms")
        out["median warm-burst p99 ms"] = _get(result, "median_warm_burst_p99_ms")
        out["errors"] = _get(result, "errors")
        out["auth.test calls"] = _get(result, "slack_calls", "auth.test")
        for proc, ms in (result.get("cpu_ms_per_click") or {}).items():
            out[f"CPU ms per click: {proc}"] = float(ms)
    elif name == "scale":
        for mode, entry in result.get("modes", {}).items():
            out[f"{mode}: RSS KB per approval"] = _get(entry, "memory", "rss_kb_per_approval")
            out[f"{mode}: Redis KB per approval"] = _get(entry, "memory", "redis_kb_per_approval")
            out[f"{mode}: decisions/s (2 workers)"] = _get(entry, "clicks", "decisions_per_s")
            out[f"{mode}: click ack p99 ms"] = _get(entry, "clicks", "ack", "p99_ms")
            out[f"{mode}: click errors"] = _get(entry, "clicks", "errors")
            for proc, ms in (entry.get("clicks", {}).get("cpu_ms_per_decision") or {}).items():
                out[f"{mode}: CPU ms per decision: {proc}"] = float(ms)
            for t in entry.get("timeouts", []):
                spread = f"deadlines over {t['spread_s']:g} s"
                for q in ("p50", "p99", "max"):
                    out[f"{mode}: timeouts, {spread}: resumed-deadline {q} ms"] = _get(
                        t, "resumed_minus_deadline", f"{q}_ms"
                    )
                out[f"{mode}: timeouts, {spread}: decided_at-deadline p99 ms"] = _get(
                    t, "decided_minus_deadline", "p99_ms"
                )
                out[f"{mode}: timeouts, {spread}: later than 1 s"] = _get(t, "resumed_over_1s")
        out["teams: RSS KB per waiting run"] = _get(result, "teams", "rss_kb_per_waiting_run")
    elif name == "slack_calls":
        out["card posts per approval"] = _get(result, "totals", "card_posts_per_approval")
        out["card updates per decision"] = _get(result, "totals", "card_updates_per_decision")
        out["read calls"] = _get(result, "totals", "reads")
        out["Slack calls while waiting"] = _get(result, "idle_window", "slack_calls")
        out["Redis commands/s per idle worker"] = _get(result, "idle_redis_commands_per_s_per_worker")
    elif name == "sizing":
        for figure in ("audit_entries_per_approval", "redis_used_memory_per_approval_bytes",
                       "approval_records_per_approval_bytes", "audit_stream_bytes_per_entry",
                       "redis_per_approval_without_archive_bytes", "redis_per_approval_with_archive_bytes",
                       "workspace_fixed_bytes",
                       "approvals_per_s_one_worker", "verify_entries_per_s"):
            out[figure] = _get(result, "burst", figure)
        for figure in ("objects_per_segment", "bytes_per_segment", "verify_ms_per_segment"):
            out[figure] = _get(result, "trickle", figure)
        for figure in ("archive_objects", "verify_minutes", "redis_audit_mb_without_archive"):
            out[f"year: {figure}"] = _get(result, "year_at_5000_a_day", figure)
    elif name == "sessions":
        out["Slack calls per run step, without sessions"] = _get(result, "without_sessions", "per_step")
        out["Slack calls per run step, with sessions"] = _get(result, "with_sessions", "per_step")
        out["with / without sessions"] = _get(result, "ratio")
        out["chat.appendStream per run step"] = _get(result, "with_sessions", "appends_per_step")
    elif name == "feedback":
        for series, key in (("ours", "feedback_to_next_card_ms"), ("floor bot", "floor_bot_ms"),
                            ("agent floor", "agent_floor_ms")):
            for q in ("p50", "p99"):
                out[f"feedback -> next card {series} {q} ms"] = _get(result, key, f"{q}_ms")
        for q in ("p50", "p99"):
            out[f"ours / floor bot {q}"] = _get(result, f"{q}_x_floor")
            out[f"ours / agent floor {q}"] = _get(result, f"{q}_x_agent_floor")
    elif name == "polling":
        for design in result.get("designs", {}):
            out[f"{design} mean added ms"] = _get(result, "designs", design, "added", "mean_ms")
            out[f"{design} max added ms"] = _get(result, "designs", design, "added", "max_ms")
    elif name == "homes":
        for series in result.get("ack", {}).get("acked", {}):
            out[f"{series}: ack p50 ms"] = _get(result, "ack", "acked", series, "p50_ms")
            out[f"{series}: ack p90 ms"] = _get(result, "ack", "acked", series, "p90_ms")
            out[f"{series}: worker CPU ms per decision"] = _get(
                result, "ack", "series", series, "cpu_ms_per_decision", "worker"
            )
        for ratio in result.get("ack", {}).get("ratios", {}):
            out[f"{ratio} ack p50 ratio"] = _get(result, "ack", "ratios", ratio, "p50")
            out[f"{ratio} ack p90 ratio"] = _get(result, "ack", "ratios", ratio, "p90")
        for series in result.get("burst", {}).get("median", {}):
            for key in ("publishes_per_decision", "cards_redrawn_ms", "homes_current_ms", "outbox_empty_ms"):
                out[f"burst {series}: {key}"] = _get(result, "burst", "median", series, key)
    elif name == "reminders":
        for case in result.get("cases", []):
            spread = f"due over {case.get('spread_s', 0):g} s"
            out[f"{spread}: lateness p50 ms"] = _get(case, "lateness", "p50_ms")
            out[f"{spread}: lateness max ms"] = _get(case, "lateness", "max_ms")
            out[f"{spread}: over 1 s"] = _get(case, "over_1s")
            out[f"{spread}: floor max ms"] = _get(case, "floor", "lateness", "max_ms")
    elif name == "report":
        out["entries"] = _get(result, "entries")
        out["floor: read the stream s"] = _get(result, "floor_read_s", "median")
        out["report in-process s"] = _get(result, "report_s", "median", "total_s")
        for part in ("read_s", "compute_s", "render_s"):
            out[f"report {part}"] = _get(result, "report_s", "median", part)
        out["python -m bot report s"] = _get(result, "cli_s", "median")
        out["report / floor"] = _get(result, "ratios", "report / floor")
    elif name == "rules":
        figures = result.get("figures") or {}
        wanted = (
            "round trips added by the check",
            "commands added by the check",
            "Slack calls before ask returns",
            "Redis round trips on the path",
            ": p50 / floor",
            "matched ask / card path",
            "decode 100 stored rules us",
            "100 rules us: 5 conditions, matching",
        )
        for key, value in figures.items():
            if any(part in key for part in wanted):
                out[key] = value
    elif name == "audit":
        out["append us"] = _get(result, "append", "append_us")
        out["append plain XADD us"] = _get(result, "append", "plain_xadd_us")
        out["append / plain XADD"] = _get(result, "append", "ratio_append_to_plain")
        out["Redis usec per append"] = _get(result, "append", "redis_usec_per_call", "evalsha (append)")
        out["two workers entries/s"] = _get(result, "throughput", "append_per_s")
        out["two workers plain XADD/s"] = _get(result, "throughput", "plain_per_s")
        out["verify s"] = _get(result, "verify", "verify_s")
        out["verify entries/s"] = _get(result, "verify", "entries_per_s")
        out["verify / floor"] = _get(result, "verify", "ratio_verify_to_floor")
    elif name == "audit_archive":
        for key in ("numbered_per_s", "archived_per_s", "verified_per_s", "redis_bytes_per_entry",
                    "archive_bytes_per_entry", "redis_year_without_archive_mb", "redis_30_days_kept_mb"):
            out[key.replace("_", " ")] = _get(result, key)
    elif name == "audit_watch":
        out["watcher full look CPU s per 10k entries"] = _get(result, "cpu", "full_cpu_s_per_10k")
        out["watcher incremental look CPU s per 10k entries"] = _get(result, "cpu", "incremental_cpu_s_per_10k")
        out["decide ms watched"] = _get(result, "click_path", "decide_ms_watched")
        out["decide ms unwatched"] = _get(result, "click_path", "decide_ms_unwatched")
        out["decide watched / unwatched"] = _get(result, "click_path", "ratio_watched_to_unwatched")
    elif name == "receipts":
        for series in ("decide", "sign", "issue", "reissue_read", "verify", "bot_verify", "spend"):
            out[f"{series} us"] = _get(result, "median_us", series)
            out[f"{series} / decide"] = _get(result, "ratio_to_decide", series)
    elif name == "hostile":
        out["/healthz quiet p50 ms"] = _get(result, "quiet_ms", "p50_ms")
        out["/healthz under hostile load p50 ms"] = _get(result, "loaded_ms", "p50_ms")
        out["/healthz hostile p50 / quiet p50"] = _get(result, "p50_ratio")
        out["/healthz hostile max / quiet p50"] = _get(result, "max_ratio")
    elif name == "profile":
        for proc, ms in (result.get("plain", {}).get("cpu_ms_per_click") or {}).items():
            out[f"CPU ms per click: {proc}"] = float(ms)
        commands = result.get("plain", {}).get("redis_commands_per_click") or {}
        out["Redis round trips per click (EVALSHA)"] = commands.get("evalsha")
        for label, share in (result.get("py_spy", {}).get("share") or {}).items():
            out[f"B CPU share: {label}"] = share
    return out


def median_table(rounds: list[dict[str, dict[str, float | None]]]) -> dict[str, dict[str, Any]]:
    names: dict[str, list[str]] = {}
    for figures in rounds:
        for bench, values in figures.items():
            names.setdefault(bench, [])
            names[bench] += [k for k in values if k not in names[bench]]
    table: dict[str, dict[str, Any]] = {}
    for bench, keys in names.items():
        table[bench] = {}
        for key in keys:
            found = [r[bench][key] for r in rounds if bench in r and r[bench].get(key) is not None]
            numbers = [float(v) for v in found if v is not None]
            if numbers:
                table[bench][key] = {"median": statistics.median(numbers), "runs": numbers}
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="each benchmark once at its small (CI) size")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (full sizes unless --small)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="benchmarks at a time (more than 1: only to see that none crashes; figures not quotable)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    parser.add_argument("--skip", default="", help="comma-separated benchmarks not to run (CI runs ts_adapters apart)")
    parser.add_argument("--out-dir", type=Path, default=REPO / "artifacts" / "bench")
    parser.add_argument("--plot", type=Path, default=None, help="where to draw the plot (default: in --out-dir)")
    args = parser.parse_args()
    chosen = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    skipped = [n for n in args.skip.split(",") if n]
    unknown = [n for n in chosen + skipped if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmarks {unknown}")
    chosen = [n for n in chosen if n not in skipped]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    crashed: list[str] = []
    rounds: list[dict[str, dict[str, float | None]]] = []
    began, cpu_seconds = time.perf_counter(), 0.0
    for round_no in range(args.repeat):
        figures: dict[str, dict[str, float | None]] = {}

        def argv(name: str, round_no: int = round_no) -> list[str]:
            script, small, full = BENCHMARKS[name]
            out = args.out_dir / f"{name}-{round_no}.json"
            more = ["--seed", str(round_no + 1)] if name == "polling" else []  # other random click times each round
            return [str(HERE / script), *(small if args.small else full), "--out", str(out), *more]

        def log(name: str, round_no: int = round_no) -> Path:
            return args.out_dir / f"{name}-{round_no}.log"

        if args.small:  # forked from this process, which imported the bot once (launch.py)
            ran: Iterator[launch.Ran] = launch.run_forked(
                [(name, Path(argv(name)[0]), argv(name)[1:], log(name)) for name in chosen], args.jobs
            )
        else:
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs))
            futures = [pool.submit(launch.run_process, name, [sys.executable, *argv(name)], log(name))
                       for name in chosen]
            ran = (done.result() for done in concurrent.futures.as_completed(futures))
        for done in ran:
            out = args.out_dir / f"{done.name}-{round_no}.json"
            status = "ok" if done.code == 0 else f"CRASHED (exit {done.code})"
            print(f"round {round_no + 1}/{args.repeat} {done.name:16} {done.seconds:6.1f} s"
                  f" (CPU {done.cpu_seconds:6.1f} s)  {status}", flush=True)
            cpu_seconds += done.cpu_seconds
            if done.code != 0 or not out.exists():
                crashed.append(f"{done.name} round {round_no + 1}")
                continue
            figures[done.name] = key_figures(done.name, json.loads(out.read_text()))
        rounds.append(figures)
    print(f"\nall: {time.perf_counter() - began:.1f} s, CPU {cpu_seconds:.1f} s (the scripts and their helpers)"
          f", load average {os.getloadavg()[0]:.1f} at the end")
    summary = median_table(rounds)
    (args.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    for bench, values in summary.items():
        print(f"\n{bench} (median of {args.repeat})")
        for key, row in values.items():
            print(f"  {key:58} {row['median']:12.3f}")
    click_json = args.out_dir / "click-0.json"
    polling_json = args.out_dir / "polling-0.json"
    if click_json.exists() and importlib.util.find_spec("matplotlib") is None:
        print("plot skipped: pip install matplotlib")
    elif click_json.exists():
        plot_out = args.plot or args.out_dir / "latency.png"
        cmd = [sys.executable, str(HERE / "plot.py"), "--click", str(click_json), "--out", str(plot_out)]
        if polling_json.exists():
            cmd += ["--polling", str(polling_json)]
        if subprocess.run(cmd, cwd=REPO, check=False).returncode != 0:
            crashed.append("plot")
    if crashed:
        print(f"\ncrashed: {', '.join(crashed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
