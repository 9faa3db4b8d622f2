"""Process settings, read from an explicit mapping (the environment by default), in three layers:

* `StoreSettings`: the bot's Redis (what `python -m bot audit` needs; `KeysSettings` adds SECRETS_KEY);
* `ApproverSettings`: that, plus Slack and the approval defaults (what posting cards needs);
* `Settings`: everything a worker needs.

Each is built with `X.from_env(environ)`, which reads the variables named by its fields' aliases from
`environ` (`os.environ` when None) and nothing else: no `.env` file, no variable read behind the
caller's back. A bad or missing value raises `SettingsError`, whose message names the variable and
the form it takes. Secrets are `SecretStr`: hidden in `repr()`, logs and errors; read one with
`.get_secret_value()` where it is used. `DevSettings` is what `python -m bot dev` itself reads. No other module
of `bot` reads the environment (tests/core/test_settings_only.py checks it).

Each field carries its documentation (`description`, and `shown_default` when the default reads better
than its value, e.g. `10m` for 600 seconds): the docs' reference table (docs/operators/configuration.md)
is `python -m bot.core.settings_table --markdown`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AliasChoices,
    AliasPath,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.core import setting_values
from bot.core.durations import DurationError
from bot.core.email_settings import EmailSettings
from bot.core.msteams_file import TeamsFileError
from bot.core.msteams_settings import TeamsSettings
from bot.core.push_settings import PushSettings
from bot.core.redis_urls import cluster_prefix, is_cluster_url
from bot.core.sealing import key_from_text
from bot.core.setting_values import ApiUrl, Flag, PublicUrl, RedisTimeout, Secret, Stripped, duration, whole
from bot.core.siem_settings import SiemSettings
from bot.core.store_settings import StoreLayout
from bot.core.ticket_settings import TicketSettings
from bot.core.worker_settings import WorkerProcess
from bot.core.workspace_files import StaticWorkspace, WorkspacesFileError, read_workspaces_file

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://", "rediss+sentinel://", "redis+cluster://",
                 "rediss+cluster://")
LONGEST_RETENTION = 10 * 365 * 86400
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,20}$")


class SettingsError(ValueError):
    """The environment is missing something or has a bad value; the message names the variable."""


def reveal(secret: SecretStr | None) -> str | None:
    """An optional secret's value (None when unset), for the one place that uses it."""
    return None if secret is None else secret.get_secret_value()


# the settings --------------------------------------------------------------------------------------
class _FromEnv(BaseSettings):
    """`from_env` and the reading rules shared by every layer."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        populate_by_name=True,  # `X(redis_url=...)` in code and tests; the environment uses the aliases
        hide_input_in_errors=True,  # a ValidationError never shows the value (it may be a secret)
    )

    # Variables whose blank value (empty, or only spaces) is taken as given, not as unset:
    # REDIS_KEY_PREFIX may be empty, and a blank APPROVAL_TIMEOUT is refused rather than defaulted.
    _BLANK_IS_A_VALUE: ClassVar[frozenset[str]] = frozenset({"APPROVAL_TIMEOUT", "REDIS_KEY_PREFIX"})
    # Variables read as given, where only an empty value counts as unset.
    _ONLY_EMPTY_IS_UNSET: ClassVar[frozenset[str]] = frozenset({"SLACK_APP_TOKEN", "MODEL_CONFIG", "OPENAI_API_KEY"})

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given: `from_env` hands over the mapping it was given, so no setting
        comes from `os.environ` or a file behind the caller's back."""
        return (init_settings,)

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Environment variable of each field, by field name."""
        return {name: _variable(name, field.validation_alias) for name, field in cls.model_fields.items()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings in `environ` (`os.environ` when None). Raises `SettingsError`."""
        env = os.environ if environ is None else environ
        given: dict[str, Any] = {}
        for variable in cls.variables().values():
            raw = env.get(variable)
            if raw is None:
                continue
            if variable in cls._ONLY_EMPTY_IS_UNSET:
                unset = raw == ""
            else:
                unset = not raw.strip() and variable not in cls._BLANK_IS_A_VALUE
            if not unset:
                given[variable] = raw
        try:
            return cls(**given)
        except ValidationError as exc:
            raise SettingsError(cls._problem(exc)) from None

    @classmethod
    def _problem(cls, exc: ValidationError) -> str:
        """Every error, one clause each, naming its variable. No value is shown, except what was typed
        for a duration (in `DurationError`'s message; no duration is a secret)."""
        variables = cls.variables()
        clauses: list[str] = []
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            variable = variables.get(field, field)
            cause = (error.get("ctx") or {}).get("error")
            if error["type"] == "missing":
                clauses.append(f"{variable} is not set")
            elif isinstance(cause, DurationError):
                clauses.append(f"{variable}: {cause}")
            elif isinstance(cause, ValueError):
                clauses.append(f"{variable} {cause}".strip())
            else:
                clauses.append(f"{variable}: {error['msg']}")
        return "; ".join(clauses)


