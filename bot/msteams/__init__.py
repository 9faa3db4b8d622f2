"""Microsoft Teams, a second place to decide (issue 81): the same door, the same rights, the same record.

A surface beside the Slack app: it is told by the approval core's events (bot/approvals/events.py: a card posted,
an approval decided) and decides through the core's one door (`Decisions.decide(person, "teams", verb)`), so
quorum, policies, the freeze, step-up, receipts and the audit are the Slack path's.

    adapter.py    the Teams SDK's HTTP server adapter on the worker's aiohttp server (`POST /teams/messages`): a
                  body that is no activity answered 400, never the SDK's 500
    app.py        `TeamsApp`, the SDK's app on the worker: post, update, personal chats; the conversations it is
                  added to kept (and their people learnt), removed forgotten; only the company's tenant heard
    cards.py      the approval card as an Adaptive Card (1.5, the SDK's card models): the approver's (Approve,
                  Reject, Revise as `Action.Execute`) and the read-only status, a `refresh` for the approvers;
                  untrusted text made inert by `plain`
    field_inputs.py  Revise's inputs on the card, one per argument as Slack's field form has them
                  (bot/core/field_edits.py), within the card's limits (else one JSON text)
    delivery.py   where an approval's cards go in Teams (a channel's route, approvers' personal chats) and every
                  copy kept current from the core's events, retried through its own due set (never held by Slack)
    invokes.py    a click on a card (`adaptiveCard/action`) decided through the core's one door, answered with the
                  clicker's card and what came of it; a Revise's edit (as JSON or one field each) and its Save &
                  approve
    accounts.py   `TeamsAccounts`: Teams members as accounts for `People` (bot/people/), their emails vouched for
                  only for the home tenant's members
    people.py     `TeamsPeople`: who a Teams decider is (the Slack user with their email, else the Teams file's
                  `teams:<object id>`; another tenant, a guest, an unknown person `Refused`), their Teams accounts
                  and names

May import: `bot.core`, `bot.store`, `bot.policy`, `bot.redaction`, `bot.report`, `bot.people` (its
`UserDirectory`: the Slack users a Teams person is matched with by email, Slack's directory as the root gives it)
and `bot.approvals`' public names (tests/test_root.py), never another surface (tests/test_boundaries.py). Built by
the composition root (bot/root.py) when `TEAMS_APP_ID` is set, mounted by the worker's HTTP server
(bot/server.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from bot.approvals import ApprovalService
from bot.core.environment import without_dotenv
from bot.core.metrics import Metrics
from bot.core.settings import Settings, SettingsError
from bot.core.tasks import Background
from bot.store import Store

if TYPE_CHECKING:  # the Teams SDK (the `teams` extra) is imported only by a worker that serves Teams
    from bot.msteams.app import TeamsApp
    from bot.msteams.delivery import TeamsDelivery
    from bot.msteams.invokes import Invokes, StepUp
    from bot.msteams.people import TeamsPeople

EXTRA = "pip install 'slack-agent-approvals[teams]'"  # the Teams SDK for Python (microsoft-teams-apps and -cards)


@dataclass
class Teams:
    """The Teams part of a worker: the SDK's app, its people, where its cards go, its card actions."""

    app: TeamsApp
    people: TeamsPeople
    delivery: TeamsDelivery
    invokes: Invokes

    def mount(self, web_app: web.Application) -> None:
        """Serve `POST /teams/messages` on the worker's server (by the SDK, once `start` registered it)."""
        from bot.msteams.app import MESSAGES

        self.app.adapter.mount(web_app, MESSAGES)

    async def start(self) -> None:
        await self.app.start()


def create_teams(
    settings: Settings, *, store: Store, approvals: ApprovalService, people: TeamsPeople, background: Background,
    step_up: StepUp | None = None, metrics: Metrics | None = None,
) -> Teams | None:
    """The Teams part, wired (None without TEAMS_APP_ID; a `SettingsError` naming the extra when the Teams SDK is not
    installed). `step_up`: what a person whose Approve needs their passkey is told (the step-up page's link, keeping
    the surface `teams` for the vote it confirms); `metrics`: where Teams' refusals and delivery times are counted;
    `people`: the worker's one `TeamsPeople` (built by the root; its Slack directory is the cards' too)."""
    if not settings.teams_app_id:
        return None
    without_dotenv()  # the SDK would read a `.env` file at import: the settings are the environment's alone
    try:
        from bot.msteams.app import TeamsApp
        from bot.msteams.cards import approval_card
        from bot.msteams.delivery import TeamsDelivery
        from bot.msteams.invokes import Invokes
    except ImportError as exc:
        raise SettingsError(f"TEAMS_APP_ID is set but the Teams SDK is not installed ({exc.name}): {EXTRA}") from None
    app = TeamsApp(settings, store=store, people=people)
    pages = settings.step_up_url or settings.public_url

    def details_url(approval_id: str) -> str:
        return f"{pages.rstrip('/')}/approvals/{approval_id}" if pages else ""

    delivery = TeamsDelivery(store=store, app=app, people=people, directory=people.directory, background=background,
                             card=approval_card, routes=settings.teams_listed.routes, metrics=metrics)
    invokes = Invokes(app, approvals=approvals, people=people, draw=approval_card, step_up=step_up,
                      details_url=details_url)
    invokes.register()
    approvals.delivery.elsewhere = delivery.routed  # Slack refusing its token: an approval routed here waits here (#87)
    return Teams(app=app, people=people, delivery=delivery, invokes=invokes)
