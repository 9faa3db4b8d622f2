"""What a worker process itself reads (bot/core/settings.py's `Settings` holds it first, after the Approver's
settings): Slack's signing secret and Socket Mode token, its HTTP server, its model, who may act on approvals, the
detectors of sensitive values, its runs' limits, its logs and traces, the teams' demo tools and its event loop (and,
first, the on-call schedules its approvers may name: bot/core/oncall_settings.py, issue 90). Only
declared here: `Settings.from_env` reads them, with the rest (no module but the settings modules reads the
environment)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr

from bot.core import setting_values
from bot.core.arg_paths import read_detectors
from bot.core.detectors import DETECTORS
from bot.core.oncall_settings import OnCallSettings
from bot.core.setting_values import Flag, Port, Secret, Stripped, duration, whole


class WorkerProcess(OnCallSettings):
    """The worker process's own settings, declared in the order the configuration table shows them."""

    slack_signing_secret: Secret = Field(
        validation_alias="SLACK_SIGNING_SECRET",
        description="verifies every request from Slack (forged, unsigned or >5 min old: 401)",
    )
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN", description=(
        "app-level token (`xapp-…`): serve over Socket Mode instead of HTTP"))
    port: Port = Field(default=3000, validation_alias="PORT", description="HTTP port")
    host: setting_values.Host = Field(default="", validation_alias="HOST", description="the address the worker"
                                      " listens on (`127.0.0.1`, `10.0.0.5`, `::`); unset: every interface")
    model_config_path: str | None = Field(
        default=None, validation_alias="MODEL_CONFIG",
        description=(
            "path to an AutoGen `ChatCompletionClient` component config, JSON or YAML; or a list of them (or "
            "`{clients: [...]}`) tried in order when one fails: the model of the `/agent` runs, which also writes the"
            " one-sentence summary of a program's ask on its card (labelled as written by a model; unset: the"
            " deterministic sentence alone)"
        ),
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias="OPENAI_API_KEY",
        description=("without `MODEL_CONFIG`: use OpenAI `gpt-4o-mini`; without either: the demo model (a worker"
                     " says so at start, at WARNING; dev does not)"),
    )
    triage_timeout: Annotated[float, whole(1, 120)] = Field(
        default=10.0, validation_alias="TRIAGE_TIMEOUT",
        description="seconds a triage model (an ask policy's `@triage`, a model of `MODEL_CONFIG`) has to answer an"
                    " ask; after it (or on any error, a refusal or an answer not as asked), people decide as if no"
                    " model were there (1 to 120)",
    )
    triage_budget: Annotated[int, whole(0, 1_000_000)] = Field(
        default=0, validation_alias="TRIAGE_BUDGET",
        description="calls a triage model may take an hour, per workspace (counted in Redis); once spent, people"
                    " decide the hour's next asks as if no model were there, said on the card (0: no budget)",
    )
    triage_hold: Annotated[int, whole(0, 3600)] = Field(
        default=0, validation_alias="TRIAGE_HOLD",
        description="seconds a triage model's approval waits before it is final: meanwhile the ask stays pending, its"
                    " card says when it will be final, and the channel's admins may Reverse it (people then decide);"
                    " 0: final at once",
    )
    admin_users: setting_values.Ids = Field(default=(), validation_alias="ADMIN_USERS", description=(
        "user ids (comma-separated) who may change every channel's settings and name its first `admins` (nobody"
        " else can: a worker warns at start when it is unset; dev mode names its page's first person)"))
    external_teams: setting_values.Ids = Field(default=(), validation_alias="EXTERNAL_TEAMS", description=(
        "team or organization ids (`T…`, `E…`, comma-separated) of other Slack organizations whose people may act on"
        " approvals (a Slack Connect partner); others from outside the installing workspace or its Enterprise Grid"
        " organization are refused and audited"))
    allowed_guests: setting_values.Ids = Field(default=(), validation_alias="ALLOWED_GUESTS", description=(
        "user ids of guests (restricted accounts) who may act on approvals; other guests are refused"))
    redact_detectors: Annotated[tuple[str, ...], BeforeValidator(read_detectors)] = Field(
        default=DETECTORS, validation_alias="REDACT_DETECTORS", json_schema_extra={"shown_default": "all"},
        description="the detectors of sensitive values in a tool call's arguments (comma-separated; `all`, or `none`"
        f" to turn them off): {', '.join(f'`{name}`' for name in DETECTORS)} (docs/operators/sensitive-values.md);"
        " an unknown name stops the worker at start")
    secrets_key: setting_values.SecretsKey = None
    usergroup_cache_seconds: Annotated[int, whole(0, 86400)] = Field(
        default=60, validation_alias="USERGROUP_CACHE_SECONDS",
        description="how long user-group membership (`usergroups.users.list`) is cached",
    )
    token_check_seconds: Annotated[int, duration(3600)] = Field(default=60, validation_alias="TOKEN_CHECK_INTERVAL",
        json_schema_extra={"shown_default": "60s"}, description="how often a worker asks Slack again whether it still"
        " accepts its bot token and, in turn, 32 of the other workspaces' (`auth.test`, 1 s to 1 h): `/healthz`'s"
        " `surfaces` and `hitl_surface_up` say Slack down once it refuses SLACK_BOT_TOKEN; and, in turn, 20 of the API"
        " keys' sponsors (`users.info`: one deactivated is said to the admins)")
    canary_interval: Annotated[int, whole(0, 86400)] = Field(default=0, validation_alias="CANARY_INTERVAL",
        json_schema_extra={"shown_default": "0 (off)"}, description="seconds between this worker's synthetic canaries"
        " (0 to 86400; unset or 0: none): an approval opened, decided by the worker's own probe and heard back through"
        " the store's real steps, shown by no surface (docs/operators/monitoring.md#the-synthetic-canary); its last"
        " success is `hitl_canary_last_success_timestamp_seconds`, watched by the alert CanaryFailing")
    max_runs_per_user: Annotated[int, whole(1, 1000)] = Field(
        default=3, validation_alias="MAX_RUNS_PER_USER",
        description="active runs one person may have at once; more are refused with a clear message",
    )
    max_runs_per_channel: Annotated[int, whole(1, 10000)] = Field(
        default=10, validation_alias="MAX_RUNS_PER_CHANNEL", description="active runs one channel may have at once")
    log_level: setting_values.LogLevel = Field(default="INFO", validation_alias="LOG_LEVEL",
                           description="`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`")
    log_format: setting_values.LogFormat = Field(default="text", validation_alias="LOG_FORMAT",
                            description="`text`, or `json`: one JSON object per line, with `approval_id`,"
                            " `run_id`, `key`, `channel`, `team`, `trace_id` as fields (docs/operators/tracing.md)")
    otel_endpoint: Stripped = Field(
        default="", validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT", pattern=r"^(|https?://.+)$",
        description="traces (OpenTelemetry, OTLP over HTTP) are sent to `<this>/v1/traces`, e.g."
        " `http://otel-collector:4318`; unset: no traces, nothing of OpenTelemetry loaded (needs the `otel` extra)",
    )
    # the email team's demo send_email writes one file per email here
    outbox_dir: Stripped = Field(
        default="outbox", validation_alias="OUTBOX_DIR",
        json_schema_extra={"shown_default": "./outbox"},
        description="where the `email` team's demo `send_email` writes one `.eml` file per approved email (none sent)",
    )
    # the code team runs agents' code on this host
    enable_code_execution: Flag = Field(
        default=False, validation_alias="ENABLE_CODE_EXECUTION",
        description=(
            "`true` allows the `code` team, which runs agents' Python **on the bot's host** after a human "
            "approves it"
        ),
    )
    code_work_dir: Stripped = Field(
        default="code-runs", validation_alias="CODE_WORK_DIR",
        json_schema_extra={"shown_default": "./code-runs"},
        description="the `code` team's working directory (one subdirectory per run)",
    )
    code_timeout: Annotated[int, whole(1, 3600)] = Field(
        default=60, validation_alias="CODE_TIMEOUT",
        description="seconds one code execution may take (1 to 3600)",
    )
    # cache model responses in Redis (bot/runs/response_cache.py)
    model_cache: Flag = Field(
        default=False, validation_alias="MODEL_CACHE",
        description=(
            "`true`: cache model responses in Redis (same keys and values as autogen-ext's `ChatCompletionCache`,"
            " on the async Redis client; keys `hitl:modelcache:*`, kept 7 days; Redis down or slow: a cache miss)"
        ),
    )
    # auto: uvloop when installed; asyncio: the standard loop
    event_loop: setting_values.EventLoop = Field(
        default="auto", validation_alias="EVENT_LOOP",
        description=(
            "`auto`: uvloop when installed (it is a dependency on Linux and macOS), `uvloop`, or `asyncio` (the "
            "standard loop)"
        ),
    )
    # seconds a client has to send a request's body (then 408)
    request_read_timeout: Annotated[int, whole(1, 300)] = Field(
        default=10, validation_alias="REQUEST_READ_TIMEOUT",
        description="seconds a client has to send a request's body (1 to 300); then 408 and the connection is closed",
    )
    # the files the Claude Code HTTP hook may read, to show an edit's change and check it at execution
    claude_code_files: setting_values.Ids = Field(
        default=(), validation_alias="CLAUDE_CODE_FILES",
        description=(
            "directories (comma-separated) whose files the Claude Code HTTP hook reads to show an edit's change"
            " and check it right before the edit runs (a bot on the machine Claude Code works on: a sidecar, dev"
            " mode); default none: the bot reads no file, and the HTTP hook shows a file tool's arguments only."
            " Name only project directories whose content every key holder may see"
        ),
    )
    # start-up: a Redis that may evict keys is refused unless this says go on (bot/store/start_checks.py)
    redis_allow_eviction: Flag = Field(
        default=False, validation_alias="REDIS_ALLOW_EVICTION",
        description=(
            "`true`: start on a Redis whose `maxmemory-policy` may evict keys (`allkeys-*`, `volatile-*`), saying"
            " so at ERROR; otherwise such a Redis stops the worker at start (an evicted approval is a lost one)"
        ),
    )
    # sharded pub/sub on Redis 7 Cluster (bot/store/shard_pubsub.py, issue 89)
    redis_sharded_pubsub: Flag = Field(
        default=True, validation_alias="REDIS_SHARDED_PUBSUB",
        description=(
            "on Redis Cluster of Redis 7 or later, decisions reach the waiting worker by sharded pub/sub (`SPUBLISH`"
            " on the channel's slot, not a `PUBLISH` every node relays); `false`: plain pub/sub, as a release before"
            " 89 (set it while such workers still run: they hear plain pub/sub only; docs/operators/upgrades.md)"
        ),
    )