def _variable(name: str, alias: str | AliasPath | AliasChoices | None) -> str:
    if isinstance(alias, str):
        return alias
    raise TypeError(f"settings field {name} needs its variable as a plain validation_alias")


class StoreSettings(_FromEnv, StoreLayout):
    """The bot's Redis: enough to read and write its store (the audit export needs only this)."""

    redis_url: Secret = Field(  # secret: the URL may carry a password
        default=SecretStr(DEFAULT_REDIS_URL), validation_alias="REDIS_URL",
        description="Redis (a password in the URL is never logged)",
    )
    key_prefix: str = Field(
        default="hitl", validation_alias="REDIS_KEY_PREFIX", description="prefix of every Redis key",
    )
    policy_dir: Stripped = Field(
        default="", validation_alias="POLICY_DIR",
        description="a folder of Cedar policies (`*.cedar`) and `policy.yaml` (windows), reloaded when its files"
        " change (docs/operators/policies.md); unset: the shipped default policy only (the `policy` mode's risk words)",
    )
    redis_timeout: RedisTimeout = Field(
        default=2.0, validation_alias="REDIS_TIMEOUT",
        description=(
            "seconds one Redis command may take (0.1 to 60), and opening a connection (2 at least); a frozen Redis "
            "then fails the command instead of holding a click or `/healthz`"
        ),
    )
    audit_retention: Annotated[int, duration(LONGEST_RETENTION)] = Field(
        default=90 * 86400, validation_alias="AUDIT_RETENTION",
        json_schema_extra={"shown_default": "90d"},
        description="audit entries older than this are trimmed",
    )
    # Ed25519 signing keys (bot/core/signing.py): receipts of approvals and the audit log's checkpoints.
    # A JWKS JSON of private keys, from a file (0600) or this variable; never stored in Redis.
    signing_keys_file: Stripped = Field(
        default="", validation_alias="SIGNING_KEYS_FILE",
        description=(
            "a JSON file of the Ed25519 keys that sign receipts and audit checkpoints (a JWKS with private keys;"
            " `python -m bot signing rotate` writes it); dev mode makes one"
        ),
    )
    signing_keys: SecretStr | None = Field(
        default=None, validation_alias="SIGNING_KEYS",
        description="the same JSON as `SIGNING_KEYS_FILE`, given in the environment instead (never logged)",
    )
    # how long a receipt is valid: also how long `signing rotate` keeps a retired key's private part
    receipt_ttl: Annotated[int, duration(86400)] = Field(
        default=600, validation_alias="RECEIPT_TTL",
        json_schema_extra={"shown_default": "10m"},
        description="how long a receipt of an approved call is valid after it is issued (its `exp`)",
    )
    audit_checkpoint_every: Annotated[int, whole(1, 1_000_000)] = Field(
        default=1000, validation_alias="AUDIT_CHECKPOINT_EVERY",
        description=(
            "a signed checkpoint of the audit log is written after this many new entries (it covers at most this"
            " many), or after `AUDIT_CHECKPOINT_INTERVAL`"
        ),
    )
    audit_checkpoint_seconds: Annotated[int, duration()] = Field(
        default=5, validation_alias="AUDIT_CHECKPOINT_INTERVAL",
        json_schema_extra={"shown_default": "5s"},
        description=(
            "a signed checkpoint is written this long after the last one when entries were written (one worker at a"
            " time: the unsigned tail of the audit log is this old at most)"
        ),
    )
    audit_archive: Stripped = Field(default="", validation_alias="AUDIT_ARCHIVE", description=(
        "a write-once archive of the audit log: `file:///abs/folder` or `s3://bucket/prefix` (AWS_ENDPOINT_URL and"
        " the usual AWS variables); nothing is trimmed from Redis before it is archived"))
    audit_archive_retain: Annotated[int, duration(LONGEST_RETENTION, zero=True)] = Field(
        default=0, validation_alias="AUDIT_ARCHIVE_RETAIN", json_schema_extra={"shown_default": "0"}, description=(
            "S3 Object Lock: each archived object is locked this long (COMPLIANCE), e.g. 400d; 0: the bucket's"
            " default"))
    audit_redis_keep: Annotated[int, duration(LONGEST_RETENTION, zero=True)] = Field(
        default=0, validation_alias="AUDIT_REDIS_KEEP", json_schema_extra={"shown_default": "0"}, description=(
            "with `AUDIT_ARCHIVE`: audit entries stay in Redis until archived and older than this (e.g. 30d), never"
            " trimmed before they are archived; 0: `AUDIT_RETENTION`"))
    run_retention: Annotated[int, duration(LONGEST_RETENTION)] = Field(
        default=30 * 86400, validation_alias="RUN_RETENTION",
        json_schema_extra={"shown_default": "30d"},
        description=(
            "an ended run, its list of approvals, its side-effect ledger and its place in the channel's index are"
            " kept this long"
        ),
    )

    @field_validator("audit_archive")
    @classmethod
    def _archive_form(cls, url: str) -> str:
        """Empty (no archive), `file:///abs/folder` or `s3://bucket/prefix`; else one line naming the two forms."""
        if url and not re.fullmatch(r"file:///.*|s3://[^/\s]+(/.*)?", url):
            raise ValueError(f"{url[:80]!r} is not an archive: use file:///abs/folder (a folder, its absolute path)"
                             " or s3://bucket/prefix (any S3-compatible store)")
        return url

    @field_validator("redis_url")
    @classmethod
    def _redis_url_form(cls, url: SecretStr) -> SecretStr:
        """A URL redis-py (or `connect`) takes; else one line naming the forms (never the value: a password)."""
        if not url.get_secret_value().startswith(REDIS_SCHEMES):
            raise ValueError("is not a Redis URL: use redis://[:password@]host:6379/0 (or rediss://,"
                             " unix:///path/redis.sock, redis+sentinel://, redis+cluster://)")
        return url

    @property
    def store_sharded(self) -> bool:  # each workspace's keys on a tag of its own (`Keys(sharded=True)`, StoreLayout)
        return self.redis_workspace_tags and is_cluster_url(self.redis_url.get_secret_value())

    @property
    def store_prefix(self) -> str:
        """Every key's prefix, as every user of the store uses it: on Redis Cluster a hash tag (`cluster_prefix`)."""
        cluster = is_cluster_url(self.redis_url.get_secret_value())
        return cluster_prefix(self.key_prefix) if cluster else self.key_prefix


