"""Web Push beside the Slack card (#90): how long after an ask its approver's device gets the push, against how long
until its Slack card is posted, measured side by side on the same asks in one run.

Real parts: one worker in this process (the real app over HTTP: the Approvals API, the approval service, the card
posted to the Slack stand-in, the push surface draining its due set and sending with pywebpush: RFC 8291 encryption,
a VAPID token per push), the Slack stand-in in another process, the local push service (bot/devpush/) in a
third (it checks each push's VAPID token and decrypts it, as a device's push service and the device would, and
notes when each came), one redis-server. The approver (bob) has one device subscribed. Each ask is one
`POST /api/v1/approvals`, timed from its request to:

* `card`: the API's answer (201 once the card is posted: the card's post is done by then; the push surface starts
  when the approval is stored pending, `ApprovalStored`, before the card is posted: the two go in parallel);
* `push`: the push received by the push service and decrypted (its record's time, read from its `/view.json`), for
  that approval.

Reported: p50 / p90 of each (ms) and the ratio push / card at p50. Goal (#90): the push within 1.2x of the card's
post at p50; the script exits 1 when it is missed (`--report-only`: never, for run_all.py's rule), or when an ask has
no card or no push.

    python tests/benchmarks/push_vs_card.py [--asks 100] [--out FILE]
    python tests/benchmarks/push_vs_card.py --small     # CI: 2 asks after 1 warm-up (every path, no figure)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "agents"))

from bot.devkit.standin import free_port
from bot.store.push import Subscription
from tests.benchmarks.common import Proc, machine_info, start_redis, stop_redis, summary_ms, worker_env, write_json
from tests.conftest import Worker, start_worker

WARMUP = 5
ROOT = Path(__file__).resolve().parents[2]
GOAL = 1.2
CHANNEL = "C0BENCH00"
BOB = "U0BOB"
KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # a SECRETS_KEY (the actions' links are signed under it)
ASK = json.dumps({"kind": "tool", "title": "Raise the price of plan B", "requester": "U0ALICE",
                  "tool": {"name": "set_price", "arguments": {"plan": "B", "price": 12}}}).encode()


def vapid_key() -> str:
    value = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).decode().rstrip("=")


SERVICE = """
import sys, threading
sys.path.insert(0, {root!r})
from bot.devpush.service import PushService
service = PushService(port={port})
service.start()
threading.Event().wait()
"""


async def push_service(root: Path) -> tuple[asyncio.subprocess.Process, str]:
    """The local push service in a process of its own: it and its URL, once it answers."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", SERVICE.format(root=str(root), port=port))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url + "/view.json") as answer:
                    if answer.status == 200:
                        return process, url
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the local push service did not start")
            await asyncio.sleep(0.05)


async def pushed_at(http: aiohttp.ClientSession, service: str, approval: str) -> float | None:
    async with http.get(service + "/view.json") as answer:
        found = [p["at"] for p in (await answer.json())["pushes"] if p["data"].get("approval") == approval]
    return found[0] if found else None


async def one(http: aiohttp.ClientSession, worker: Worker, service: str,
              headers: dict[str, str]) -> tuple[float, float]:
    """One ask: (seconds to its card posted, seconds to its push received)."""
    started_wall, started = time.time(), time.perf_counter()
    async with http.post(worker.url + "/api/v1/approvals", data=ASK, headers=headers) as response:
        asked = await response.json()
    card = time.perf_counter() - started
    if response.status != 201:
        raise RuntimeError(f"the ask was refused: {asked}")
    record = await worker.services.store.approvals.get(asked["id"])
    if record is None or not record.card_ts:
        raise RuntimeError(f"no card for {asked['id']}")
    deadline = time.monotonic() + 10
    while (at := await pushed_at(http, service, asked["id"])) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no push for {asked['id']} in 10 s")
        await asyncio.sleep(0.02)  # (the service notes when the push came: this poll's pace is not measured)
    return card, at - started_wall


async def measure(asks: int, warmup: int = WARMUP) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-push-"))
    redis_server = start_redis()
    slack = await Proc.start("slack", {"kind": "standin"}, log_dir=log_dir)
    cards: list[float] = []
    pushes: list[float] = []
    service, url = await push_service(ROOT)
    try:
        env = worker_env(api_url=str(slack.info["api_url"]), redis_url=redis_server.url)
        env.update({"PUBLIC_URL": "http://localhost:8080", "SECRETS_KEY": KEY, "VAPID_PRIVATE_KEY": vapid_key(),
                    "VAPID_SUBJECT": "mailto:bench@example.com", "PUSH_LOCAL_SERVICE_URL": url})
        worker = await start_worker(env)
        try:
            async with aiohttp.ClientSession() as http:
                store = worker.services.store
                await store.settings.set(CHANNEL, "approvers", BOB, by="bench")
                async with http.post(url + "/subscriptions") as given:
                    device = await given.json()
                kept = Subscription(endpoint=device["endpoint"], p256dh=device["keys"]["p256dh"],
                                    auth=device["keys"]["auth"], added=time.time())
                await store.push.subscribe(BOB, kept, limit=10)
                key = await store.api_keys.create("bench", [CHANNEL], by="bench", max_pending=100_000,
                                                  per_minute=100_000)
                assert key is not None
                headers = {"Authorization": f"Bearer {key.key}", "Content-Type": "application/json"}
                for n in range(warmup + asks):
                    card, push = await one(http, worker, url, headers)
                    if n >= warmup:
                        cards.append(card)
                        pushes.append(push)
            await worker.services.background.drain()
        finally:
            await worker.stop()
    finally:
        service.terminate()
        await service.wait()
        await slack.stop()
        stop_redis(redis_server)
    ms = {"card": summary_ms(cards), "push": summary_ms(pushes)}
    ratio = ms["push"]["p50_ms"] / ms["card"]["p50_ms"]
    return {"benchmark": "push_vs_card", "machine": machine_info(), "asks": asks, "ms": ms,
            "ratio_p50": round(ratio, 2), "ratio_p90": round(ms["push"]["p90_ms"] / ms["card"]["p90_ms"], 2),
            "goal": GOAL, "within_goal": ratio <= GOAL}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--asks", type=int, default=100, help="asks (after 5 warm-up asks)")
    parser.add_argument("--small", action="store_true", help="CI size: 2 asks after 1 warm-up (not quotable)")
    parser.add_argument("--report-only", action="store_true", help="never exit 1 for a missed goal (run_all.py)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(measure(2, warmup=1) if args.small else measure(args.asks))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print(f"card posted p50 {result['ms']['card']['p50_ms']} ms, push delivered p50 {result['ms']['push']['p50_ms']}"
          f" ms: {result['ratio_p50']}x (goal {GOAL}x)")
    write_json(result, args.out)
    return 0 if result["within_goal"] or args.report_only else 1


if __name__ == "__main__":
    sys.exit(main())
