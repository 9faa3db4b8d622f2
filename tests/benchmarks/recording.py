"""What a path costs in round trips, recorded from inside a worker's process (`rules_check.py`): every Redis round
trip (a command, or a pipeline) and Slack Web API call made in a context that holds a `Recorder`, each marked when
a background task (`Background.spawn`) made it; `sequential_round_trips` counts the ones made one after another."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.client import Pipeline

from bot.services import Services


@dataclass(frozen=True, slots=True)
class Call:
    what: str  # "redis" or "slack"
    names: tuple[str, ...]  # Redis commands sent in one round trip, or the Web API method
    start: float
    end: float
    spawned: bool  # made in a background task (`Background.spawn`), not by the call's own path


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)


RECORDER: ContextVar[Recorder | None] = ContextVar("rules_bench_recorder", default=None)
SPAWNED: ContextVar[bool] = ContextVar("rules_bench_spawned", default=False)


@contextlib.contextmanager
def instrumented(services: Services) -> Iterator[None]:
    """Record the Redis commands (one entry per round trip: a command, or a pipeline) and Slack Web API calls
    made in a context that holds a `Recorder`; tasks spawned in the background are marked as such."""
    redis = services.redis
    plain_command = redis.execute_command  # the store's boundary (`bot.store.connection.guarded`) set it per client
    plain_pipeline = Pipeline.execute

    async def execute_command(*args: Any, **options: Any) -> Any:
        recorder = RECORDER.get()
        if recorder is None:
            return await plain_command(*args, **options)
        start = time.perf_counter()
        try:
            return await plain_command(*args, **options)
        finally:
            recorder.calls.append(Call("redis", (str(args[0]).upper(),), start, time.perf_counter(), SPAWNED.get()))

    async def execute(self: Pipeline, raise_on_error: bool = True) -> Any:
        recorder = RECORDER.get()
        names = tuple(str(args[0]).upper() for args, _ in self.command_stack)
        if recorder is None or not names:
            return await plain_pipeline(self, raise_on_error)
        start = time.perf_counter()
        try:
            return await plain_pipeline(self, raise_on_error)
        finally:
            recorder.calls.append(Call("redis", names, start, time.perf_counter(), SPAWNED.get()))

    slack = services.slack
    plain_api_call = slack.api_call

    async def api_call(api_method: str, **kwargs: Any) -> Any:
        recorder = RECORDER.get()
        start = time.perf_counter()
        try:
            return await plain_api_call(api_method, **kwargs)
        finally:
            if recorder is not None:
                recorder.calls.append(Call("slack", (api_method,), start, time.perf_counter(), SPAWNED.get()))

    background = services.background
    plain_spawn = background.spawn

    def spawn(coro: Any, *, name: str | None = None) -> asyncio.Task[Any]:
        async def marked() -> Any:
            SPAWNED.set(True)
            return await coro

        return plain_spawn(marked(), name=name)

    redis.execute_command = execute_command  # type: ignore[method-assign]
    Pipeline.execute = execute  # type: ignore[method-assign]
    slack.api_call = api_call  # type: ignore[method-assign]
    background.spawn = spawn  # type: ignore[method-assign]
    try:
        yield
    finally:
        redis.execute_command = plain_command  # type: ignore[method-assign]
        Pipeline.execute = plain_pipeline  # type: ignore[method-assign]
        del slack.api_call
        del background.spawn


def sequential_round_trips(calls: Sequence[Call]) -> int:
    """Round trips one after another: commands in flight at the same time count once."""
    waves, end = 0, float("-inf")
    for call in sorted(calls, key=lambda c: c.start):
        if call.start >= end:
            waves += 1
            end = call.end
        else:
            end = max(end, call.end)
    return waves
