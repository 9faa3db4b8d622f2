"""Helpers for the tests of input modes, presets and tool approval: scripted models that make real
`FunctionCall`s (AutoGen's replay client, loaded from a component config file), a worker with
extra settings, and waiting on cards, runs and files with deadlines (never bare sleeps)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from bot.audit.chains import chain_stores
from bot.devslack.model import DeliveryResult
from bot.devslack.server import SlackStandIn
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    SALES,
    Worker,
    block_texts,
    bot_env,
    card_of,
    reply_text,
    start_worker,
)

T = TypeVar("T")
MODEL_INFO = {
    "vision": False,
    "function_calling": True,
    "json_output": False,
    "family": "unknown",
    "structured_output": False,
}
DEMO = {"provider": "bot.runs.demo_model.DemoChatCompletionClient", "config": {}}


def call(name: str, arguments: dict[str, Any] | str, *, call_id: str = "call_1") -> dict[str, Any]:
    """A scripted model answer that calls a tool (a `CreateResult` whose content is one `FunctionCall`)."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "finish_reason": "function_calls",
        "content": [{"id": call_id, "name": name, "arguments": text}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
        "cached": False,
    }


def replay(*answers: str | dict[str, Any]) -> dict[str, Any]:
    """AutoGen's replay client answering `answers` in order (texts, or `call(...)` results)."""
    return {
        "provider": "autogen_ext.models.replay.ReplayChatCompletionClient",
        "config": {"chat_completions": list(answers), "model_info": MODEL_INFO},
    }


def write_config(tmp_path: Path, config: dict[str, Any] | list[dict[str, Any]], name: str = "model.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


@asynccontextmanager
async def bot(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, model: dict[str, Any], **extra: str
) -> AsyncIterator[Worker]:
    """A worker with `model` as MODEL_CONFIG, an outbox and code directory under `tmp_path`."""
    env = bot_env(
        slack=slack,
        redis_url=redis_url,
        model_config=write_config(tmp_path, model),
        OUTBOX_DIR=str(tmp_path / "outbox"),
        CODE_WORK_DIR=str(tmp_path / "code"),
        **extra,
    )
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    try:
        yield worker
    finally:
        await worker.stop()


async def command(slack: SlackStandIn, text: str, *, user: str = ALICE, channel: str = SALES) -> str:
    result = await slack.send_command(user=user, channel=channel, text=text)
    assert result.status == 200
    return reply_text(result)


async def start(slack: SlackStandIn, text: str, *, user: str = ALICE, channel: str = SALES) -> str:
    """Start a run (`text` may carry --team / --mode); its id."""
    reply = await command(slack, text, user=user, channel=channel)
    assert "Started run `" in reply, reply
    return reply.split("`")[1]


def cards(slack: SlackStandIn) -> list[dict[str, Any]]:
    return card_of(slack)


async def nth_card(slack: SlackStandIn, n: int, *, within: float = 10) -> dict[str, Any]:
    """The `n`-th card (1-based) in #approvals, once it is there and still pending."""

    def found() -> dict[str, Any] | None:
        all_cards = card_of(slack)
        if len(all_cards) < n:
            return None
        card = all_cards[n - 1]
        return card if any(b.get("type") == "actions" for b in card.get("blocks") or []) else None

    return await slack.wait_for(found, timeout=within, description=f"card {n} pending")


def current(slack: SlackStandIn, card: dict[str, Any]) -> dict[str, Any]:
    """The card as #approvals shows it now."""
    return next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"])


async def decided(slack: SlackStandIn, card: dict[str, Any], *, within: float = 10) -> dict[str, Any]:
    """The card as #approvals shows it once it is drawn decided (no buttons). A decision's redraw comes after the
    run it woke took its next step or ended (`bot.core.tasks.RunsFirst`): it is awaited, never assumed drawn."""
    def drawn() -> dict[str, Any] | None:
        shown = current(slack, card)
        return None if buttons(shown) else shown

    return await slack.wait_for(drawn, timeout=within, description=f"card {card['ts']} drawn decided")


def buttons(card: dict[str, Any]) -> list[str]:
    return [e.get("action_id", "") for b in card["blocks"] if b.get("type") == "actions" for e in b["elements"]]


async def click(slack: SlackStandIn, card: dict[str, Any], action: str, *, user: str) -> None:
    result = await slack.click(user=user, channel=APPROVALS, ts=card["ts"], action_id=action)
    assert result.status == 200


async def reject(
    slack: SlackStandIn, card: dict[str, Any], *, user: str, reason: str = "", channel: str = APPROVALS
) -> DeliveryResult:
    """Reject from a card as a person does: the button opens the reason modal, which they submit."""
    view = await form_of(slack, card, "approval_reject", user=user, channel=channel)
    assert view["view"]["callback_id"] == "approval_reject_modal"
    values = {"reason": {"reason_input": reason}} if reason else {}
    return await slack.submit_view(user=user, view_id=view["id"], values=values)


async def open_modal(slack: SlackStandIn, card: dict[str, Any], *, user: str) -> dict[str, Any]:
    return await form_of(slack, card, "approval_revise", user=user)


async def form_of(slack: SlackStandIn, card: dict[str, Any], action: str, *, user: str, channel: str = APPROVALS,
                  events: str | None = None, tries: int = 3) -> dict[str, Any]:
    """The form a card's button opens for `user`, clicked as a person does: a click's trigger_id lasts 3 s, and
    a worker slowed by a loaded machine may open the form after it (the local Slack then refuses `views.open`,
    as Slack does, and the bot says "click again"): they click again, up to `tries` times. `events`: the worker
    each click goes to (`events_url`, set just before the click: it targets that click alone)."""
    for _ in range(tries):
        before, start = {v["id"] for v in slack.open_views(user)}, slack.call_count()
        if events is not None:
            slack.events_url = events
        result = await slack.click(user=user, channel=channel, ts=card["ts"], action_id=action)
        assert result.status == 200

        def opened(before: set[str] = before, start: int = start) -> dict[str, Any] | str | None:
            new = [v for v in slack.open_views(user) if v["id"] not in before]
            if new:
                return new[-1]
            gone = any(c.method == "views.open" and not c.ok for c in slack.calls_since(start))
            return "again" if gone else None

        found = await slack.wait_for(opened, timeout=10, description=f"the form of {action} opened for {user}")
        if isinstance(found, dict):
            return found
    raise AssertionError(f"the form of {action} was not opened in {tries} clicks: its trigger expired each time")


async def heard(subscription: object, *, within: float = 15) -> dict[str, object]:
    """The next message `subscription` hears (subscribe messages left out), within `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        found = await subscription.get_message(ignore_subscribe_messages=True, timeout=1.0)  # type: ignore[attr-defined]
        if found is not None:
            return dict(found)
    raise AssertionError("nothing heard")


async def until(check: Callable[[], Any], *, within: float = 10, what: str = "condition") -> Any:
    """Poll an async or plain check every 5 ms until it returns something truthy, with a deadline."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within}s (last value {value!r})")
        await asyncio.sleep(0.005)


