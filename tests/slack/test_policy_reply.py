"""The reply of `/agent policy` (#42), pure: the bundle and its policies with how often each decided, what the
policies in shadow would have changed, cut to one message's limits ("… and N more"), and text from POLICY_DIR and
from asks shown inert."""

from __future__ import annotations

import json
import time

from bot.devslack.blockkit import validate_blocks
from bot.report import policy_figures
from bot.slack.blocks.policy import BundleView, PolicyLine, policy_reply
from tests.conftest import SALES, block_texts

HASH = "ab12" * 16


def shadow_entry(n: int, *, reason: str = "over budget", ids: tuple[str, ...] = ("no-big-refunds",)) -> dict[str, str]:
    return {"event": "policy_shadow", "at": repr(time.time() - n), "approval": f"a{n}", "outcome": "none",
            "would": "deny", "reason": reason, "tool": "refund", "kind": "tool", "origin_channel": SALES,
            "policy": json.dumps({"bundle": HASH, "ids": list(ids)})}


def view(policies: list[PolicyLine], *, mode: str = "enforce", directory: str = "/etc/policies") -> BundleView:
    return BundleView(hash=HASH, mode=mode, loaded_at=1_700_000_000.0, directory=directory, policies=policies)


def test_the_bundle_its_policies_and_what_the_shadow_ones_would_have_changed() -> None:
    policies = [PolicyLine("refunds-within-budget", "allow", False, "refunds.cedar:2", 12),
                PolicyLine("no-big-refunds", "deny", True, "refunds.cedar:9", 0)]
    shadow = policy_figures([shadow_entry(n) for n in range(4)], shadow_since=0)
    reply = policy_reply(SALES, view(policies), shadow, days=7)
    assert validate_blocks(reply["blocks"]) is None
    text = block_texts(reply)
    assert f"bundle `{HASH[:12]}` · mode *enforce*" in text and "from `/etc/policies` · 2 policies" in text
    assert "• `refunds-within-budget` allows · refunds.cedar:2 · decided 12 times" in text
    assert "• `no-big-refunds` refuses · _shadow_ · refunds.cedar:9 · decided 0 times" in text
    assert f"would have changed in <#{SALES}>, last 7 days" in text
    assert "4 asks: 4 refused at once." in text and "`no-big-refunds` 4× refused at once" in text
    assert text.count("would have been refused at once by `no-big-refunds`: over budget") == 3  # a few examples


def test_nothing_in_shadow_and_no_policy_dir_are_said() -> None:
    default = [PolicyLine("default:risk-words", "ask", False, "input_mode.cedar:5", 3)]
    text = block_texts(policy_reply(SALES, view(default, directory=""), policy_figures([]), days=7))
    assert "from the shipped default policy alone (POLICY_DIR is not set)" in text and "1 policy" in text
    assert "• `default:risk-words` asks a person · input_mode.cedar:5 · asked people 3 times" in text
    assert "No policy is in shadow." in text
    shadowed = [PolicyLine("all-refunds", "allow", True, "r.cedar:1", 0)]
    reply = policy_reply(SALES, view(shadowed, mode="shadow"), policy_figures([]), days=7)
    text = block_texts(reply)
    assert "POLICY_MODE is shadow" in text and "Nothing: they decided as the others did." in text


def test_many_policies_are_cut_to_fit_with_how_many_more() -> None:
    policies = [PolicyLine(f"policy-{n:04d}-" + "x" * 80, "ask", n % 2 == 0, f"p{n}.cedar:{n}", n) for n in range(600)]
    shadow = policy_figures([shadow_entry(n, reason="r" * 1000, ids=tuple(f"id{i}" + "y" * 90 for i in range(20)))
                             for n in range(50)], shadow_since=0)
    reply = policy_reply(SALES, view(policies), shadow, days=7)
    blocks = reply["blocks"]
    assert validate_blocks(blocks) is None and len(blocks) <= 50
    assert all(len(block["text"]["text"]) <= 3000 for block in blocks if block["type"] == "section")
    text = block_texts(reply)
    shown = text.count("• `policy-")
    assert 20 < shown < 600 and f"… and {600 - shown} more policies not shown." in text
    assert "By policy: " in text and "… and 15 more." in text  # 20 policies named by the shadow verdicts: 5 shown


def test_text_from_policy_files_and_asks_is_inert() -> None:
    hostile = "<!channel> <@U0BOB> <https://evil.example|click>"
    policies = [PolicyLine(hostile, "deny", False, hostile + ".cedar:1", 1)]
    entry = {**shadow_entry(1, reason=hostile, ids=(hostile,)), "tool": "<@U0BOB>"}
    reply = policy_reply(SALES, view(policies, directory=hostile), policy_figures([entry]), days=7)
    text = block_texts(reply)
    for live in ("<!channel>", "<@U0BOB>", "<https://"):
        assert live not in text, live
    assert "&lt;!channel&gt;" in text