class NamingSettings(_FromEnv):
    """What naming people needs (`python -m bot report` and `audit export` ask Slack's `users.info`): the bot's
    token and Slack's Web API, both optional (without a token, people are shown by id)."""

    slack_bot_token: Secret | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN", description="bot token")
    slack_api_url: ApiUrl = Field(default=DEFAULT_SLACK_API_URL, validation_alias="SLACK_API_URL",
                                  description="Web API base URL")


class KeysSettings(StoreSettings, NamingSettings):
    """What `python -m bot keys` needs: the store, the workers' SECRETS_KEY sealing a key's webhook secret, Slack
    (SLACK_BOT_TOKEN, SLACK_API_URL) to check a sponsor is a person it knows (`bot.cli.sponsors`), and (to ask Slack
    which workspaces an org-wide OAuth install is added to, when no worker has said) their SLACK_TOKENS_KEY."""

    secrets_key: setting_values.SecretsKey = None
    slack_tokens_key: Secret | None = Field(default=None, validation_alias="SLACK_TOKENS_KEY", description=(
        "the workers' key of OAuth installs' tokens: opens an org-wide install's to ask Slack where it is added"))


class ApproverSettings(StoreSettings):
    """The store, plus what posting approval cards and waiting for decisions needs."""

    slack_bot_token: Secret = Field(validation_alias="SLACK_BOT_TOKEN", description="bot token (`xoxb-…`)")
    approvals_channel: Stripped = Field(validation_alias="APPROVALS_CHANNEL",
                                        description="channel **id** where cards are posted")
    slack_api_url: ApiUrl = Field(
        default=DEFAULT_SLACK_API_URL, validation_alias="SLACK_API_URL",
        description="Web API base URL (dev mode and tests point it at the local stand-in)",
    )
    approval_timeout: Annotated[int, duration()] = Field(
        default=600, validation_alias="APPROVAL_TIMEOUT",
        json_schema_extra={"shown_default": "10m"},
        description="default per-channel timeout (`90`, `90s`, `15m`, `2h`, `1d`; 1 s to 7 days)",
    )
    heartbeat_seconds: Annotated[float, whole(1, 300)] = Field(
        default=6.0, validation_alias="HEARTBEAT_SECONDS",
        description="how long a worker's heartbeat lasts; after it, other workers take over its runs",
    )

    alerts_channel: Stripped = Field(default="", validation_alias="ALERTS_CHANNEL", description=(
        "channel **id** where the audit watcher says an integrity finding and its clearing (the bot must be in it)"))
    alert_webhook_url: Stripped = Field(default="", validation_alias="ALERT_WEBHOOK_URL", pattern=r"^(|https?://.+)$",
                                        description="URL the audit watcher POSTs findings to, signed as webhooks are")
    alert_webhook_secret: Secret | None = Field(None, validation_alias="ALERT_WEBHOOK_SECRET", description="HMAC key")
    audit_watch_seconds: Annotated[int, duration(3600)] = Field(default=30, validation_alias="AUDIT_WATCH_INTERVAL",
        json_schema_extra={"shown_default": "30s"}, description="how often the audit watcher looks (1 s to 1 h)")
    audit_watch_full_seconds: Annotated[int, duration(LONGEST_RETENTION)] = Field(default=3600, validation_alias=(
        "AUDIT_WATCH_FULL"), json_schema_extra={"shown_default": "1h"}, description="how often it verifies all again")
    audit_stalled_seconds: Annotated[int, duration(86400)] = Field(default=300, validation_alias="AUDIT_STALLED_AFTER",
        json_schema_extra={"shown_default": "5m"}, description="entries unsigned or unarchived this long: stalled")

    @field_validator("approvals_channel", "alerts_channel")
    @classmethod
    def _channel_id(cls, value: str) -> str:  # (APPROVALS_CHANNEL blank is "not set": from_env)
        if value and not _CHANNEL_ID.fullmatch(value):
            raise ValueError("must be a channel id such as C0123456789 (not a #name)")
        return value


