"""mkdocs hook: the site carries the Approvals API's OpenAPI document as the bot serves it, made at build time
from `bot.api.openapi.document()` (so it is never a copy that goes stale): `agents/openapi.json`."""

from __future__ import annotations

import json
from typing import Any

from mkdocs.structure.files import File, Files


def on_files(files: Files, config: Any) -> Files:
    from bot.api.openapi import document

    files.append(File.generated(config, "agents/openapi.json", content=json.dumps(document(), indent=2) + "\n"))
    return files
