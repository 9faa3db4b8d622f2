"""The reply to `/agent policy`: the policy bundle in force (bot/policy/: its hash, mode, when and where from it was
loaded), each policy with how often it decided, and what the policies in shadow would have changed in the channel
lately, with a few examples. Policy ids and file names come from POLICY_DIR, reasons and tools from asks: all shown
inert."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.report import PolicyFigures, verdict_words
from bot.report.entries import entry_time
from bot.report.policies import policy_ids
from bot.slack.blocks.text import (
    TEXT_BUDGET,
    channel_ref,
    context_block,
    date_ref,
    escape,
    line_sections,
    mrkdwn,
    safe,
    tool_label,
)

ID_LIMIT = 100
REASON_LIMIT = 200
SHADOW_POLICIES = 5  # policies named in the shadow summary
SHADOW_BUDGET = 4000  # characters of the shadow summary and its examples
OUTCOMES = {"allow": "allows", "deny": "refuses", "ask": "asks a person"}  # what a policy does when it applies


@dataclass(frozen=True, slots=True)
class PolicyLine:
    """One policy of the bundle as the reply lists it."""

    id: str
    outcome: str  # allow, deny, ask
    shadow: bool  # decides nothing (its own @mode("shadow"), or POLICY_MODE=shadow)
    where: str  # file:line
    decided: int  # approvals it decided or routed (this bundle, every channel)


@dataclass(frozen=True, slots=True)
class BundleView:
    """The bundle a worker decides by."""

    hash: str
    mode: str  # POLICY_MODE: enforce or shadow
    loaded_at: float
    directory: str  # POLICY_DIR ("": the shipped defaults alone)
    policies: Sequence[PolicyLine]
    failed: str = ""  # why the files on disk do not load now: this bundle, the last good one, stays
    failed_since: float = 0.0
    warning: str = ""  # what the worker found wrong with it outside Cedar (a user group Slack does not know)


def policy_line(policy: PolicyLine) -> str:
    shadow = " · _shadow_" if policy.shadow else ""
    times = "once" if policy.decided == 1 else f"{policy.decided} times"
    does = OUTCOMES.get(policy.outcome, escape(policy.outcome))
    done = "asked people" if policy.outcome == "ask" else "decided"  # an ask policy leaves the decision to people
    return f"• `{safe(policy.id, ID_LIMIT)}` {does}{shadow} · {safe(policy.where, 160)} · {done} {times}"


def shadow_lines(channel: str, shadow: PolicyFigures, *, days: int, any_shadow: bool) -> list[str]:
    """What the policies in shadow would have changed in `channel` in the last `days`, with a few examples."""
    head = f"*What the policies in shadow would have changed in {channel_ref(channel)}, last {days} days*"
    if not shadow.shadow:
        return [head, "Nothing: they decided as the others did." if any_shadow else "No policy is in shadow."]
    asks = "1 ask" if shadow.shadow == 1 else f"{shadow.shadow} asks"
    named = [f"`{safe(policy_id, ID_LIMIT)}` {count}× {verdict_words(v)}"
             for policy_id, v, count in shadow.by_policy[:SHADOW_POLICIES]]
    more = len(shadow.by_policy) - SHADOW_POLICIES
    lines = [head, f"{asks}: " + ", ".join(f"{count} {verdict_words(v)}" for v, count in shadow.would) + ".",
             "By policy: " + ", ".join(named) + (f" … and {more} more." if more > 0 else "."), "_Latest:_"]
    for entry in shadow.examples:
        tool = entry.get("tool") or ""
        what = tool_label(tool) if tool else escape(entry.get("kind") or "message")
        ids = ", ".join(f"`{safe(policy_id, ID_LIMIT)}`" for policy_id in policy_ids(entry)) or "no policy"
        was, would = verdict_words(entry.get("outcome") or ""), verdict_words(entry.get("would") or "")
        reason = safe(entry.get("reason") or "", REASON_LIMIT)
        when = date_ref(entry_time(entry) or 0.0)
        lines.append(f"• {when} {what}: {was}; would have been {would} by {ids}: {reason}")
    return lines


def policy_reply(channel: str, bundle: BundleView, shadow: PolicyFigures, *, days: int) -> dict[str, Any]:
    """`/agent policy`: the bundle, its policies (as many as fit; "… and N more"), what the shadow ones would have
    changed here. Within one message's limits."""
    where = (f"from `{safe(bundle.directory, 300)}`" if bundle.directory
             else "from the shipped default policy alone (POLICY_DIR is not set)")
    count = f"{len(bundle.policies)} polic{'y' if len(bundle.policies) == 1 else 'ies'}"
    intro = (f"*Policies in force*: bundle `{escape(bundle.hash[:12])}` · mode *{escape(bundle.mode)}* · loaded"
             f" {date_ref(bundle.loaded_at)} {where} · {count}")
    if bundle.mode == "shadow":
        intro += "\nPOLICY_MODE is shadow: POLICY_DIR's policies decide nothing; what they would have changed is below."
    if bundle.failed:
        intro += (f"\n:warning: *The files in the folder do not load* (since {date_ref(bundle.failed_since)}): the last"
                  f" good bundle above stays in force. {safe(bundle.failed, 500)}")
    if bundle.warning:
        intro += f"\n:warning: {safe(bundle.warning, 600)}"
    any_shadow = any(policy.shadow for policy in bundle.policies)
    changed, _ = line_sections(shadow_lines(channel, shadow, days=days, any_shadow=any_shadow), SHADOW_BUDGET)
    budget = TEXT_BUDGET - len(intro) - sum(len(block["text"]["text"]) for block in changed) - 400  # "… and N more"
    listed, shown = line_sections((policy_line(policy) for policy in bundle.policies), budget)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(intro)}, *listed]
    if shown < len(bundle.policies):
        blocks.append(context_block(f"… and {len(bundle.policies) - shown} more policies not shown."))
    blocks += changed
    blocks.append(context_block(
        "How often each decided counts this bundle's decisions in every channel. The whole picture:"
        " `python -m bot report` (docs/reviewers/report.md)."))
    return {"text": f"Policies in force: bundle {bundle.hash[:12]}, {count}.", "blocks": blocks}
