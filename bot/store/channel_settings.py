"""Per-channel settings (`/agent config`), read as `ChannelSettings` over the worker's defaults."""

from __future__ import annotations

from agents.modes import DEFAULT_MAX_AUTO_REPLIES, parse_mode, risk_words_setting
from bot.records import ChannelSettings
from bot.store.audit import AuditLog
from bot.store.connection import aw
from bot.store.shared import Shared


class ChannelSettingsStore:
    def __init__(self, shared: Shared, audit: AuditLog) -> None:
        self._s = shared
        self._audit = audit

    async def get(self, channel: str, *, default_timeout: int) -> ChannelSettings:
        raw = await aw(self._s.redis.hgetall(self._s.keys.settings(channel)))

        def ids(name: str) -> tuple[str, ...]:
            value = raw.get(name) or ""
            return () if value in ("", "anyone", "none") else tuple(value.split(","))

        deliver = raw.get("deliver")
        return ChannelSettings(
            timeout=int(raw.get("timeout") or default_timeout),
            timeout_outcome=raw.get("timeout_outcome") or "reject",
            approvers=ids("approvers"),
            allow_self_approval=raw.get("allow_self_approval") == "true",
            required_approvals=int(raw.get("required_approvals") or 1),
            approvals_channel=raw.get("approvals_channel") or "",
            admins=ids("admins"),
            mode=parse_mode(raw.get("mode")),
            max_auto_replies=int(raw.get("max_auto_replies") or DEFAULT_MAX_AUTO_REPLIES),
            risk_words=risk_words_setting(raw.get("risk_words")),
            checkpoint_every=int(raw.get("checkpoint_every") or 0),
            timeout_approves_tools=raw.get("timeout_approves_tools") == "true",
            deliver=deliver if deliver in ("dm", "both") else "channel",
            remind=tuple(int(s) for s in (raw.get("remind") or "").split(",") if s.isdigit()),
            escalate_after=int(raw.get("escalate_after") or 0),
            escalate_to=ids("escalate_to"),
        )

    async def set(self, channel: str, key: str, value: str, *, by: str) -> str | None:
        """Change one setting; audited with before and after. Returns the value it had."""
        settings_key = self._s.keys.settings(channel)
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.hget(settings_key, key)
            pipe.hset(settings_key, key, value)
            before, _ = await pipe.execute()
        await self._audit.append(
            "settings_changed", origin_channel=channel, by=by, setting=key, before=before or "", after=value
        )
        return str(before) if before is not None else None
