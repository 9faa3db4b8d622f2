"""Workers as `python -m bot` processes (killed, restarted) and what the fault tests do to them."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.devslack.server import DeliveryResult, SlackStandIn
from bot.store import Store
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    SALES,
    block_texts,
    bot_env,
    find_header,
    free_port,
    has_buttons,
    texts,
    thread_of,
)
from tests.support.flow import start_run
from tests.support.hitl import form_of

ROOT = Path(__file__).resolve().parents[2]
DEMO = {"provider": "bot.runs.demo_model.DemoChatCompletionClient", "config": {}}


@dataclass
class WorkerProcess:
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    host: str = "127.0.0.1"  # where it is reached (its HOST, when a test gives one)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def events(self) -> str:
        return self.url + "/slack/events"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


class PortTaken(Exception):
    """A worker could not bind its port: another process took it first."""


class Cluster:
    """Worker processes sharing one Redis and one Slack stand-in."""

    def __init__(self, slack: SlackStandIn, redis_url: str, tmp: Path, model: Path) -> None:
        self.slack = slack
        self.redis_url = redis_url
        self.tmp = tmp
        self.model = model
        self.workers: list[WorkerProcess] = []

    async def start(self, **extra: str) -> WorkerProcess:
        """A worker process on a free port, once it answers its health check. A port another process took between
        `free_port` and the worker's bind (errno 98, seen under a loaded CI) is not the worker's fault: tried again
        on another port, twice at most."""
        for attempt in range(3):
            try:
                return await self._start(**extra)
            except PortTaken:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _start(self, **extra: str) -> WorkerProcess:
        port = free_port()
        env = {
            **os.environ,
            **bot_env(slack=self.slack, redis_url=self.redis_url, model_config=self.model),
            "PORT": str(port),
            "HEARTBEAT_SECONDS": "1",
            "LOG_LEVEL": "INFO",
            **extra,
        }
        log = self.tmp / f"worker-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: ASYNC220 - starting a worker is instant; we then poll it
                [sys.executable, "-m", "bot"], cwd=ROOT, env=env, stdout=out, stderr=out
            )
        worker = WorkerProcess(port=port, process=process, log=log, host=extra.get("HOST") or "127.0.0.1")
        self.workers.append(worker)
        deadline = time.monotonic() + 30
        # /healthz: on the operators' port with METRICS_LISTEN (PORT refuses it then, and listens after it: its /livez)
        waits = ([f"http://{extra['METRICS_LISTEN']}/healthz", worker.url + "/livez"] if extra.get("METRICS_LISTEN")
                 else [worker.url + "/healthz"])
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    while waits:
                        async with http.get(waits[0]) as response:
                            if response.status != 200:
                                break
                        waits.pop(0)
                    if not waits:
                        return worker
                except aiohttp.ClientError:
                    pass
                if process.poll() is not None and "address already in use" in log.read_text():
                    self.workers.remove(worker)
                    raise PortTaken(port)
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start: {log.read_text()[-2000:]}")
                await asyncio.sleep(0.05)

    def stop_all(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGKILL)
                worker.process.wait(timeout=10)


async def run_with_card(slack: SlackStandIn, worker: WorkerProcess, *, count: int = 1) -> tuple[str, dict[str, Any]]:
    slack.events_url = worker.events
    run_id = await start_run(slack)
    card = await slack.wait_for(
        lambda: (
            (c := [m for m in slack.messages(APPROVALS) if not m.get("thread_ts") and has_buttons(m)])
            and len(c) >= count
            and c[-1]
        ),
        timeout=20,
    )
    header = await slack.wait_for(lambda: find_header(slack, SALES, run_id))
    await slack.wait_for(  # the thread's waiting line, or in a session its pending task (the session suspended)
        lambda: "Waiting for approval" in texts(thread_of(slack, SALES, header["ts"]))
        or slack.sessions.snapshot(SALES, header["ts"])["status"] == "suspended"
    )
    return run_id, card


async def run_status(store: Store, run_id: str, wanted: str, *, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        run = await store.runs.get(run_id)
        if run is not None and run.status == wanted:
            return
        await asyncio.sleep(0.02)
    run = await store.runs.get(run_id)
    raise AssertionError(f"run {run_id} is {run.status if run else None}, wanted {wanted}")


def card_now(slack: SlackStandIn, card: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"])


async def worker_id(worker: WorkerProcess) -> str:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/healthz") as response:
        return str((await response.json())["worker"])


RUN_ON_CARD = re.compile(r"Run `(r[a-z0-9]+)`")


def run_of(card: dict[str, Any]) -> str | None:
    found = RUN_ON_CARD.search(block_texts(card))
    return found.group(1) if found else None


def cards(slack: SlackStandIn, run_id: str | None = None) -> list[dict[str, Any]]:
    """Approval cards (top-level messages of #approvals), of one run or of all."""
    top = [m for m in slack.messages(APPROVALS) if not m.get("thread_ts")]
    return [m for m in top if run_id is None or run_of(m) == run_id]


def pending_cards(slack: SlackStandIn, run_id: str | None = None) -> list[dict[str, Any]]:
    return [m for m in cards(slack, run_id) if has_buttons(m)]


def is_tool_call(card: dict[str, Any]) -> bool:
    return "*Tool call*" in block_texts(card)


async def click_on(
    slack: SlackStandIn,
    worker: WorkerProcess,
    card: dict[str, Any],
    *,
    user: str = BOB,
    action: str = "approval_approve",
) -> DeliveryResult:
    # `events_url` is read before the delivery's first await: set here, it targets this click alone,
    # even with other deliveries in flight
    slack.events_url = worker.events
    return await slack.click(user=user, channel=APPROVALS, ts=card["ts"], action_id=action)


async def open_form_on(
    slack: SlackStandIn, worker: WorkerProcess, card: dict[str, Any], *, user: str = BOB,
    action: str = "approval_revise", tries: int = 3,
) -> dict[str, Any]:
    """Click `action` on `card` on `worker` and return the form it opens, clicking again if the trigger expired
    (`tests.support.hitl.form_of`)."""
    return await form_of(slack, card, action, user=user, events=worker.events, tries=tries)


async def command_on(slack: SlackStandIn, worker: WorkerProcess, text: str, *, user: str = ALICE) -> DeliveryResult:
    slack.events_url = worker.events  # (see `click_on`)
    return await slack.send_command(user=user, channel=SALES, text=text)
