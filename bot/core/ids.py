"""Ids the bot makes: runs and workers. (Approval ids come from AutoGen: `InputRequestContext.request_id()`.)"""

from __future__ import annotations

import os
import secrets
import socket

_RUN_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: ids are read and typed by people


def new_run_id() -> str:
    """`r` and 7 characters (matches `bot.core.records.RUN_ID`)."""
    return "r" + "".join(secrets.choice(_RUN_ID_ALPHABET) for _ in range(7))


def new_worker_id(kind: str = "") -> str:
    """Host, process and a random part: unique across restarts and machines. `kind`: a prefix
    (as `lib`)."""
    host = socket.gethostname()[: 16 if kind else 20]
    return f"{kind + '-' if kind else ''}{host}-{os.getpid()}-{secrets.token_hex(3)}"
