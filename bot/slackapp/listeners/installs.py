"""Slack's word that the app left a workspace: `app_uninstalled` (someone removed it) and `tokens_revoked` (its bot
token was revoked). The installation is forgotten (`Workspaces.uninstalled`: no call is made there any more, the
hooks, such as withdrawing its pending approvals, are told), and it is audited, by Slack. The home workspace's
token is the operator's (SLACK_BOT_TOKEN): its uninstall is audited and `/healthz` says the token is refused."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.services import Services
from bot.slack.workspaces import Workspaces
from bot.slackapp.context import parts_of

log = logging.getLogger(__name__)


def register(app: AsyncApp, workspaces: Workspaces) -> None:
    async def handle_uninstall(body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext) -> None:
        services = parts_of(context)
        await handle_installation_gone(services, workspaces, body=body, event=event)

    app.event("app_uninstalled")(handle_uninstall)
    app.event("tokens_revoked")(handle_uninstall)


async def handle_installation_gone(
    services: Services, workspaces: Workspaces, *, body: dict[str, Any], event: dict[str, Any]
) -> None:
    """Forget the installation the event is about and audit it (once: the second event finds nothing to forget)."""
    org = bool(body.get("is_enterprise_install")) or any(
        a.get("is_enterprise_install") for a in body.get("authorizations") or [] if isinstance(a, dict))
    enterprise = str(body.get("enterprise_id") or "") or None
    team = None if org else str(body.get("team_id") or "") or None
    kind = str(event.get("type") or "")
    tokens = event.get("tokens")
    if kind == "tokens_revoked" and not (isinstance(tokens, dict) and tokens.get("bot")):
        return  # only people's tokens: the app has none
    ref = await workspaces.uninstalled(enterprise_id=enterprise, team_id=team, is_enterprise_install=org)
    where = (enterprise if org else team) or "?"
    if ref is None:
        log.info("%s for %s: no installation of ours was kept there", kind, where[:40])
        if kind == "app_uninstalled":
            await services.store.audit.append("uninstalled", by="slack", team=where[:40], reason=kind)
        return
    log.warning("uninstalled from %s (%s): its calls stop", where, kind)
    await services.store.audit.append("uninstalled", by="slack", team=where[:40], reason=kind)
