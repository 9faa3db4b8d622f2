"""`python -m bot devslack`: the local Slack served alone, for staging and load tests, with workers of your own
(`python -m bot`, as many as you like, on a Redis of yours) pointed at it instead of Slack.

It prints its URL and the variables to give the workers: ``SLACK_API_URL`` (its Web API), ``SLACK_BOT_TOKEN`` and
``SLACK_SIGNING_SECRET`` (made for this run, or yours through ``--bot-token-file`` / ``--signing-secret-file``, so
that they stay the same across restarts). People's requests (commands, clicks) go to ``--events-url``: a worker's
``/slack/events``, or the load balancer in front of several; the page's ``/api/v1`` and ``/step-up`` are forwarded to
that URL's origin. Ctrl-C (or SIGTERM) stops it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import secrets
import shlex
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

from bot.devslack.server import SlackStandIn


class AloneError(Exception):
    """The local Slack cannot start alone; the message says why."""


def secret_from(path: str | None, *, made: str) -> str:
    """The first line of the file at `path` (a secret of yours), else `made` (one for this run)."""
    if path is None:
        return made
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise AloneError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not value or any(ch.isspace() for ch in value):
        raise AloneError(f"{path} must hold one value on one line")
    return value


def origin_of(url: str) -> str:
    """`scheme://host:port` of an events URL (where the page's /api/v1 is forwarded)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AloneError(f"--events-url must be an http(s) URL, like http://127.0.0.1:3001/slack/events: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def lines_for(standin: SlackStandIn, *, events_url: str | None) -> list[str]:
    """What it prints: its URL, then the shell lines for the workers (comments start with #)."""
    told = events_url or "nowhere yet: start it again with --events-url http://<worker>:<port>/slack/events"
    return [
        f"Local Slack (alone): {standin.base_url}  (Ctrl-C to stop)",
        "# give your workers (python -m bot) these, with REDIS_URL, APPROVALS_CHANNEL... of your own:",
        f"export SLACK_API_URL={shlex.quote(standin.api_url)}",
        f"export SLACK_BOT_TOKEN={shlex.quote(standin.bot_token)}",
        f"export SLACK_SIGNING_SECRET={shlex.quote(standin.signing_secret)}",
        f"# people's commands and clicks go to: {told}",
    ]


async def serve_alone(
    *, host: str, port: int, events_url: str | None, bot_token: str, signing_secret: str
) -> int:
    """Serve the local Slack until SIGINT / SIGTERM; returns the exit code."""
    standin = SlackStandIn(signing_secret=signing_secret, bot_token=bot_token, events_url=events_url)
    if events_url:
        standin.api_upstream = origin_of(events_url)
    try:
        await standin.start(host=host, port=port)
    except OSError as exc:
        busy = exc.errno == errno.EADDRINUSE
        raise AloneError(f"port {port} is busy" if busy else f"cannot serve on {host}:{port}: {exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        print("\n".join(lines_for(standin, events_url=events_url)), flush=True)
        await stop.wait()
    finally:
        await standin.stop()
    return 0


def run_alone(
    *, host: str, port: int, events_url: str | None = None, bot_token_file: str | None = None,
    signing_secret_file: str | None = None,
) -> int:
    """`python -m bot devslack`: the exit code (0 after Ctrl-C, 2 for a bad option)."""
    try:
        if events_url:
            origin_of(events_url)
        token = secret_from(bot_token_file, made=f"xoxb-staging-{secrets.token_hex(12)}")
        secret = secret_from(signing_secret_file, made=secrets.token_hex(16))
        return asyncio.run(serve_alone(host=host, port=port, events_url=events_url, bot_token=token,
                                       signing_secret=secret))
    except AloneError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 0