class Settings(WorkerProcess, TeamsSettings, EmailSettings, PushSettings, SiemSettings, TicketSettings,
               ApproverSettings):
    """Everything a worker needs to start (the process; the API, step-up, policies, Homes, workspaces): `from_env`."""

    # the Approvals API (bot/api/): webhooks and callback URLs to loopback or private addresses (and http://)
    # only when allowed; new keys' limits (`keys create` may set others)
    slackbot_mcp: setting_values.SlackbotMcpSetting = Field(default=None, validation_alias="SLACKBOT_MCP", description=(
        "JSON: the API key Slackbot asks with and the upstream MCP servers `/slack/mcp` serves (docs: Slackbot)"))
    api_allow_private_callbacks: Flag = Field(
        default=False, validation_alias="API_ALLOW_PRIVATE_CALLBACKS",
        description=(
            "`true`: a `callback_url` may be `http://` and point at loopback or private addresses (tests, "
            "one-machine setups); otherwise https and public only, checked again when sending"
        ),
    )
    api_key_max_pending: Annotated[int, whole(1, 100_000)] = Field(
        default=100, validation_alias="API_KEY_MAX_PENDING",
        description=(
            "approvals a new API key (made with `/agent keys create`) may have pending at once; more are refused "
            "with 429"
        ),
    )
    api_key_per_minute: Annotated[int, whole(1, 100_000)] = Field(
        default=120, validation_alias="API_KEY_PER_MINUTE",
        description="requests a new API key may send per minute; more are refused with 429 and `Retry-After`",
    )
    api_key_rate: Annotated[int, whole(1, 100_000)] = Field(
        default=50, validation_alias="API_KEY_RATE",
        description=(
            "requests a second one key may start on one worker, whatever its per-minute limit, admitted before Redis"
            " is asked anything (its reads, each a long-poll, ten times as many); more are refused with 429: one"
            " key's flood costs that key. Raise it with a key's per-minute limit for a program that asks faster"
        ),
    )
    metrics_token: Secret | None = Field(
        default=None, validation_alias="METRICS_TOKEN",
        description=(
            "`GET /metrics` on `PORT` then needs `Authorization: Bearer <METRICS_TOKEN>`; unset, it answers there"
            " only requests from loopback that carry no proxy's header (403 to the rest), and none with METRICS_LISTEN"
        ),
    )
    metrics_top_people: Annotated[int, whole(1, 1000)] = Field(
        default=20, validation_alias="METRICS_TOP_PEOPLE",
        description="per-person metrics (`hitl_cards_per_hour{person}`, `hitl_fast_approvals{person}`...) show this"
        " many people, the most counted, and the rest summed as `person=\"other\"`: a bounded label set, the same on"
        " every worker",
    )
    metrics_listen: setting_values.ListenAddress = Field(default=None, validation_alias="METRICS_LISTEN", description=(
        "`host:port` (`10.0.0.5:9464`, `[::1]:9464`, `:9464` for every interface) where `GET /metrics`, `/healthz`"
        " and the probes (`/livez`, `/readyz`) are served apart, to whoever reaches it: the operators' port, which no"
        " Ingress routes to; `PORT` then refuses `/healthz`, and `/metrics` unless METRICS_TOKEN is given (a reverse"
        " proxy never passes it)"))
    # the URL programs reach this bot at (AGENT_APPROVALS_URL), told with a new key; "" when unknown
    public_url: PublicUrl = Field(
        default="", validation_alias="PUBLIC_URL",
        description=(
            "the URL programs reach this bot at (their `AGENT_APPROVALS_URL`, http(s), no trailing `/`), told "
            "with each new key; dev mode sets it to the page's URL"
        ),
    )
    # step-up (bot/stepup/, docs/operators/step-up.md): where people's browsers open the passkey pages
    step_up_url: PublicUrl = Field(
        default="", validation_alias="STEP_UP_URL",
        description=(
            "the base URL of the passkey (step-up) pages people open, https (http only on `localhost`); its host is"
            " the passkeys' relying party id (default `PUBLIC_URL`; dev mode: `http://localhost:<port>`)"
        ),
    )
    oidc_issuer: PublicUrl = Field(default="", validation_alias="OIDC_ISSUER", description=(  # bot/signin/
        "another OpenID Connect provider than Slack for the pages' sign-in (people matched by verified email)"))
    oidc_client_id: Stripped | None = Field(default=None, validation_alias="OIDC_CLIENT_ID", description=(
        "the client id the pages sign in with (default `SLACK_CLIENT_ID`: the app's own, for Sign in with Slack)"))
    oidc_client_secret: Secret | None = Field(default=None, validation_alias="OIDC_CLIENT_SECRET",
                                              description="its client secret (default `SLACK_CLIENT_SECRET`)")
    step_up_new_passkey_cooloff: Annotated[int, duration(30 * 86400, zero=True)] = Field(
        default=0, validation_alias="STEP_UP_NEW_PASSKEY_COOLOFF",
        json_schema_extra={"shown_default": "0"},
        description=(
            "how long a newly added passkey waits before it may confirm a step-up vote (`0`: at once; e.g. `1h`,"
            " `1d`, at most 30 days): someone who added one with a stolen Slack session cannot vote with it before"
            " its person, told by direct message, removes it"
        ),
    )
    # receipts (agent_approvals.receipts): who issues them (`iss`); how long one is valid: StoreSettings
    receipt_issuer: Stripped = Field(
        default="", validation_alias="RECEIPT_ISSUER",
        description="the receipts' `iss`: this deployment's name (default `PUBLIC_URL`, else `slack-agent-approvals`)",
    )
    # policies (bot/policy/, docs/operators/policies.md)
    policy_mode: Literal["enforce", "shadow"] = Field(
        default="enforce", validation_alias="POLICY_MODE",
        description="`enforce`, or `shadow`: POLICY_DIR's policies decide nothing, what they would change is audited",
    )
    # seconds a worker holds a webhook it is sending; one that dies leaves it to another worker after this
    webhook_lease_seconds: Annotated[int, whole(1, 600)] = Field(
        default=30, validation_alias="WEBHOOK_LEASE_SECONDS",
        description="how long a worker holds a webhook it is sending; if it dies, another worker sends it after this",
    )
    # App Homes (bot/slack/homes.py): the workspace's views.publish budget, shared by every worker
    # (Slack's Tier 4 allows about 100 a minute), counted over a window of this many seconds; and the
    # Redis connections of each worker's Home work (apart from those of clicks, timeouts and runs)
    home_publishes_per_minute: Annotated[int, whole(1, 10_000)] = Field(
        default=100, validation_alias="HOME_PUBLISHES_PER_MINUTE",
        description=(
            "App Home `views.publish` calls per minute for the whole workspace, all workers together (Slack's "
            "Tier 4); openings are served ahead of it and counted in it"
        ),
    )
    home_budget_window: Annotated[int, whole(1, 3600)] = Field(
        default=60, validation_alias="HOME_BUDGET_WINDOW",
        description=(
            "seconds over which that budget is counted (1 to 3600): at most `HOME_PUBLISHES_PER_MINUTE` × window "
            "/ 60 calls in any such window"
        ),
    )
    home_redis_connections: Annotated[int, whole(4, 256)] = Field(
        default=6, validation_alias="HOME_REDIS_CONNECTIONS",
        description=(
            "Redis connections for each worker's App Home work (4 to 256), apart from those of clicks, timeouts, "
            "reminders and run starts"
        ),
    )

    # several workspaces (docs/operators/workspaces.md): OAuth installs, a static file
    slack_client_id: Stripped | None = Field(default=None, validation_alias="SLACK_CLIENT_ID", description=(
        "with `SLACK_CLIENT_SECRET`: serve Slack's OAuth install, `/slack/install` and `/slack/oauth_redirect`, so"
        " the app can be installed in more workspaces (needs `SLACK_TOKENS_KEY`)"))
    slack_client_secret: Secret | None = Field(default=None, validation_alias="SLACK_CLIENT_SECRET",
                                               description="the app's client secret (OAuth)")
    slack_tokens_key: Secret | None = Field(default=None, validation_alias="SLACK_TOKENS_KEY", description=(
        "32 random bytes, base64: seals (AES-256-GCM) the bot and refresh tokens of OAuth installs kept in Redis"))
    slack_redirect_uri: PublicUrl = Field(default="", validation_alias="SLACK_REDIRECT_URI", description=(
        "the OAuth Redirect URL (`https://…/slack/oauth_redirect`) when the app lists several; else Slack uses"
        " the app's one"))
    slack_workspaces_file: Stripped | None = Field(default=None, validation_alias="SLACK_WORKSPACES_FILE",
                                                   description=(
        "a JSON list of more workspaces and their bot tokens, `[{\"team\": \"T…\", \"enterprise\": \"E…\","
        " \"bot_token\": \"env:VAR\"}]` (a token as `env:VAR` is read from that variable)"))
    _static_workspaces: tuple[StaticWorkspace, ...] = PrivateAttr(default=())

    @field_validator("slack_tokens_key")
    @classmethod
    def _tokens_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            key_from_text(value.get_secret_value())  # ValueError: "must be 32 random bytes in base64 ..."
        return value

    @model_validator(mode="after")
    def _oauth_whole(self) -> Self:
        if (self.slack_client_id is None) != (self.slack_client_secret is None):
            raise ValueError("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together: set both, or neither")
        if self.slack_client_id is not None and self.slack_tokens_key is None:
            raise ValueError("SLACK_TOKENS_KEY is not set: OAuth installs keep their tokens sealed with it")
        lone = (self.oidc_client_id is None) != (self.oidc_client_secret is None)
        if lone or (self.oidc_issuer and self.oidc_client_id is None):
            raise ValueError("OIDC_CLIENT_ID and OIDC_CLIENT_SECRET go together (and OIDC_ISSUER needs both)")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings in `environ` (else `os.environ`), SLACK_WORKSPACES_FILE, TEAMS_FILE read; `SettingsError`."""
        made = super().from_env(environ)
        try:
            if made.slack_workspaces_file:
                made._static_workspaces = read_workspaces_file(
                    made.slack_workspaces_file, os.environ if environ is None else environ)
            made.read_teams_file()  # TEAMS_FILE
        except (WorkspacesFileError, TeamsFileError) as exc:
            raise SettingsError(str(exc)) from None
        return made

    @property
    def static_workspaces(self) -> tuple[StaticWorkspace, ...]:
        """The workspaces of SLACK_WORKSPACES_FILE (read by `from_env`)."""
        return self._static_workspaces

    @property
    def oauth(self) -> bool:
        """Whether Slack's OAuth install is served."""
        return self.slack_client_id is not None
