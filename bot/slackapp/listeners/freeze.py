"""`/agent freeze <scope> [reason]` and `/agent unfreeze <scope>` (bot/store/freezes.py): for admins only (ADMIN_USERS
everywhere; a channel's named admins for that channel's scope), others refused naming who can, audited. An unfreeze
needs a second admin (four eyes: the first asks, another confirms; the same admin again is refused)."""

from __future__ import annotations

from bot.approvals.refusals import WHO_NAMES_ADMINS
from bot.approvals.rights import is_admin
from bot.services import Services
from bot.slack.blocks import people_refs, user_ref
from bot.slack.blocks.freeze import clock, scope_text, scope_typed
from bot.store import Frozen
from bot.store.freezes import UNFREEZE_ASK_SECONDS, frozen_scope


async def freeze_command(services: Services, scope: str, reason: str, *, user: str, channel: str) -> str:
    """`/agent freeze`: the scope frozen (audited `frozen`), or refused (audited)."""
    refused = await _refusal(services, scope, user=user, channel=channel, action="freeze")
    if refused:
        return refused
    reason = services.approvals.chain.hiding.text(reason)  # (free text: the one door, bot/redaction/hiding.py)
    froze = await services.store.freezes.freeze(scope, reason=reason, by=user)
    held = froze.held
    drilled = (f"A freeze drill holds {scope_text(scope)} until {clock(held.until)}"
               if held is not None and held.drill else "")
    if froze.status == "already":
        if drilled and held is not None and held.stands:
            return (f"{scope_text(scope)} is frozen already: {drilled}, and a freeze by {user_ref(held.by)} stands"
                    " after it. Nothing changed.")
        return f"{scope_text(scope)} is frozen already. Nothing changed (`/agent status` says why and who)."
    await services.store.audit.append("frozen", by=user, origin_channel=channel, scope=scope, reason=reason,
                                      **({"during_drill": held.drill} if held is not None else {}))
    await services.homes.mark_due(services.settings.admin_users)  # their Homes say it
    if froze.status == "stands":
        return (f"{drilled}; your freeze is recorded and will stand after the drill: every new ask in it is refused"
                f" until two admins unfreeze it (`/agent unfreeze {scope_typed(scope)}`, then a second admin"
                " confirms) or an operator runs `python -m bot unfreeze`.")
    await redraw_cards(services, scope)
    return (f"Frozen: {scope_text(scope)}. Every new ask in it is refused at once, with your reason; its pending"
            " approvals cannot be approved (Reject still works) until two admins unfreeze it"
            f" (`/agent unfreeze {scope_typed(scope)}`, then a second admin confirms) or an operator runs"
            " `python -m bot unfreeze`.")


async def unfreeze_command(services: Services, scope: str, *, user: str, channel: str) -> str:
    """`/agent unfreeze`: asked (a second admin must confirm), confirmed (unfrozen), or refused; each audited."""
    refused = await _refusal(services, scope, user=user, channel=channel, action="unfreeze")
    if refused:
        return refused
    status, asked_by = await services.store.freezes.unfreeze(scope, by=user)
    if status == "not_frozen":
        return f"{scope_text(scope)} is not frozen. Nothing changed."
    if status == "same":
        await services.store.audit.append("refused", by=user, origin_channel=channel, scope=scope,
                                          action="unfreeze", reason="four eyes: the same admin confirmed")
        return (f"You asked to unfreeze {scope_text(scope)} already: a second admin must confirm it (four eyes)."
                " Nothing changed.")
    if status == "asked":
        await services.store.audit.append("unfreeze_asked", by=user, origin_channel=channel, scope=scope)
        minutes = UNFREEZE_ASK_SECONDS // 60
        return (f"Asked to unfreeze {scope_text(scope)}: another admin must confirm with"
                f" `/agent unfreeze {scope_typed(scope)}` within {minutes} minutes (four eyes). Still frozen.")
    await services.store.audit.append("unfrozen", by=user, origin_channel=channel, scope=scope, asked_by=asked_by)
    await services.homes.mark_due(services.settings.admin_users)
    await redraw_cards(services, scope)
    return f"Unfrozen: {scope_text(scope)} (asked by {user_ref(asked_by)}, confirmed by you). Asks are decided again."


async def _refusal(services: Services, scope: str, *, user: str, channel: str, action: str) -> str:
    """'' when `user` may (un)freeze `scope`; else what they are told, the refusal audited naming them."""
    admins = services.settings.admin_users
    if user in admins:
        return ""
    if scope.startswith("channel:"):
        target = scope.split(":", 1)[1]
        current = await services.approvals.channel_settings(target)
        if is_admin(user, current, admins):
            return ""
        who = sorted(set(current.admins) | set(admins))
    else:
        who = sorted(admins)
    await services.store.audit.append("refused", by=user, origin_channel=channel, scope=scope, action=action,
                                      reason="needs an admin")
    if not who:
        return (f"Only an admin may {action} {scope_text(scope)}, and none is named ({WHO_NAMES_ADMINS})."
                " Nothing changed.")
    return f"Only {people_refs(who)} may {action} {scope_text(scope)}. Nothing changed."


async def redraw_cards(services: Services, scope: str) -> None:
    """Redraw the cards of the pending approvals in `scope`: frozen, they say Approve is refused; unfrozen, no more."""
    held = {scope: Frozen(scope, "", "", 0.0)}
    approvals = await services.store.approvals.get_many(await services.store.approvals.waiting_ids())
    for approval in approvals:
        if approval.pending and frozen_scope(held, channel=approval.origin_channel, key=approval.asked_by,
                                             agent=approval.agent) is not None:
            services.cards.schedule(approval)
