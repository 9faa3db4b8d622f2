"""Signed receipts (#38): what signing and verifying an approval's receipt cost, beside the decision itself.

Measure (issue #38, parts 1 and 2): "receipt signing and verification cost per approval (side by side with the
decision itself)".

Real parts: a throwaway redis-server; the store as a worker builds it; a signing key made for the run
(`python -m bot signing rotate`'s file, bot/core/signing.py); the receipt issuer the API uses
(bot/api/receipts.py). Per approval (a pending tool call asked through the API, stored as the API stores it):

* `decide`: the floor: the store's decide step approving it through the real Redis (one Lua step);
* `sign`: building its claims and signing them (Ed25519, in-process, no Redis);
* `issue`: what the API's first answer after the decision adds: read the stored receipt (none), claims, sign,
  keep it (lua/issue_receipt.lua);
* `reissue_read`: every later answer: the stored receipt read back (one HMGET);
* `verify`: the executor's offline check, `agent_approvals.receipts.verify` with the JWKS (signature, claims,
  RFC 8785 digest of the arguments);
* `bot_verify`: the bot's own check of a receipt spent at its use endpoint (`SigningKeys.verify`);
* `spend`: the executor's use through the store (lua/use_receipt.lua: jti, single use, an audit entry).

Each is timed per approval; `--rounds` rounds of `--approvals` approvals, the series of a round taken in a rotating
order (so none always runs after the same one); reported: the median over rounds of each series' per-round median
(us) and its ratio to the floor's. Nothing here asserts on time; it exits 1 only if a receipt fails to verify.

    python tests/benchmarks/receipts.py [--rounds 5] [--approvals 400] [--out FILE]
    python tests/benchmarks/receipts.py --small     # CI: 3 rounds of 60 approvals
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent_approvals.approver import canonical_json, digest_of
from agent_approvals.receipts import TYPE, ReceiptError, verify

from bot.api.receipts import ReceiptIssuer, new_jti, receipt_claims
from bot.api.requests import ApiError
from bot.audit.checkpoints import KeyAnnouncer
from bot.core.key_files import ensure_keys_file
from bot.core.records import API_OWNER
from bot.core.signing import SigningKeys
from bot.store import Store, connect
from bot.store.api_keys import id_of_key
from tests.benchmarks.common import (
    ORIGIN_CHANNEL,
    REVIEWER,
    machine_info,
    new_approval,
    start_redis,
    stop_redis,
    write_json,
)

ARGUMENTS = {"to": "jordan@example.com", "subject": "An update to our prices from 1 July",
             "body": "Hello Jordan, our prices change on 1 July: see the attached list. Best, the sales team"}
KEY_NAME = "bench-emailer"
SERIES = ("decide", "sign", "issue", "reissue_read", "verify", "bot_verify", "spend")


def pending(n: int, key_id: str) -> Any:
    """A pending tool call asked with the API key `key_id` (named KEY_NAME), as the API stores it."""
    approval = new_approval(API_OWNER, approval_id=f"a-bench{n:020d}")
    return replace(approval, kind="tool_call", tool_name="send_email", arguments=canonical_json(ARGUMENTS),
                   digest=digest_of(ARGUMENTS), asked_by=KEY_NAME, key_id=key_id)


def steps_for(store: Store, keys: SigningKeys, issuer: ReceiptIssuer, jwks: dict[str, Any], approval: Any, *,
              token: str) -> dict[str, Callable[[], Awaitable[None]]]:
    """The series, for one pending approval (each step after the one it needs)."""
    state: dict[str, Any] = {}

    async def decide() -> None:
        result = await store.approvals.decide(approval.id, outcome="approved", by=REVIEWER)
        assert result.status == "ok" and result.approval is not None, result.status
        state["decided"] = result.approval

    async def sign() -> None:
        claims = await receipt_claims(state["decided"], issuer=issuer.issuer, ttl=issuer.ttl, now=time.time(),
                                      jti=new_jti())
        state["signed"] = keys.sign(claims, typ=TYPE)

    async def issue() -> None:
        state["receipt"] = await issuer.receipt_of(state["decided"])

    async def reissue_read() -> None:
        assert await issuer.receipt_of(state["decided"]) == state["receipt"]

    async def verify_offline() -> None:
        verify(state["receipt"], jwks, tool="send_email", arguments=ARGUMENTS, audience=approval.key_id)

    async def bot_verify() -> None:
        state["claims"] = issuer.check(state["receipt"], approval.id)

    async def spend() -> None:
        await issuer.spend(approval, state["claims"], token=token)  # (raises unless this token spent it)

    return {
        "decide": decide, "sign": sign, "issue": issue, "reissue_read": reissue_read, "verify": verify_offline,
        "bot_verify": bot_verify, "spend": spend,
    }


async def one_round(store: Store, keys: SigningKeys, issuer: ReceiptIssuer, base: int, count: int,
                    shift: int, key_id: str) -> tuple[dict[str, list[float]], int]:
    """`count` approvals through every series (in an order rotated by `shift`); per series, seconds each."""
    timed: dict[str, list[float]] = {name: [] for name in SERIES}
    jwks = keys.public_jwks(time.time(), 600)
    failures = 0
    for i in range(count):
        approval = pending(base + i, key_id)
        assert await store.approvals.create(approval) == "ok"
        steps = steps_for(store, keys, issuer, jwks, approval, token=f"executor-{base + i}")
        # decide -> issue -> read -> bot_verify -> spend depend on each other; the in-process ones (sign, verify)
        # take turns before and after their neighbours
        if (shift + i) % 2 == 0:
            order = ["decide", "sign", "issue", "reissue_read", "verify", "bot_verify", "spend"]
        else:
            order = ["decide", "issue", "sign", "reissue_read", "bot_verify", "verify", "spend"]
        for name in order:
            started = time.perf_counter()
            try:
                await steps[name]()
            except (ReceiptError, ApiError, AssertionError) as exc:
                print(f"approval {approval.id}: {name} failed: {exc}", file=sys.stderr)
                failures += 1
                break
            timed[name].append(time.perf_counter() - started)
    return timed, failures


async def measure(rounds: int, approvals: int) -> dict[str, Any]:
    server = start_redis()
    redis = connect(server.url)
    store = Store(redis)
    try:
        with tempfile.TemporaryDirectory(prefix="receipts-bench-") as folder:
            path = Path(folder) / "keys.json"
            ensure_keys_file(path)
            keys = SigningKeys.from_file(path)
            issuer = ReceiptIssuer(store, keys, issuer="https://approvals.example.com", ttl=600,
                                   announcer=KeyAnnouncer(store, worker="bench"))
            made = await store.api_keys.create(KEY_NAME, [ORIGIN_CHANNEL], by=REVIEWER)  # a key that stands
            assert made is not None
            key_id = id_of_key(made.key)
            await one_round(store, keys, issuer, 10**9, 20, 0, key_id)  # warm-up (scripts loaded, caches filled)
            per_round: dict[str, list[float]] = {name: [] for name in SERIES}
            failures = 0
            for r in range(rounds):
                timed, failed = await one_round(store, keys, issuer, r * approvals, approvals, r, key_id)
                failures += failed
                for name, values in timed.items():
                    per_round[name].append(statistics.median(values))
            first = pending(0, key_id)
            sample = await issuer.receipt_of((await store.approvals.get(first.id)) or first)
    finally:
        await redis.aclose()
        stop_redis(server)
    medians_us = {name: statistics.median(values) * 1e6 for name, values in per_round.items()}
    floor = medians_us["decide"]
    return {
        "benchmark": "receipts",
        "machine": machine_info(),
        "rounds": rounds,
        "approvals_per_round": approvals,
        "median_us": medians_us,
        "ratio_to_decide": {name: value / floor for name, value in medians_us.items()},
        "per_approval_added_us": {
            "api (issue once, then reads)": medians_us["issue"],
            "executor (verify offline + spend)": medians_us["verify"] + medians_us["bot_verify"] + medians_us["spend"],
        },
        "receipt_bytes": len(sample or ""),
        "runs_us": {name: [v * 1e6 for v in values] for name, values in per_round.items()},
        "failures": failures,
    }


def print_summary(result: dict[str, Any]) -> None:
    print(f"\nper approval, median of {result['rounds']} rounds of {result['approvals_per_round']} (us, x the decide"
          " step):")
    for name in SERIES:
        print(f"  {name:13s} {result['median_us'][name]:8.1f} us   x{result['ratio_to_decide'][name]:.2f}")
    print(f"  a receipt is {result['receipt_bytes']} bytes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds (medians over them)")
    parser.add_argument("--approvals", type=int, default=400, help="approvals per round")
    parser.add_argument("--small", action="store_true", help="CI size: 3 rounds of 60 approvals")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    if args.small:
        args.rounds, args.approvals = 3, 60
    result = asyncio.run(measure(args.rounds, args.approvals))
    print(json.dumps({k: v for k, v in result.items() if k not in ("machine", "runs_us")}, indent=2, default=str))
    print_summary(result)
    write_json(result, args.out)
    return 0 if result["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
