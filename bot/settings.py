"""Process settings, read from an explicit mapping (the environment by default).

Secrets are kept out of `repr()`, so settings can be logged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.durations import DurationError, parse_duration

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,20}$")


class SettingsError(ValueError):
    """The environment is missing something or has a bad value; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs to start. Build with `Settings.from_env()`."""

    slack_bot_token: str = field(repr=False)
    slack_signing_secret: str = field(repr=False)
    approvals_channel: str
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    redis_url: str = field(default="redis://localhost:6379/0", repr=False)
    port: int = 3000
    approval_timeout: int = 600
    model_config_path: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    key_prefix: str = "hitl"
    admin_users: tuple[str, ...] = ()
    heartbeat_seconds: float = 6.0
    usergroup_cache_seconds: int = 60
    audit_retention: int = 90 * 86400
    max_runs_per_user: int = 3
    max_runs_per_channel: int = 10
    log_level: str = "INFO"
    log_format: str = "text"
    outbox_dir: str = "outbox"  # the email team's demo send_email writes one file per email here
    enable_code_execution: bool = False  # the code team runs agents' code on this host
    code_work_dir: str = "code-runs"
    code_timeout: int = 60
    model_cache: bool = False  # cache model responses in Redis (ChatCompletionCache)
    event_loop: str = "auto"  # auto: uvloop when installed; asyncio: the standard loop
    request_read_timeout: int = 10  # seconds a client has to send a request's body (then 408)
    redis_timeout: float = 2.0  # seconds one Redis command may take before it counts as failed
    run_retention: int = 30 * 86400  # ended runs (and their indexes) are kept this long

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise SettingsError(f"{name} is not set")
            return value

        approvals_channel = required("APPROVALS_CHANNEL")
        if not _CHANNEL_ID.match(approvals_channel):
            raise SettingsError("APPROVALS_CHANNEL must be a channel id such as C0123456789 (not a #name)")

        def number(name: str, default: int, low: int, high: int) -> int:
            raw = env.get(name, "").strip() or str(default)
            if not raw.isdigit() or not low <= int(raw) <= high:
                raise SettingsError(f"{name} must be a whole number from {low} to {high}")
            return int(raw)

        port = number("PORT", 3000, 1, 65535)
        try:
            timeout = parse_duration(env.get("APPROVAL_TIMEOUT", "10m"))
        except DurationError as exc:
            raise SettingsError(f"APPROVAL_TIMEOUT: {exc}") from None
        try:
            retention = parse_duration(env.get("AUDIT_RETENTION", "") or "90d", max_seconds=10 * 365 * 86400)
        except DurationError as exc:
            raise SettingsError(f"AUDIT_RETENTION: {exc}") from None
        try:
            run_retention = parse_duration(env.get("RUN_RETENTION", "") or "30d", max_seconds=10 * 365 * 86400)
        except DurationError as exc:
            raise SettingsError(f"RUN_RETENTION: {exc}") from None
        raw_timeout = env.get("REDIS_TIMEOUT", "").strip() or "2"
        try:
            redis_timeout = float(raw_timeout) if raw_timeout.isascii() else -1.0
        except ValueError:
            redis_timeout = -1.0
        if not 0.1 <= redis_timeout <= 60:
            raise SettingsError("REDIS_TIMEOUT must be a number of seconds from 0.1 to 60")
        api_url = env.get("SLACK_API_URL", "").strip() or DEFAULT_SLACK_API_URL

        def flag(name: str) -> bool:
            raw = env.get(name, "").strip().lower()
            if raw not in ("", "true", "false", "1", "0", "yes", "no", "on", "off"):
                raise SettingsError(f"{name} must be true or false")
            return raw in ("true", "1", "yes", "on")

        def choice(name: str, allowed: tuple[str, ...]) -> str:
            raw = env.get(name, "").strip().lower() or allowed[0]
            if raw not in allowed:
                raise SettingsError(f"{name} must be one of: {', '.join(allowed)}")
            return raw

        return cls(
            slack_bot_token=required("SLACK_BOT_TOKEN"),
            slack_signing_secret=required("SLACK_SIGNING_SECRET"),
            approvals_channel=approvals_channel,
            slack_app_token=env.get("SLACK_APP_TOKEN") or None,
            slack_api_url=api_url if api_url.endswith("/") else api_url + "/",
            redis_url=env.get("REDIS_URL", "").strip() or "redis://localhost:6379/0",
            port=port,
            approval_timeout=timeout,
            model_config_path=env.get("MODEL_CONFIG") or None,
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            key_prefix=env.get("REDIS_KEY_PREFIX", "hitl"),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            log_format="json" if env.get("LOG_FORMAT", "").strip().lower() == "json" else "text",
            admin_users=tuple(u.strip() for u in env.get("ADMIN_USERS", "").split(",") if u.strip()),
            heartbeat_seconds=float(number("HEARTBEAT_SECONDS", 6, 1, 300)),
            usergroup_cache_seconds=number("USERGROUP_CACHE_SECONDS", 60, 0, 86400),
            audit_retention=retention,
            max_runs_per_user=number("MAX_RUNS_PER_USER", 3, 1, 1000),
            max_runs_per_channel=number("MAX_RUNS_PER_CHANNEL", 10, 1, 10000),
            outbox_dir=env.get("OUTBOX_DIR", "").strip() or "outbox",
            enable_code_execution=flag("ENABLE_CODE_EXECUTION"),
            code_work_dir=env.get("CODE_WORK_DIR", "").strip() or "code-runs",
            code_timeout=number("CODE_TIMEOUT", 60, 1, 3600),
            model_cache=flag("MODEL_CACHE"),
            event_loop=choice("EVENT_LOOP", ("auto", "uvloop", "asyncio")),
            request_read_timeout=number("REQUEST_READ_TIMEOUT", 10, 1, 300),
            redis_timeout=redis_timeout,
            run_retention=run_retention,
        )
