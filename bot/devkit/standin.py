"""The parts the local stand-ins have in common (the package docstring).

    class PushService(ThreadedApp):
        what, thread_name = "the local push service", "devpush"
        def app(self) -> web.Application: ...     # its routes, served on `host`:`port` once started

    with PushService() as service:                # started on enter (RuntimeError if not within 10 s), stopped on exit
        await arrived(lambda: service.pushes(), 1, 10.0, lambda found: f"{len(found)} pushes")"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self, TypeVar

from aiohttp import web
from aiohttp.log import access_logger

T = TypeVar("T")
START_SECONDS = 10.0  # how long `start` waits for the server to listen (and `stop` for it to end)
POLL_SECONDS = 0.02  # how often `arrived` looks again


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def arrived(look: Callable[[], list[T]], count: int, within: float,
                  came: Callable[[list[T]], str]) -> list[T]:
    """What `look()` returns once it holds at least `count` things, polled without blocking the running loop;
    after `within` seconds, TimeoutError saying `came(what did come)`."""
    deadline = time.monotonic() + within
    while len(found := look()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(came(found))
        await asyncio.sleep(POLL_SECONDS)
    return found


class ThreadedApp:
    """An aiohttp app (`app()`, of the subclass) served on `host`:`port` from a thread of its own, with its own
    event loop: `start()` then `stop()`, or a context manager. `serving`: started and not yet stopping (a slow
    answer waits on it to end)."""

    what = "the stand-in"  # as the error of one that does not start names it
    thread_name = "standin"
    access_log: logging.Logger | None = access_logger  # None: no access log
    host: str
    port: int

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        raise NotImplementedError

    @property
    def serving(self) -> bool:
        return self._loop is not None

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve() -> None:
            self._runner = web.AppRunner(self.app(), access_log=self.access_log)
            await self._runner.setup()
            await web.TCPSite(self._runner, self.host, self.port).start()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(serve())
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not ready.wait(START_SECONDS):
            raise RuntimeError(f"{self.what} did not start")

    def stop(self) -> None:
        loop, runner, thread = self._loop, self._runner, self._thread
        if loop is None or thread is None:
            return
        self._loop = None  # (a slow answer ends)
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(START_SECONDS)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_SECONDS)
        loop.close()
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
