"""The stand-in's vocabulary: the workspace's fixed ids and limits, the public records tests see (users, channels,
recorded calls, delivery results, held calls), the internal records the workspace state is made of, and the mark of
a part's Web API method (`web_api`, collected by `web_api_methods`), and how the stand-in copies its JSON
(`copied`)."""

from __future__ import annotations

import asyncio
import collections
import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, cast

TEAM_ID: Final = "T0DEV"
TEAM_DOMAIN: Final = "dev-workspace"
TEAM_NAME: Final = "Dev Workspace"
APP_ID: Final = "A0DEV"
BOT_USER_ID: Final = "U0BOT"
BOT_ID: Final = "B0BOT"
BOT_NAME: Final = "approvals-bot"
APP_NAME: Final = "Agent Approvals"  # the app's display name (manifest.yml): its Home and DM carry it
VERIFICATION_TOKEN: Final = "deprecated-verification-token"

MAX_MESSAGE_TEXT: Final = 40000
RESPONSE_URL_TTL: Final = 30 * 60.0
RESPONSE_URL_USES: Final = 5
VIEW_STACK_LIMIT: Final = 3
DELIVERY_TIMEOUT: Final = 30.0

ApiMethod = Callable[[dict[str, Any]], dict[str, Any]]  # a Web API method: its arguments -> the answer's fields
_M = TypeVar("_M", bound=Callable[..., dict[str, Any]])
_J = TypeVar("_J")
_SCALARS = (str, int, float, bool, type(None))


def copied(value: _J) -> _J:
    """A deep copy of `value`, the stand-in's JSON (dicts, lists, scalars; anything else through `copy.deepcopy`):
    as `copy.deepcopy` makes it, at a fraction of the CPU. The stand-in copies each message, view and call it keeps
    or shows, thousands in a test, and `copy.deepcopy` keeps a memo of every object (an `id()` each, an audit event
    each where tests/support/slow.py watches)."""
    kind = type(value)
    if kind is dict:
        return cast(_J, {key: copied(item) for key, item in cast(dict[Any, Any], value).items()})
    if kind is list:
        return cast(_J, [copied(item) for item in cast(list[Any], value)])
    return value if isinstance(value, _SCALARS) else copy.deepcopy(value)
_WEB_API: Final = "_web_api_method"  # the attribute `web_api` marks a method with


def web_api(name: str) -> Callable[[_M], _M]:
    """Marks a part's method as the Web API method ``name`` (``@web_api("chat.postMessage")``): the parts' methods
    are collected by `web_api_methods`, one name each, the way the server answers ``/api/{name}``."""

    def mark(method: _M) -> _M:
        setattr(method, _WEB_API, name)
        return method

    return mark


def web_api_methods(*parts: object) -> dict[str, ApiMethod]:
    """The Web API methods ``parts`` answer, by name: each of their methods marked with `web_api`, bound."""
    return {
        getattr(method, _WEB_API): getattr(part, attr)
        for part in parts
        for attr, method in vars(type(part)).items()
        if hasattr(method, _WEB_API)
    }


# --------------------------------------------------------------------------------------------------- public records


@dataclass(frozen=True)
class DevUser:
    id: str
    name: str
    real_name: str
    is_admin: bool = False
    deleted: bool = False  # deactivated: still in the workspace's list, `deleted` in users.info
    team_id: str = TEAM_ID  # another team's: a Slack Connect partner in a shared channel
    guest: bool = False  # a restricted account (`is_restricted` in users.info)

    @property
    def email(self) -> str:
        """Their email in the workspace (`users.lookupByEmail`): name@example.com."""
        return f"{self.name}@example.com"


@dataclass(frozen=True)
class DevChannel:
    id: str
    name: str
    is_private: bool = False
    shared: bool = False  # shared with another organization (Slack Connect): `is_ext_shared` in conversations.info
    team_id: str = TEAM_ID  # the workspace it belongs to
    bot_member: bool = True  # the bot is in it: `is_member` in conversations.info


