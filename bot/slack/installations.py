"""Bolt's installation and OAuth state stores over the bot's Redis (slack_sdk has file, SQLite, SQLAlchemy and S3
ones, none for Redis): `RedisInstallationStore` (an `AsyncInstallationStore`) and `RedisStateStore` (an
`AsyncOAuthStateStore`).

They keep the bot side of an installation (Bolt's `Bot`: one per workspace, or one per Grid organisation when
installed org-wide), its tokens sealed (`bot.core.sealing`, AES-256-GCM under SLACK_TOKENS_KEY, bound to the
installation's id): Redis never holds a token in the clear. The records themselves are written by `bot.store`
(`Installations`), given here as the two small protocols below (this layer does not speak Redis).

Example:
    `store = RedisInstallationStore(services.store.installations, sealer=Sealer.from_text(key))`, then
    `AsyncOAuthSettings(..., installation_store=store, state_store=RedisStateStore(services.store.installations))`.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any, Protocol

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.core.sealing import Sealer, SealError

log = logging.getLogger(__name__)

STATE_SECONDS = 600  # an install has this long between /slack/install and its redirect (Bolt's default)
AS_SAID = ("app_id", "enterprise_id", "enterprise_name", "team_id", "team_name")  # a Bot's fields kept as they are


class InstallationRecords(Protocol):
    """Where installation records live (`bot.store.installations.Installations`)."""

    async def save(self, installation_id: str, record: dict[str, Any]) -> None: ...
    async def find(self, installation_id: str) -> dict[str, Any] | None: ...
    async def delete(self, installation_id: str) -> bool: ...
    async def ids(self) -> list[str]: ...


class StateRecords(Protocol):
    """Where OAuth states live while an install is under way."""

    async def issue_state(self, state: str, *, seconds: int) -> None: ...
    async def consume_state(self, state: str) -> bool: ...


def installation_id(*, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None) -> str:
    """The id an installation is kept under: its organisation's for an org-wide install, else its team's ("" when
    neither is known)."""
    if is_enterprise_install and enterprise_id:
        return enterprise_id
    return team_id or ""


class RedisInstallationStore(AsyncInstallationStore):
    """Bolt's installation store: bot-only (the app asks for no user token), tokens sealed."""

    def __init__(self, records: InstallationRecords, *, sealer: Sealer) -> None:
        self._records = records
        self._sealer = sealer

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        """Keep the bot side of a new installation (replacing the workspace's or organisation's previous one)."""
        await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        key = installation_id(enterprise_id=bot.enterprise_id, team_id=bot.team_id,
                              is_enterprise_install=bot.is_enterprise_install)
        refresh = bot.bot_refresh_token
        record = {
            **{name: getattr(bot, name) for name in AS_SAID},
            "bot_id": bot.bot_id,
            "bot_user_id": bot.bot_user_id,
            "bot_scopes": list(bot.bot_scopes or []),
            "bot_token": self._sealer.seal(bot.bot_token, bound=key),
            "bot_refresh_token": None if refresh is None else self._sealer.seal(refresh, bound=key),
            "bot_token_expires_at": bot.bot_token_expires_at,
            "is_enterprise_install": bool(bot.is_enterprise_install),
            "installed_at": bot.installed_at,
        }
        await self._records.save(key, record)
        log.info("installation %s saved (token sealed)", key)

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        """The bot of a workspace's own installation, else of its organisation's org-wide one."""
        tried = [installation_id(enterprise_id=enterprise_id, team_id=team_id,
                                 is_enterprise_install=is_enterprise_install)]
        if enterprise_id and enterprise_id not in tried:
            tried.append(enterprise_id)
        for key in tried:
            record = await self._records.find(key) if key else None
            if record is not None:
                return self._bot(key, record)
        return None

    def _bot(self, key: str, record: dict[str, Any]) -> Bot | None:
        try:
            token = self._sealer.open(str(record["bot_token"]), bound=key)
            refresh = record.get("bot_refresh_token")
            return Bot(
                **{name: record.get(name) for name in AS_SAID},
                bot_token=token,
                bot_id=str(record.get("bot_id") or ""),
                bot_user_id=str(record.get("bot_user_id") or ""),
                bot_scopes=list(record.get("bot_scopes") or []),
                bot_refresh_token=None if refresh is None else self._sealer.open(str(refresh), bound=key),
                bot_token_expires_at=record.get("bot_token_expires_at"),
                is_enterprise_install=bool(record.get("is_enterprise_install")),
                installed_at=float(record.get("installed_at") or time.time()),
            )
        except (KeyError, TypeError, ValueError, SealError) as exc:  # SealError: another key, or altered
            log.error("installation %s cannot be read (%s): treated as not installed", key, exc)
            return None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        """The installation, as Bolt's token rotation reads it: its bot side (no user token is kept)."""
        bot = await self.async_find_bot(enterprise_id=enterprise_id, team_id=team_id,
                                        is_enterprise_install=is_enterprise_install)
        if bot is None:
            return None
        return Installation(
            app_id=bot.app_id, enterprise_id=bot.enterprise_id, enterprise_name=bot.enterprise_name,
            team_id=bot.team_id, team_name=bot.team_name, bot_token=bot.bot_token, bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id, bot_scopes=bot.bot_scopes, bot_refresh_token=bot.bot_refresh_token,
            bot_token_expires_at=bot.bot_token_expires_at, user_id=user_id or "",
            is_enterprise_install=bot.is_enterprise_install, installed_at=bot.installed_at,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        for key in {team_id or "", enterprise_id or ""} - {""}:
            await self._records.delete(key)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id is None:  # only user tokens would be per person: none are kept
            await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def delete(self, key: str) -> bool:
        """Forget the installation kept under `key` (a team's or an organisation's id); whether there was one."""
        return await self._records.delete(key)

    async def ids(self) -> list[str]:
        """The ids of every installation kept."""
        return await self._records.ids()


class RedisStateStore(AsyncOAuthStateStore):
    """Bolt's OAuth state store: a random state per install, taken once by its redirect within 10 minutes."""

    def __init__(self, records: StateRecords, *, seconds: int = STATE_SECONDS) -> None:
        self._records = records
        self._seconds = seconds

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        await self._records.issue_state(state, seconds=self._seconds)
        return state

    async def async_consume(self, state: str) -> bool:
        return await self._records.consume_state(state)
