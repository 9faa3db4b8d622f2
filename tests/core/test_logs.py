"""What a worker's log leaves out of a cancelled AutoGen team (`NoCancellationTracebacks`), and what it keeps."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from bot.core.logs import NoCancellationTracebacks

ECHO = "Unhandled message in agent container: <class 'autogen_agentchat.teams._group_chat._events.GroupChatError'>"


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(NoCancellationTracebacks())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class RunContext:  # named as AutoGen's runtime task is (`autogen_core._single_threaded_agent_runtime`)
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def _run(self) -> None:
        raise self.error


async def never_retrieved(error: Exception) -> list[logging.LogRecord]:
    """asyncio's own "Task exception was never retrieved" for a runtime task that raised `error`, as kept."""
    kept = Kept()
    logger = logging.getLogger("asyncio")
    logger.addHandler(kept)
    try:
        task = asyncio.create_task(RunContext(error)._run())
        await asyncio.wait([task])
        del task
        gc.collect()  # the task is dropped with its exception unread: asyncio logs it
    finally:
        logger.removeHandler(kept)
    return kept.records


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py): a full gc.collect of the process's heap
async def test_a_stopped_runtimes_groupchaterror_echo_is_left_out() -> None:
    """A cancelled run: AutoGen's runtime task may end on the echo of the cancellation nobody is left to log."""
    assert await never_retrieved(ValueError(ECHO)) == []


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py): a full gc.collect of the process's heap
@pytest.mark.parametrize("error", [ValueError("a real bug"), RuntimeError(ECHO)])
async def test_a_runtime_tasks_other_errors_are_kept(error: Exception) -> None:
    kept = await never_retrieved(error)
    assert len(kept) == 1 and "never retrieved" in kept[0].getMessage(), kept
    assert kept[0].exc_info is not None and kept[0].exc_info[1] is error


def test_autogens_own_records_of_a_cancellation_are_left_out_and_a_teams_error_kept() -> None:
    def record(name: str, error: BaseException) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, "Error processing publish message", None,
                                 (type(error), error, None))

    wrapped = RuntimeError("Failed to get user input")
    wrapped.__cause__ = asyncio.CancelledError()
    keep = NoCancellationTracebacks().filter
    assert not keep(record("autogen_core", wrapped))
    assert not keep(record("autogen_core", ValueError(ECHO)))
    assert keep(record("autogen_core", ValueError("the model answered nonsense")))
