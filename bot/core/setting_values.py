"""How a process setting's value reads (bot/core/settings.py builds its fields of these): a whole number in a range,
a duration as people type it, true or false, a URL, a secret. Each reader raises ValueError("must be ...") for a bad
value; `from_env` puts the variable's name in front. Nothing here reads the environment."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.core.documents import refusal, refuse
from bot.core.durations import MAX_SECONDS, parse_duration
from bot.core.sealing import HiddenKeyring

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")


def whole(low: int, high: int) -> BeforeValidator:
    """A whole number from `low` to `high` (ASCII or other decimal digits, spaces around ignored)."""

    def read(value: object) -> object:
        raw = value.strip() if isinstance(value, str) else value
        if isinstance(raw, str) and raw.isdecimal():
            raw = int(raw)
        elif isinstance(raw, float) and raw.is_integer():  # a default such as 6.0
            raw = int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return raw

    return BeforeValidator(read)


def duration(max_seconds: int = MAX_SECONDS, *, zero: bool = False) -> BeforeValidator:
    """A duration as people type it (`bot.core.durations`): 90, 90s, 15m, 2h, 1d; with `zero`, also `0` (off).
    Its `DurationError` says which forms are accepted."""

    def read(value: object) -> object:
        return parse_duration(value, max_seconds=max_seconds, zero=zero) if isinstance(value, str) else value

    return BeforeValidator(read)


def one_of(choices: tuple[str, ...], *, upper: bool = False, default: str = "") -> BeforeValidator:
    """One of `choices`, in any case (`upper`: read as upper case, else lower); empty reads as `default`."""

    def read(value: object) -> object:
        if isinstance(value, str):
            value = (value.strip().upper() if upper else value.strip().lower()) or default
            if value not in choices:
                raise ValueError(f"must be one of: {', '.join(choices)}")
        return value

    return BeforeValidator(read)


def ids(value: object) -> object:
    """Comma-separated ids (people, teams) as a tuple, spaces and empty parts dropped."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def flag(value: object) -> object:
    if isinstance(value, str):
        raw = value.strip().lower()
        if raw not in ("", *TRUE, *FALSE):
            raise ValueError("must be true or false")
        return raw in TRUE
    return value


def stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def redis_timeout(value: object) -> float:
    seconds = -1.0
    if isinstance(value, str) and value.strip().isascii():
        try:
            seconds = float(value.strip())
        except ValueError:
            pass
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    if not 0.1 <= seconds <= 60:  # NaN too
        raise ValueError("must be a number of seconds from 0.1 to 60")
    return seconds


def api_url(value: object) -> object:
    """The Web API's base URL, always ending in "/" (slack-sdk joins method names to it)."""
    if isinstance(value, str):
        url = value.strip()
        return url if url.endswith("/") else url + "/"
    return value


def public_url(value: object) -> object:
    """An http(s) URL without a trailing "/" (a program appends `/api/v1/...`); "" for none."""
    if isinstance(value, str):
        url = value.strip().rstrip("/")
        if url and (not url.startswith(("http://", "https://")) or any(c.isspace() for c in url)):
            raise ValueError("must be an http:// or https:// URL, e.g. https://approvals.example.com")
        return url
    return value


