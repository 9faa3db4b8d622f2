"""Where `python -m bot dev` keeps its data across restarts (`--data DIR`, `--fresh`): the folder, its lock (one dev
at a time per folder) and the dev key kept in it, so that a program waiting on dev survives a restart."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path

from bot.core.key_files import write_private

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
