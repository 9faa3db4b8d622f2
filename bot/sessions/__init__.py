"""A run's messages in Slack: its header, its thread and, where the workspace has them, its agent session, told of
its approvals by the approval core's events (bot/approvals/events.py, subscribed by bot/root.py).

    run_thread.py  `RunThreads`: a run's header and thread, posted in order, off the agent's path
    run_session.py a run as a Slack agent session: its status and its plan streamed, within Slack's limits
    chunks.py      the chunks a session streams (a task, the plan, text) within Slack's limits, and their titles (pure)
    told.py        `ThreadsTold`: what a run's thread says of its approvals (opened, decided at once, waiting, ended)

May import: `bot.core`, `bot.store`, the leaves of `bot.slack`, the names `bot.approvals` exports and `agents`.
Never `bot.runs` (the runs post through it) or the Slack entry."""

from bot.sessions.run_session import RunSessions
from bot.sessions.run_thread import RunThreads
from bot.sessions.told import ThreadsTold

__all__ = ["RunSessions", "RunThreads", "ThreadsTold"]
