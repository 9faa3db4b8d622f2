"""The Approvals API's keys as Redis keeps them (bot/store/api_keys.py; never the key itself, only its hash): `ApiKey`,
what `create` returns (`NewKey`), a key's id and name rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.records import ApprovalRecord

KEY_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
DEFAULT_MAX_PENDING = 100
DEFAULT_PER_MINUTE = 120


def key_id_of(digest: str) -> str:
    """The id of the API key whose sha256 is `digest`."""
    return f"k-{digest[:24]}"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as stored (never the key itself). `id` never changes and is never another key's (it comes from the
    key's hash): approvals, runs, limits and idempotency belong to it, not to the name, which a revoked key
    frees for a new one."""

    name: str
    channels: tuple[str, ...]
    created_by: str
    created_at: float
    webhook_secret: str = field(repr=False)  # opened by the store (kept sealed); "" when none is kept
    max_pending: int = DEFAULT_MAX_PENDING
    per_minute: int = DEFAULT_PER_MINUTE
    id: str = ""
    # the workspace it is bound to (`--team`, the workspace `/agent keys create` was typed in): its channels are
    # that workspace's, its approvals too; "" in a key made before keys carried one: the home workspace's
    team: str = ""
    enterprise: str = ""
    # when it stops working (`keys create --expires`; a key replaced by `keys rotate`: the grace's end); 0: never
    expires_at: float = 0.0
    # the secret it replaced (`keys rotate`), which deliveries are signed with as well until `previous_until`
    webhook_previous: str = field(default="", repr=False)
    previous_until: float = 0.0
    previous: str = ""  # the sha256 of the key it replaced (`keys rotate`), kept until that key's grace ends
    rotated_at: float = 0.0  # when `keys rotate` replaced it by another (its `expires_at`: the grace's end)
    sponsor: str = ""  # the person accountable for the agent using it (`--sponsor`, a Slack user id); "": none named

    def expired(self, now: float) -> bool:
        """Whether the key no longer works at `now` (`expires_at` passed)."""
        return bool(self.expires_at) and now >= self.expires_at

    def webhook_secrets(self, now: float) -> tuple[str, ...]:
        """The secrets a delivery is signed with at `now`: its own, and the one it replaced while the grace lasts."""
        if self.webhook_previous and now < self.previous_until:
            return tuple(s for s in (self.webhook_secret, self.webhook_previous) if s)
        return (self.webhook_secret,) if self.webhook_secret else ()

    def owns(self, approval: ApprovalRecord) -> bool:
        """Whether `approval` was asked with this key (one asked before key ids: by its name, if this key was made
        before it), and is of its workspace (a record without one, written before records carried it, is of the
        home workspace, as is a key without one: the key's id decides)."""
        if not self.same_workspace(approval):
            return False
        if approval.key_id:
            return approval.key_id == self.id
        return bool(approval.asked_by) and approval.asked_by == self.name and self.created_at <= approval.created_at

    def same_workspace(self, approval: ApprovalRecord) -> bool:
        """False when the key and `approval` name two workspaces (either naming none: not told apart here)."""
        if not self.team or not approval.team:
            return True
        return (self.team, self.enterprise) == (approval.team, approval.enterprise)

    def allows(self, channel: str) -> bool:
        return channel in self.channels

    @property
    def default_channel(self) -> str:
        return self.channels[0]

    def to_fields(self) -> dict[str, str]:
        return {
            "name": self.name,
            "channels": ",".join(self.channels),
            "created_by": self.created_by,
            "created_at": repr(self.created_at),
            "max_pending": str(self.max_pending),
            "per_minute": str(self.per_minute),
            "team": self.team,
            "enterprise": self.enterprise,
            "id": self.id,
            **({"expires_at": repr(self.expires_at)} if self.expires_at else {}),
            **({"sponsor": self.sponsor} if self.sponsor else {}),
            **({"previous": self.previous, "previous_until": repr(self.previous_until)} if self.previous else {}),
        }  # (never its webhook secrets: the store keeps them sealed, apart)

    @classmethod
    def from_fields(
        cls, raw: dict[str, str], *, digest: str, webhook_secret: str = "", webhook_previous: str = ""
    ) -> ApiKey | None:
        """The key stored as `raw` under `digest` (the sha256 of the key, which its `id` comes from unless the record
        names one: a key made by `keys rotate` keeps the id of the key it replaced), its webhook secrets opened by
        the store."""
        try:
            return cls(
                id=raw.get("id") or key_id_of(digest),
                name=raw["name"],
                channels=tuple(c for c in raw["channels"].split(",") if c),
                created_by=raw.get("created_by", ""),
                created_at=float(raw.get("created_at") or 0),
                webhook_secret=webhook_secret,
                max_pending=int(raw.get("max_pending") or DEFAULT_MAX_PENDING),
                per_minute=int(raw.get("per_minute") or DEFAULT_PER_MINUTE),
                team=raw.get("team", ""),
                enterprise=raw.get("enterprise", ""),
                expires_at=float(raw.get("expires_at") or 0),
                webhook_previous=webhook_previous,
                previous_until=float(raw.get("previous_until") or 0),
                previous=raw.get("previous", ""),
                rotated_at=float(raw.get("rotated_at") or 0),
                sponsor=raw.get("sponsor", ""),
            )
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class NewKey:
    """What `create` returns: the only time the key and its webhook secret are seen."""

    key: str
    record: ApiKey
