"""Policy bundles the tests write to a POLICY_DIR (bot/policy/)."""

from __future__ import annotations

from pathlib import Path


def write_bundle(folder: Path, files: dict[str, str]) -> Path:
    """`files` ({name: text}) written to `folder` (made), a POLICY_DIR."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder
