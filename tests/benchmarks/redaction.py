"""What finding sensitive values costs per ask (bot/core/sensitive.py, bot/core/redaction.py): `find_hidden` (schema,
the operator's paths, every detector) and `redacted` over a call's arguments, per call, median over repeats, each as
a ratio to a floor measured in the same run: `json.dumps` of the same arguments (what any surface already pays to
show them).

And what it costs a real ask (`asks`): the store's one open step (`Approvals.open`, a real redis-server) of the same
call with detection (bot/redaction/hiding.py: found, redacted, sealed under a SECRETS_KEY) and without, interleaved in
the same run; the figure is `ratio_with_to_without` (an ask with detection / the same ask without).

Cases: a small refund call with a card and an IBAN; an e-mail draft (a long text, nothing to hide); 200 order lines
with a card in one; a body that is JSON text holding a password; arguments nested 40 deep. The ratio is the figure
to watch (the absolute times depend on the machine).

    python tests/benchmarks/redaction.py [--small] [--out result.json]"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.core.arg_paths import parse_redact
from bot.core.redaction import redacted
from bot.core.sealing import HiddenKeyring
from bot.core.sensitive import find_hidden
from bot.redaction.hiding import Hiding
from bot.store import Opening, Store, connect
from tests.benchmarks.common import DRAFT, machine_info, new_approval, start_redis, stop_redis, write_json

RULES = parse_redact({"refund": ["card.number", "items[*].pan"], "*": ["**.cvc"]})
SCHEMA = {"type": "object", "properties": {"login": {"type": "object", "properties": {
    "password": {"type": "string", "format": "password"}}}}}


def deep(levels: int) -> Any:
    value: Any = {"note": "card 4111 1111 1111 1111"}
    for i in range(levels):
        value = {f"level{i}": value, "n": i}
    return value


def cases() -> dict[str, tuple[str, Any]]:
    """name -> (tool, arguments)."""
    lines = [{"sku": f"SKU-{i:05}", "qty": i % 7 + 1, "price_cents": 1299 + i, "note": "gift wrap"} for i in range(200)]
    lines[137]["note"] = "paid with 5500 0000 0000 0004"
    return {
        "refund, card and IBAN": ("refund", {"order": "A-1042", "amount_cents": 4200, "card": {
            "number": "4111111111111111", "cvc": "123"}, "iban": "DE89 3704 0044 0532 0130 00", "reason": "damaged"}),
        "e-mail draft, nothing to hide": ("send_email", {"to": "jordan@example.com", "subject": "Prices",
                                                         "body": DRAFT}),
        "200 order lines, one card": ("create_order", {"customer": "C-77", "lines": lines}),
        "JSON text with a password": ("http_post", {"url": "https://example.com/login", "body": json.dumps(
            {"login": {"user": "ann", "password": "hunter2"}, "remember": True})}),
        "nested 40 deep": ("store", deep(40)),
    }


def per_call_us(fn: Callable[[], Any], *, loops: int, repeat: int) -> float:
    """Median over `repeat` of one `fn()` (µs), each timed over `loops` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(loops):
            fn()
        times.append((time.perf_counter_ns() - start) / loops / 1000)
    return statistics.median(times)


def measure(*, loops: int, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (tool, arguments) in cases().items():
        hidden = find_hidden(tool, arguments, schema=SCHEMA, rules=RULES)

        def detect(t: str = tool, a: Any = arguments) -> Any:
            return redacted(a, find_hidden(t, a, schema=SCHEMA, rules=RULES))

        def floor_call(a: Any = arguments) -> str:
            return json.dumps(a)

        floor = per_call_us(floor_call, loops=loops, repeat=repeat)
        cost = per_call_us(detect, loops=loops, repeat=repeat)
        out[name] = {"hidden": len(hidden), "bytes": len(json.dumps(arguments)), "json_dumps_us": round(floor, 2),
                     "find_and_redact_us": round(cost, 2), "ratio_to_json_dumps": round(cost / floor, 1)}
    return out


ASK_CASES = ("refund, card and IBAN", "e-mail draft, nothing to hide", "200 order lines, one card")


async def asks(*, loops: int, repeat: int) -> dict[str, Any]:
    """Per ask (µs, median of `repeat` timings of `loops` asks each, with and without interleaved): the store's open
    step of the call as is, and of the call with its hidden values found, redacted and sealed."""
    server = start_redis()
    redis = connect(server.url)
    store = Store(redis, prefix="bench")
    store.hidden.use(HiddenKeyring.from_setting(base64.b64encode(bytes(32)).decode()))
    hiding = Hiding(store, rules=lambda: RULES)
    out: dict[str, Any] = {}
    try:
        for name in ASK_CASES:
            tool, arguments = cases()[name]
            call = replace(new_approval("bench"), kind="tool_call", tool_name=tool, arguments=json.dumps(arguments),
                           arguments_schema=json.dumps(SCHEMA))

            async def plain(c: Any = call) -> None:
                await store.approvals.open(Opening(replace(c, id=str(uuid.uuid4()))))

            async def hidden(c: Any = call) -> None:
                await store.approvals.open(Opening(await hiding.hide(replace(c, id=str(uuid.uuid4())))))

            times: dict[str, list[float]] = {"without": [], "with": []}
            for _ in range(repeat):
                for label, fn in (("without", plain), ("with", hidden)):
                    start = time.perf_counter_ns()
                    for _ in range(loops):
                        await fn()
                    times[label].append((time.perf_counter_ns() - start) / loops / 1000)
            without, with_ = statistics.median(times["without"]), statistics.median(times["with"])
            out[name] = {"ask_without_us": round(without, 1), "ask_with_us": round(with_, 1),
                         "ratio_with_to_without": round(with_ / without, 2)}
    finally:
        await redis.aclose()
        stop_redis(server)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loops", type=int, default=200, help="calls per timing")
    parser.add_argument("--repeat", type=int, default=7, help="timings (median over them)")
    parser.add_argument("--small", action="store_true", help="CI size: 40 calls, 3 timings")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    loops, repeat = (40, 3) if args.small else (args.loops, args.repeat)
    result = {"machine": machine_info(), "loops": loops, "repeat": repeat, "cases": measure(loops=loops, repeat=repeat),
              "asks": asyncio.run(asks(loops=loops, repeat=repeat))}
    print(json.dumps({"cases": result["cases"], "asks": result["asks"]}, indent=2, ensure_ascii=False))
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
