"""Where an integration keeps a paused run between asking and deciding, so that another process can finish it
after the asking one died: any durable key-value store of text (`StateStore`), or files (`FileStateStore`); a
`resume` reads its run back with `paused` (text) or `paused_json` (a versioned JSON object)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol


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



def paused(store: StateStore, run_id: str) -> str:
    """The paused run kept in `store` under `run_id`; LookupError when none is (it ended, or was never paused)."""
    text = store.load(run_id)
    if text is None:
        raise LookupError(f"no paused run {run_id!r} in the store (it ended, or was never paused)")
    return text


def paused_json(store: StateStore, run_id: str, *, version: int) -> dict[str, Any]:
    """The paused run kept in `store` under `run_id` as a JSON object of the format `version` (its `version` key);
    LookupError when none is, ValueError when it was kept in another format."""
    kept = json.loads(paused(store, run_id))
    if not isinstance(kept, dict) or kept.get("version") != version:
        found = kept.get("version") if isinstance(kept, dict) else None
        raise ValueError(f"the paused run {run_id!r} was kept in another format (version {found!r})")
    return kept
