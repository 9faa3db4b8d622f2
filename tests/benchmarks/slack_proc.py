"""The benchmarks' Slack helper process, light: the Slack stand-in or a stub, and what every helper shares.

    python tests/benchmarks/slack_proc.py '{"kind": "standin"|"stub", "latency_ms": 0, "signing_secret": ...,
                                           "bot_token": ..., "card_channel": ...}'

Started by `common.Proc.start("slack", ...)` (which adds the secret, token and card channel), apart from
`procs.py` so it imports only aiohttp and the stand-in (under 0.6 s of CPU, not the whole bot's 3 s): most benchmarks
start one. Prints one JSON line (its URLs) when ready and exits when its stdin closes.

* `standin`: the local Slack stand-in (`bot/devslack/server.py`).
* `stub`: a minimal Web API that answers every call with `ok` (and a fresh `ts`; `users.info`: one of the
  workspace's people) at once or after `latency_ms`. The stand-in validates Block Kit and keeps every message (its
  `chat.update` looks the message up with a linear scan), which is Slack's work, not ours; the scale benchmark uses
  the stub so the stand-in's CPU use does not count against the bot on this 2-core machine.

Control API: `GET /counts` (calls by method), `POST /reset`.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiohttp import web

from bot.devslack.server import SlackStandIn


async def stdin_closed() -> None:
    """Return when our stdin reaches EOF (the parent closed it or died)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def ready(info: dict[str, Any]) -> None:
    print(json.dumps({"pid": os.getpid(), **info}), flush=True)


def finish(main: Callable[[], Coroutine[Any, Any, None]]) -> NoReturn:
    """Run a role, then leave without tearing the interpreter down (its thousands of modules: about 0.6 s of CPU
    and seconds of wall time on a busy machine, for each helper a benchmark stops)."""
    asyncio.run(main())
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# ------------------------------------------------------------------------------------------------ slack


async def slack_role(options: dict[str, Any]) -> None:
    kind = str(options.get("kind", "standin"))
    latency = float(options.get("latency_ms", 0.0)) / 1000.0
    counts: collections.Counter[str] = collections.Counter()
    runners: list[web.AppRunner] = []
    standin: SlackStandIn | None = None
    if kind == "standin":
        standin = SlackStandIn(signing_secret=str(options["signing_secret"]), bot_token=str(options["bot_token"]))
        api_url = (await standin.start()) + "/api/"
    else:
        tick = itertools.count(1)

        async def api(request: web.Request) -> web.Response:
            method = request.match_info["method"]
            if request.content_type == "application/json":
                args: dict[str, Any] = dict(await request.json())
            else:
                args = {k: str(v) for k, v in (await request.post()).items()}
            counts[method] += 1
            if latency:
                await asyncio.sleep(latency)
            if method == "auth.test":
                return web.json_response(
                    {
                        "ok": True,
                        "url": "http://stub/",
                        "team": "Dev Workspace",
                        "user": "approvals-bot",
                        "team_id": "T0DEV",
                        "user_id": "U0BOT",
                        "bot_id": "B0BOT",
                        "is_enterprise_install": False,
                    }
                )
            if method == "users.info":  # one of the workspace's people (the people check asks, once an hour)
                user = str(args.get("user", ""))
                return web.json_response({"ok": True, "user": {
                    "id": user, "team_id": "T0DEV", "name": user.lower(), "real_name": user, "deleted": False,
                    "profile": {"display_name": user.lower(), "real_name": user}}})
            n = next(tick)
            ts = str(args.get("ts") or f"{1_800_000_000 + n // 1_000_000}.{n % 1_000_000:06d}")
            channel = str(args.get("channel") or options["card_channel"])
            message = {"type": "message", "ts": ts, "text": str(args.get("text", "")), "user": "U0BOT"}
            return web.json_response({"ok": True, "channel": channel, "ts": ts, "message": message})

        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", api)
        runner, base = await serve(app)
        runners.append(runner)
        api_url = base + "/api/"

    async def get_counts(request: web.Request) -> web.Response:
        if standin is not None:
            return web.json_response(dict(collections.Counter(c.method for c in standin.calls())))
        return web.json_response(dict(counts))

    async def reset(request: web.Request) -> web.Response:
        counts.clear()
        if standin is not None:
            standin.reset()
        return web.json_response({"ok": True})

    control = web.Application()
    control.router.add_get("/counts", get_counts)
    control.router.add_post("/reset", reset)
    runner, control_url = await serve(control)
    runners.append(runner)
    ready({"api_url": api_url, "control_url": control_url, "kind": kind})
    await stdin_closed()
    for runner in runners:
        await runner.cleanup()
    if standin is not None:
        await standin.stop()


if __name__ == "__main__":
    options = json.loads(sys.argv[1])
    finish(lambda: slack_role(options))
