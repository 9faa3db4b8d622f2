"""Logs a machine can follow: a JSON log line of an API ask carries its approval id, run id, key, channel and team
as fields of its own (bot/core/logs.py `log_fields`), not only inside the message."""

from __future__ import annotations

import json
import logging

from bot.core.logs import ContextFields, JsonFormatter
from tests.conftest import SALES, Worker
from tests.support.api import Client, new_key, tool_ask


class JsonLines(logging.Handler):
    """The worker's JSON lines, formatted as `LOG_FORMAT=json` formats them (its filters too)."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(ContextFields())
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_a_json_line_of_an_ask_carries_its_approval_id_as_a_field(api: Worker) -> None:
    made = await new_key(api)
    lines, logger = JsonLines(), logging.getLogger("bot.api.routes")
    logger.addHandler(lines)
    level, disabled = logger.level, logger.disabled
    logger.setLevel(logging.INFO)  # (setLevel: the logger's cached answers are dropped)
    logger.disabled = False  # (another test's logging config may have disabled it)
    try:
        status, asked = await Client(api, made.key).ask(tool_ask())
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
        logger.disabled = disabled
    assert status == 201, asked
    line = next(line for line in lines.lines if "asked for approval" in str(line["message"]))
    run = await api.services.store.approvals.get(asked["id"])
    assert run is not None
    assert line["approval_id"] == asked["id"] and line["key"] == "nightly" and line["channel"] == SALES, line
    assert line["run_id"] == run.run_id and line.get("team", "") == made.record.team, line