def secret(value: object) -> object:
    """A secret read as before: spaces around it are not part of it."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value.strip() if isinstance(value, str) else value


def host(value: object) -> object:
    """An address to listen on: an IP address or a host name ("" for every interface)."""
    if isinstance(value, str):
        given = value.strip()
        if given and not _valid_host(given.removeprefix("[").removesuffix("]")):
            raise ValueError("must be an IP address (0.0.0.0, 127.0.0.1, ::) or a host name")
        return given.removeprefix("[").removesuffix("]")
    return value


def listen_address(value: object) -> object:
    """`host:port` (`[::1]:9464` for IPv6; `:9464` for every interface), read as (host, port); "" for none."""
    if not isinstance(value, str):
        return value
    given = value.strip()
    if not given:
        return None
    where, _, port = given.rpartition(":")
    where = where.removeprefix("[").removesuffix("]")
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535) or (where and not _valid_host(where)):
        raise ValueError("must be host:port, e.g. 127.0.0.1:9464, 10.0.0.5:9464, [::1]:9464 or :9464")
    return (where, int(port))


def _valid_host(given: str) -> bool:
    try:
        ipaddress.ip_address(given)
    except ValueError:
        return bool(_HOST_NAME.fullmatch(given))
    return True


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
Port = Annotated[int, whole(1, 65535)]
Host = Annotated[str, BeforeValidator(host)]
ListenAddress = Annotated[tuple[str, int] | None, BeforeValidator(listen_address)]
Stripped = Annotated[str, BeforeValidator(stripped)]
Secret = Annotated[SecretStr, BeforeValidator(secret)]
Flag = Annotated[bool, BeforeValidator(flag)]
ApiUrl = Annotated[str, BeforeValidator(api_url)]
PublicUrl = Annotated[str, BeforeValidator(public_url)]
RedisTimeout = Annotated[float, BeforeValidator(redis_timeout)]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LogLevel = Annotated[str, one_of(LOG_LEVELS, upper=True)]
LogFormat = Annotated[str, one_of(("text", "json"))]
EVENT_LOOPS = ("auto", "uvloop", "asyncio")
EventLoop = Annotated[str, one_of(EVENT_LOOPS, default=EVENT_LOOPS[0])]
Ids = Annotated[tuple[str, ...], BeforeValidator(ids)]


@dataclass(frozen=True, slots=True)
class SlackbotUpstream:
    """One MCP server whose tools Slackbot may call through `/slack/mcp`, named as the MCP gateway's options name
    them: a `command` (stdio, with `env`) or an `upstream_url` (streamable HTTP); `call_timeout` and
    `start_timeout` in seconds (a call must answer within Slackbot's 60 s)."""

    name: str
    command: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    upstream_url: str = ""
    call_timeout: float = 45.0
    start_timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class SlackbotMcp:
    """SLACKBOT_MCP: the API key whose channel and limits the home workspace's Slackbot asks take (`key`, its name),
    the upstreams, and for each other workspace (a team `T…`, or an Enterprise Grid organisation `E…` for all its
    workspaces) the key its asks take (`workspaces`: a key is bound to its workspace and channel, so it says where
    that workspace's asks go); a workspace named nowhere is refused."""

    key: str
    upstreams: tuple[SlackbotUpstream, ...]
    workspaces: tuple[tuple[str, str], ...] = ()

    def key_for(self, team: str, enterprise: str | None, *, home: bool) -> str | None:
        """The name of the key a call from workspace `team` (of organisation `enterprise`) asks with: `key` for the
        home workspace, else the team's own entry, else its organisation's; None when neither is named."""
        if home:
            return self.key
        named = dict(self.workspaces)
        return named.get(team) or (named.get(enterprise) if enterprise else None)


def slackbot_mcp(value: object) -> object:
    """SLACKBOT_MCP's JSON: {"key": NAME, "upstreams": [{"name", "command" | "upstream_url", "env",
    "call_timeout", "start_timeout"}, ...], "workspaces": {"T…" | "E…": NAME, ...}}; "" for none (no `/slack/mcp`)."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        given = json.loads(value)
    except (ValueError, RecursionError):
        raise ValueError('must be JSON: {"key": NAME, "upstreams": [{"name": ..., "command": [...]}]}') from None
    try:
        read = _SlackbotMcpDocument.model_validate(given)
    except ValidationError as exc:
        raise ValueError(refusal(exc).said) from None
    upstreams = tuple(SlackbotUpstream(up.name, up.command, up.env, up.upstream_url, up.call_timeout,
                                       up.start_timeout) for up in read.upstreams)
    return SlackbotMcp(read.key, upstreams, read.workspaces)


SLACK_WORKSPACE_ID = re.compile(r"[TE][A-Z0-9]{1,31}")
_LOOSE = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)  # (keys it does not name: ignored)


def _upstream_named(given: Any) -> Any:
    if not isinstance(given, dict) or not isinstance(given.get("name"), str) or not given["name"]:
        raise refuse("each upstream must be an object with a \"name\"")
    return given


class _Upstream(BaseModel):
    """One of SLACKBOT_MCP's "upstreams", each refusal naming it."""

    model_config = _LOOSE

    name: str
    command: tuple[str, ...] = ()
    upstream_url: str = Field(default="", validate_default=True)
    env: tuple[tuple[str, str], ...] = ()
    call_timeout: float = 45.0
    start_timeout: float = 30.0

    @model_validator(mode="before")
    @classmethod
    def _named(cls, given: Any) -> Any:
        return _upstream_named(given)

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, command: Any, info: ValidationInfo) -> tuple[str, ...]:
        command = command or []
        if not isinstance(command, list) or not all(isinstance(part, str) for part in command):
            raise refuse(f"upstream {info.data['name']}: \"command\" must be a list of strings, \"upstream_url\" a URL")
        return tuple(command)

    @field_validator("upstream_url", mode="before")
    @classmethod
    def _url(cls, url: Any, info: ValidationInfo) -> str:
        url, name = url or "", info.data["name"]
        if not isinstance(url, str):
            raise refuse(f"upstream {name}: \"command\" must be a list of strings, \"upstream_url\" a URL")
        if "command" in info.data and (bool(info.data["command"]) == bool(url) or (
                url and not url.startswith(("http://", "https://")))):
            raise refuse(f"upstream {name}: give either \"command\" or an http(s) \"upstream_url\"")
        return url

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, env: Any, info: ValidationInfo) -> tuple[tuple[str, str], ...]:
        env = env or {}
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise refuse(f"upstream {info.data['name']}: \"env\" must map names to strings")
        return tuple(sorted(env.items()))

    @field_validator("call_timeout", "start_timeout", mode="before")
    @classmethod
    def _seconds(cls, seconds: Any, info: ValidationInfo) -> float:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= 55:
            raise refuse(f"upstream {info.data['name']}: call_timeout and start_timeout must be seconds from 0 to 55")
        return float(seconds)


