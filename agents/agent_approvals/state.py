"""Where an integration keeps a paused run between asking and deciding, so that another process can finish it
after the asking one died: any durable key-value store of text (`StateStore`), or files (`FileStateStore`)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Protocol


class StateStore(Protocol):
    """Where paused runs are kept between asking and deciding (any durable key-value store)."""

    def save(self, run_id: str, state: str) -> None: ...

    def load(self, run_id: str) -> str | None: ...

    def delete(self, run_id: str) -> None: ...


class FileStateStore:
    """Paused runs as files in a directory (written atomically: a crash never leaves half a state)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _path(self, run_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)[:120]
        return self.directory / f"{safe}.json"

    def save(self, run_id: str, state: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".partial")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(state)
        os.replace(temporary, self._path(run_id))

    def load(self, run_id: str) -> str | None:
        path = self._path(run_id)
        return path.read_text(encoding="utf-8") if path.exists() else None

    def delete(self, run_id: str) -> None:
        self._path(run_id).unlink(missing_ok=True)


RUNNING = ".running"  # the kept note of the approved calls running now, beside the paused run


class RunningCalls:
    """The approved calls of a kept run while they run, so that a process resuming after a crash knows which
    may have run: those are asked about again, as calls that may have run (a person decides; no rule does).

    Each call has a generation: 0 for its first ask; a call asked again after a crash is asked with the next
    one (a fresh idempotency key: the earlier approval must not approve it again)."""

    def __init__(self, store: StateStore | None, run_id: str) -> None:
        self._store, self._key = store, run_id + RUNNING
        text = store.load(self._key) if store is not None else None
        found = json.loads(text) if text else {}
        self.crashed: dict[str, int] = {str(k): int(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def generation(self, call_id: str) -> int:
        """The generation to ask `call_id` with: past the one that was running when the process died."""
        return self.crashed[call_id] + 1 if call_id in self.crashed else 0

    def started(self, calls: dict[str, int]) -> None:
        """Approved calls (id: generation) are about to run."""
        if self._store is not None and calls:
            self._store.save(self._key, json.dumps(calls, sort_keys=True))

    def finished(self) -> None:
        """They ran (the framework went on past them)."""
        self.crashed = {}
        if self._store is not None:
            self._store.delete(self._key)
