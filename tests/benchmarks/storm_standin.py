"""The Slack stand-in of `home_storm.py`, in its own process (`python storm_standin.py '{"users": [...]}'`, started
by `start_standin`): it records every Web API call with the time it was answered, refuses `views.publish` past the
budget it is given (`/limit`) as Slack does, and serves a control endpoint: `/calls?from=N&wait=S` (a long poll of
the calls recorded since the N-th, compact: card posts with their approval id, `chat.update` with channel, ts and
whether the card still has buttons, Home publishes with whose), `/counts`, `/reset`."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.devslack.model import DevUser, RecordedCall, default_users
from bot.devslack.server import SlackStandIn
from tests.benchmarks.common import CARD_CHANNEL, Proc
from tests.conftest import BOT_TOKEN, SIGNING_SECRET

SELF = Path(__file__).resolve()


def compact(call: RecordedCall) -> list[Any] | None:
    """What the load generator needs of one recorded call, or None: card posts (approval id), card updates
    (channel, ts, still has buttons) and Home publishes (whose)."""
    method, args = call.method, call.args
    if method == "chat.postMessage":
        if args.get("channel") != CARD_CHANNEL or args.get("thread_ts"):
            return None
        value = approve_value(args.get("blocks"))
        return None if value is None else ["card", call.at, call.ok, value]
    if method == "chat.update":
        buttons = approve_value(args.get("blocks")) is not None
        return ["update", call.at, call.ok, str(args.get("channel")), str(args.get("ts")), buttons]
    if method == "views.publish":
        return ["publish", call.at, call.ok, str(args.get("user_id"))]
    return None


def approve_value(blocks: Any) -> str | None:
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return None
    for block in blocks or []:
        if isinstance(block, dict) and block.get("type") == "actions":
            for element in block.get("elements") or []:
                if isinstance(element, dict) and element.get("action_id") == "approval_approve":
                    return str(element.get("value"))
    return None


async def standin_process(options: dict[str, Any]) -> None:
    """The stand-in in its own process, with a compact long-poll of its recorded calls."""
    from tests.benchmarks.slack_proc import ready, serve, stdin_closed

    people = [DevUser(id=u, name=u.lower(), real_name=u) for u in (*options["users"],)]
    standin = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, users=[*default_users(), *people])
    api_url = (await standin.start()) + "/api/"

    async def calls(request: web.Request) -> web.Response:
        start = int(request.query.get("from", "0"))
        wait = float(request.query.get("wait", "0"))
        if standin.call_count() <= start and wait > 0:
            with contextlib.suppress(TimeoutError):
                await standin.wait_for(lambda: standin.call_count() > start, timeout=wait)
        new = standin.calls_since(start)
        rows = [row for row in (compact(c) for c in new) if row is not None]
        return web.json_response({"next": start + len(new), "rows": rows})

    async def counts(request: web.Request) -> web.Response:
        return web.json_response(dict(collections.Counter(c.method for c in standin.calls_since(0))))

    async def reset(request: web.Request) -> web.Response:
        standin.reset()
        return web.json_response({"ok": True})

    async def limit(request: web.Request) -> web.Response:
        body = await request.json()
        standin.limit(str(body["method"]), body.get("calls"), per=float(body.get("per", 60)))
        return web.json_response({"ok": True})

    control = web.Application()
    control.router.add_get("/calls", calls)
    control.router.add_get("/counts", counts)
    control.router.add_post("/reset", reset)
    control.router.add_post("/limit", limit)
    runner, control_url = await serve(control)
    ready({"api_url": api_url, "control_url": control_url})
    await stdin_closed()
    await runner.cleanup()
    await standin.stop()


async def start_standin(users: Sequence[str], *, log_dir: Path) -> Proc:
    """This module (`SELF`) as its own process, as `Proc.start` starts `procs.py` roles."""
    log = (log_dir / f"slack-{uuid.uuid4().hex[:6]}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SELF),
        json.dumps({"users": list(users)}),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
    if not line:
        await process.wait()
        raise RuntimeError(f"the stand-in exited with {process.returncode}; see {log.name}")
    return Proc(role="slack", process=process, info=json.loads(line), log=log)


if __name__ == "__main__":
    from tests.benchmarks.slack_proc import finish

    options = json.loads(sys.argv[1])
    finish(lambda: standin_process(options))