async def finished(worker: Worker, run_id: str, *, within: float = 10) -> Any:
    """The run once it has a final status."""

    async def final() -> Any:
        run = await worker.services.store.runs.get(run_id)
        return run if run is not None and run.final else None

    return await until(final, within=within, what=f"run {run_id} finished")


async def audit_events(worker: Worker, *events: str) -> list[dict[str, str]]:
    """The entries of these events in every workspace's audit chain (bot/audit/chains.py): home's, then the others'."""
    return [e for _, store in await chain_stores(worker.services.store) for e in await store.audit.entries()
            if e["event"] in events]


def text_of(card: dict[str, Any]) -> str:
    return block_texts(card)


def line_written(path: Path) -> Callable[[], bool]:
    """Whether a program has written a whole line to `path` (a file that merely exists may be one opened, its line
    still in the program's buffer: killed then, the line never lands)."""
    return lambda: path.exists() and path.read_text().endswith("\n")


async def killed_while_the_call_runs(
    slack: SlackStandIn,
    program: Path,
    args: list[str],
    *,
    running: Callable[[], Any],
    before_resume: Callable[[], Awaitable[Any]] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[dict[str, Any], list[Any]]:
    """An agent program (`program hang|resume` + `args`) asks for a card, which is approved; it is killed -9 once
    `running()` says the approved call runs (`hang`: the call never returns); `program resume` must ask again, as
    a call that may have run: that second card is rejected. Returns the second card and the JSON lines the
    resumed program printed. The programs get no Slack token and no Redis."""
    spawn = _spawner(program, args, env)

    async with _reaped() as reap:
        first = reap(await spawn("hang"))
        await click(slack, await nth_card(slack, 1, within=30), "approval_approve", user=BOB)
        await until(running, what="the approved call running")
        first.send_signal(signal.SIGKILL)
        await first.wait()
        if before_resume is not None:
            await before_resume()
        second = reap(await spawn("resume"))
        again = await nth_card(slack, 2, within=30)
        await reject(slack, again, user=BOB, reason="it went out already")
        out, _ = await asyncio.wait_for(second.communicate(), 60)
    assert second.returncode == 0, out.decode()[-2000:]
    return again, [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]


def _spawner(program: Path, args: list[str], env: dict[str, str] | None,
             ) -> Callable[[str], Awaitable[asyncio.subprocess.Process]]:
    """What starts the agent program `program` + `args` + a mode in its folder, its output piped: with `env`, and
    without the worker's Slack token and Redis."""
    environ = {k: v for k, v in os.environ.items() if k not in ("SLACK_BOT_TOKEN", "REDIS_URL")} | (env or {})

    async def spawn(mode: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, str(program), *args, mode, env=environ, cwd=str(program.parent),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )

    return spawn


@contextlib.asynccontextmanager
async def _reaped() -> AsyncIterator[Callable[[asyncio.subprocess.Process], asyncio.subprocess.Process]]:
    """Programs started inside are killed when it ends (a failing test leaves none running)."""
    started: list[asyncio.subprocess.Process] = []

    def reap(process: asyncio.subprocess.Process) -> asyncio.subprocess.Process:
        started.append(process)
        return process

    try:
        yield reap
    finally:
        for process in started:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def killed_then_resumed(
    slack: SlackStandIn,
    program: Path,
    args: list[str],
    *,
    paused: Callable[[], Any],
    env: dict[str, str] | None = None,
) -> list[Any]:
    """An agent program (`program start|resume` + `args`) asks for a card; it is killed -9 once `paused()` says
    its paused run is kept; the card is approved while nobody waits; `program resume` finishes the run. Returns
    the JSON lines the resumed program printed. The programs get no Slack token and no Redis."""
    spawn = _spawner(program, args, env)

    async with _reaped() as reap:
        first = reap(await spawn("start"))
        card = await nth_card(slack, 1, within=30)
        await until(paused, what="the paused run kept")
        first.send_signal(signal.SIGKILL)
        await first.wait()
        await click(slack, card, "approval_approve", user=BOB)  # decided while nobody waits for it
        second = reap(await spawn("resume"))
        out, _ = await asyncio.wait_for(second.communicate(), 60)
    assert second.returncode == 0, out.decode()[-2000:]
    return [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