@dataclass(frozen=True)
class RecordedCall:
    method: str
    args: dict[str, Any]
    at: float
    ok: bool
    team: str | None = None  # the workspace the call was made for (None: no token, or an org token's unnamed team)


@dataclass(frozen=True)
class DeliveryResult:
    """The bot's HTTP answer to a delivered command or interaction."""

    status: int
    body: str
    json: Any | None
    elapsed: float = 0.0  # seconds the bot took to answer (Slack gives up after 3 s)
    retry_after: str = ""  # the answer's Retry-After header, when it has one


@dataclass
class HeldCall:
    """A Web API call held by :meth:`SlackStandIn.hold`: ``arrived`` is set when it came in (its arguments are
    then in ``args``); it is answered once :meth:`release` is called."""

    method: str
    when: Callable[[dict[str, Any]], bool] | None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    args: dict[str, Any] | None = None

    def release(self) -> None:
        self.released.set()


def default_users() -> tuple[DevUser, ...]:
    return (
        DevUser(id="U0ALICE", name="alice", real_name="Alice Example"),
        DevUser(id="U0BOB", name="bob", real_name="Bob Example"),
        DevUser(id="U0CAROL", name="carol", real_name="Carol Example"),
    )


def default_channels() -> tuple[DevChannel, ...]:
    return (
        DevChannel(id="C0GENERAL", name="general"),
        DevChannel(id="C0RANDOM", name="random"),
        DevChannel(id="C0APPROVALS", name="approvals"),
        DevChannel(id="C0SALES", name="sales"),
    )


def default_usergroups() -> dict[str, list[str]]:
    """The workspace's user groups: those the docs' examples name (the Policies page's `S0FINANCE`, `S0ONCALL`)."""
    return {"S0APPROVERS": ["U0ALICE", "U0BOB"], "S0FINANCE": ["U0BOB", "U0CAROL"], "S0ONCALL": ["U0CAROL"]}


@dataclass(frozen=True)
class DevTeam:
    """A workspace the stand-in serves; ``enterprise_id``: its Enterprise Grid organisation (None: a plain one).
    The app's bot user has its own ids in each workspace."""

    id: str
    name: str
    domain: str
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    bot_user_id: str = BOT_USER_ID
    bot_id: str = BOT_ID


@dataclass
class Grant:
    """A bot token Slack issued: for one workspace (``team``), or org-wide (``team`` None, ``enterprise``: valid in
    every workspace of the organisation). With token rotation, it ends at ``expires_at`` (epoch seconds) and
    ``refresh_token`` gives the next one."""

    token: str
    team: str | None
    enterprise: str | None = None
    expires_at: float | None = None
    refresh_token: str | None = None
    revoked: bool = False

    @property
    def key(self) -> str:
        """The installation it belongs to: the organisation's id for an org-wide token, else the team's."""
        return self.team or self.enterprise or ""


def default_team() -> DevTeam:
    return DevTeam(id=TEAM_ID, name=TEAM_NAME, domain=TEAM_DOMAIN)


# ------------------------------------------------------------------------------------- several workspaces (preset)

OTHER_TEAM: Final = "T0OTHER"  # a second plain workspace
GRID: Final = "E0GRID"  # an Enterprise Grid organisation, with two workspaces:
GRID_A: Final = "T0GRIDA"
GRID_B: Final = "T0GRIDB"
OTHER_TOKEN: Final = "xoxb-other-workspace"
GRID_TOKEN: Final = "xoxb-grid-organisation"  # org-wide: valid in both of its workspaces


def several_teams() -> tuple[DevTeam, ...]:
    """Besides the default one: a second plain workspace and a Grid organisation's two workspaces."""
    grid = {"enterprise_id": GRID, "enterprise_name": "Grid Org"}
    return (
        DevTeam(id=OTHER_TEAM, name="Other Workspace", domain="other-workspace", bot_user_id="U1BOT", bot_id="B1BOT"),
        DevTeam(id=GRID_A, name="Grid A", domain="grid-a", bot_user_id="U2BOT", bot_id="B2BOT", **grid),
        DevTeam(id=GRID_B, name="Grid B", domain="grid-b", bot_user_id="U2BOT", bot_id="B2BOT", **grid),
    )