class _SlackbotMcpDocument(BaseModel):
    """SLACKBOT_MCP's JSON."""

    model_config = _LOOSE

    key: str
    upstreams: tuple[_Upstream, ...]
    workspaces: tuple[tuple[str, str], ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _keyed(cls, given: Any) -> Any:
        if not isinstance(given, dict) or not isinstance(given.get("key"), str) or not given["key"].strip():
            raise refuse("must name the API key Slackbot asks with: {\"key\": NAME, \"upstreams\": [...]}")
        if not isinstance(given.get("upstreams"), list) or not given["upstreams"]:
            raise refuse("must list at least one upstream MCP server in \"upstreams\"")
        return given

    @field_validator("key")
    @classmethod
    def _stripped(cls, key: str) -> str:
        return key.strip()

    @field_validator("workspaces", mode="before")
    @classmethod
    def _workspaces(cls, given: Any) -> tuple[tuple[str, str], ...]:
        """Each other workspace's (or organisation's) key name."""
        if given is None:
            return ()
        if not isinstance(given, dict) or not all(
                isinstance(k, str) and SLACK_WORKSPACE_ID.fullmatch(k) and isinstance(v, str) and v.strip()
                for k, v in given.items()):
            raise refuse('"workspaces" must map workspace ids (T…, or E… for an organisation) to API key names,'
                         ' e.g. {"T0123ABCD": "slackbot-emea"}')
        return tuple(sorted((k, v.strip()) for k, v in given.items()))


SlackbotMcpSetting = Annotated[SlackbotMcp | None, BeforeValidator(slackbot_mcp)]


def _secrets_key(value: SecretStr | None) -> SecretStr | None:
    if value is not None:
        HiddenKeyring.from_setting(value.get_secret_value())  # ValueError naming what is wrong, never a key
    return value


SecretsKey = Annotated[Secret | None, AfterValidator(_secrets_key), Field(
    validation_alias="SECRETS_KEY",
    description="32 random bytes, base64 (or `kid:KEY,kid:KEY`: the first seals, others open): seals secrets")]
