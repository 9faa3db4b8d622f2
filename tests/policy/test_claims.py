"""What the policies decided can be checked afterwards: every decision's audit entry and receipt carry
`policy: {bundle, ids}` (a person's decision on a routed ask too), a refused call tells the agent why and never
reaches a card, and every worker shows the bundle it decides by on /healthz."""

from __future__ import annotations

import json
from pathlib import Path

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB
from tests.support.api import Client, new_key
from tests.support.hitl import card_of, click, nth_card, until
from tests.support.policies import REFUND_WINDOWS, REFUNDS, refund, write_bundle
from tests.support.signing import get_json, signing_worker, verified

DENY = '''
@id("no-huge-refunds")
@reason("refunds over {args.amount_cents|usd} are never made by an agent")
forbid (principal, action == Action::"refund", resource) when { context.args.amount_cents > 500000 };
'''


async def test_receipts_and_audit_entries_carry_the_policies_and_a_denial_says_why(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    folder = write_bundle(tmp_path / "policies", {"refunds.cedar": REFUNDS.replace('@approvers("S0FINANCE")', "")
                                                  .replace('@quorum("2")', ""), "deny.cedar": DENY,
                                                  "policy.yaml": REFUND_WINDOWS})
    workers = [await signing_worker(slack, redis_url, tmp_path / "keys.json", POLICY_DIR=str(folder))
               for _ in range(2)]
    try:
        worker = workers[0]
        bundle = worker.services.approvals.policies.bundle.hash
        for each in workers:  # every worker says which bundle it decides by
            assert (await get_json(each.url + "/healthz"))[1]["policy"] == {"bundle": bundle, "mode": "enforce"}
        client = Client(worker, (await new_key(worker, "support-bot")).key)
        _, allowed = await client.ask(refund(30000))
        assert allowed["status"] == "approved"
        _, claims = await verified(worker, allowed["receipt"])
        assert claims["policy"] == {"bundle": bundle, "ids": ["refunds-within-budget"]}
        assert claims["decided_by"] == [{"type": "policy", "ids": ["refunds-within-budget"]}]

        _, denied = await client.ask(refund(900000))
        assert denied["status"] == "rejected" and denied["receipt"] is None
        assert "refunds over $9,000 are never made by an agent" in json.dumps(denied)
        assert len(card_of(slack)) == 0  # refused at once: nobody was asked

        _, asked = await client.ask(refund(30000))  # $300 more would pass $500: a person decides
        assert asked["status"] == "pending"
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        answer = await client.wait(asked["id"])
        _, claims = await verified(worker, answer["receipt"])
        assert claims["policy"] == {"bundle": bundle, "ids": ["refunds-over-budget"]}
        assert claims["decided_by"][0]["type"] == "person"

        entries = await until(lambda: worker.services.store.audit.entries(), what="the audit log")
        by_approval = {(e.get("approval"), e["event"]): e for e in entries}
        for approval, event in ((allowed["id"], "auto_approved"), (denied["id"], "auto_rejected"),
                                (asked["id"], "requested"), (asked["id"], "decision")):
            entry = by_approval[(approval, event)]
            assert json.loads(entry["policy"])["bundle"] == bundle, entry
        assert json.loads(by_approval[(asked["id"], "requested")]["windows"]) == {"refunds_24h": 30000}
        assert by_approval[(denied["id"], "auto_rejected")]["by"] == "policy"
    finally:
        for each in workers:
            await each.stop()