def several_users() -> tuple[DevUser, ...]:
    """Their people (Grid people have ``W`` ids, unique across the organisation)."""
    return (
        DevUser(id="U1DAN", name="dan", real_name="Dan Other", team_id=OTHER_TEAM),
        DevUser(id="U1ERIN", name="erin", real_name="Erin Other", team_id=OTHER_TEAM),
        DevUser(id="W0GINA", name="gina", real_name="Gina Grid", team_id=GRID_A),
        DevUser(id="W0HANK", name="hank", real_name="Hank Grid", team_id=GRID_B),
    )


def several_channels() -> tuple[DevChannel, ...]:
    return (
        DevChannel(id="C1GENERAL", name="other-general", team_id=OTHER_TEAM),
        DevChannel(id="C1APPROVALS", name="other-approvals", team_id=OTHER_TEAM),
        DevChannel(id="C2APPROVALS", name="grid-a-approvals", team_id=GRID_A),
        DevChannel(id="C3OPS", name="grid-b-ops", team_id=GRID_B),
    )


def several_usergroups() -> dict[str, tuple[str, list[str]]]:
    """Their user groups: id -> (the workspace, members); a Grid group may hold people of both its workspaces."""
    return {"S1APPROVERS": (OTHER_TEAM, ["U1DAN"]), "S2APPROVERS": (GRID_A, ["W0GINA", "W0HANK"]),
            "S3REVIEWERS": (GRID_B, ["W0GINA"])}


# --------------------------------------------------------------------------------------------------- internal records


class ApiError(Exception):
    """A Web API refusal: answered as ``{"ok": false, "error": error, **extra}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    user: str = BOT_USER_ID
    bot_id: str | None = BOT_ID
    attachments: list[Any] | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    metadata: Any | None = None
    edited: bool = False
    edit_count: int = 0
    edited_ts: str | None = None


@dataclass
class Ephemeral:
    channel: str
    user: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None


@dataclass
class Trigger:
    id: str
    user: str
    issued: float
    used: bool = False


@dataclass
class ResponseUrl:
    id: str
    user: str
    channel: str
    issued: float
    source_ts: str | None = None  # message the interaction came from (None for slash commands)
    source_ephemeral: bool = False
    thread_ts: str | None = None
    uses: int = 0


@dataclass
class View:
    """A modal on a user's stack, or a user's published App Home (``view["type"] == "home"``)."""

    id: str
    user: str
    view: dict[str, Any]
    hash: str
    root_id: str
    previous_id: str | None = None
    errors: dict[str, str] | None = None
    open: bool = True


@dataclass
class Upload:
    id: str
    filename: str
    length: int
    content: bytes | None = None


@dataclass
class OAuthCode:
    """A code the authorize page gave (``oauth.v2.access`` trades it once for a token): for a workspace or, with
    ``org``, for its whole organisation."""

    code: str
    team: str
    org: bool
    user: str
    redirect_uri: str | None
    issued: float
    used: bool = False


@dataclass
class Fault:
    status: int
    error: str
    remaining: int
    retry_after: int


@dataclass
class RateLimit:
    """A rate limit on one Web API method, as Slack enforces its tiers: at most ``calls`` answered calls in any
    ``per`` seconds; the next gets HTTP 429 ``ratelimited`` with ``Retry-After`` (whole seconds until a call
    leaves the window). Refused calls do not count."""

    calls: int
    per: float
    answered: collections.deque[float] = field(default_factory=collections.deque)  # monotonic times, in the window

    def admit(self, now: float) -> int:
        """0 when a call at ``now`` is within the limit (and counts it), else the seconds to wait (>= 1)."""
        while self.answered and self.answered[0] <= now - self.per:
            self.answered.popleft()
        if len(self.answered) < self.calls:
            self.answered.append(now)
            return 0
        return max(1, math.ceil(self.answered[0] + self.per - now))
