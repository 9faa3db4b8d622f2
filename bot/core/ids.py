"""Ids the bot makes: runs, workers, and the Approvals API's approvals and recorded calls. (A run's approval ids
come from AutoGen: `InputRequestContext.request_id()`.)"""

from __future__ import annotations

import os
import secrets
import socket

_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: ids are read and typed by people


def random_id(prefix: str, length: int) -> str:
    """`prefix` and `length` random characters of an alphabet people read and type without confusion."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def new_run_id() -> str:
    """`r` and 7 characters (matches `bot.core.records.RUN_ID`)."""
    return random_id("r", 7)


def new_worker_id(kind: str = "") -> str:
    """Host, process and a random part: unique across restarts and machines. `kind`: a prefix
    (as `lib`)."""
    host = socket.gethostname()[: 16 if kind else 20]
    return f"{kind + '-' if kind else ''}{host}-{os.getpid()}-{secrets.token_hex(3)}"
