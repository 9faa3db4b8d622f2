"""The floor bots of feedback_floor.py, served by a `procs.py worker` process beside its real worker, on its event
loop, with its Slack client: what any bot must do between a reviewer's feedback and the next card, without the
agent's turn (`FloorBot`) and with it (`AgentFloorBot`); and the same agent floor as a Slack developer builds a bot,
with Bolt, in a process of its own (`BoltFloorBot`, served by `procs.py floor_bot`)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from agent_approvals.approver import ApprovalRequest, Decision
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from yarl import query_to_pairs

from tests.benchmarks.common import TASK
from tests.conftest import BOT_TOKEN, SIGNING_SECRET


def feedback_of(body: bytes) -> str:
    """The reviewer's feedback in a Revise modal's `view_submission` (form-encoded, as Slack posts it; decoded as
    fast as the worker's gate does it)."""
    return feedback_in(json.loads(dict(query_to_pairs(body.decode()))["payload"])["view"])


def feedback_in(view: dict[str, Any]) -> str:
    """The feedback typed in a submitted Revise modal."""
    return str(view["state"]["values"]["feedback"]["feedback_input"]["value"])


class FloorBot:
    """The least any bot can do between a reviewer's feedback and the next card: receive the signed
    `view_submission`, verify its signature as Bolt does (`slack_sdk.signature`), read the feedback, post a card
    (the `blocks` given to `POST /card`) with the worker's own Slack client (its session, its retries), answer 200."""

    def __init__(self, slack: AsyncWebClient, channel: str) -> None:
        self.slack = slack
        self.channel = channel
        self.verifier = SignatureVerifier(SIGNING_SECRET)
        self.blocks: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/slack/events", self.handle)
        app.router.add_post("/card", self.card)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.verifier.is_valid_request(body, dict(request.headers)):
            return web.Response(status=401)
        await self.slack.chat_postMessage(channel=self.channel, text=feedback_of(body), blocks=self.blocks)
        return web.Response()

    async def card(self, request: web.Request) -> web.Response:
        self.blocks = list((await request.json())["blocks"])
        return web.json_response({"ok": True})


class AgentFloorBot(FloorBot):
    """The floor with the agent's turn: what any bot hosting the run's AutoGen team must do between a reviewer's
    feedback and the next card. The same team (`build_team`, the writer preset, its own replay model), its human's
    turn an approver that posts the card of the latest draft and waits for the next feedback; a submission,
    verified and read, answers that wait. No checkpoint, no Redis, no decision record: nothing the plane adds."""

    def __init__(self, slack: AsyncWebClient, channel: str) -> None:
        super().__init__(slack, channel)
        self.feedback: asyncio.Future[str] | None = None
        self.task: asyncio.Task[Any] | None = None

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_post("/start", self.start)
        return app

    async def start(self, request: web.Request) -> web.Response:
        """Start the team with the model `config` (a component config; the first draft's card is posted, then the
        team waits)."""
        from agent_approvals.integrations.autogen import make_input_func

        from bot.runs.models import load_model_client
        from bot.runs.teams import WRITER, build_team

        config = dict((await request.json())["config"])
        team = build_team(WRITER, model_client=load_model_client(config), input_func=make_input_func(self))
        self.task = asyncio.create_task(team.run(task=TASK))
        return web.json_response({"ok": True})

    async def request(self, request: ApprovalRequest, cancellation_token: Any) -> Decision:
        """The human's turn: the card, then the next feedback (every answer a revision)."""
        self.feedback = asyncio.get_running_loop().create_future()
        await self.slack.chat_postMessage(channel=self.channel, text=request.proposal[:3000], blocks=self.blocks)
        return Decision(request.approval_id, "revised", decided_by="floor", feedback=await self.feedback)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.verifier.is_valid_request(body, dict(request.headers)):
            return web.Response(status=401)
        if self.feedback is not None and not self.feedback.done():
            self.feedback.set_result(feedback_of(body))
        return web.Response()


class BoltFloorBot(AgentFloorBot):
    """The floor bot as a Slack developer builds one, in a process of its own (`procs.py floor_bot`): the agent
    floor's team and card behind slack-bolt's `AsyncApp` (Slack's own samples' shape: Bolt's aiohttp server, the
    request's signature verified by Bolt, a `view` listener that acks, then answers the human's turn), with its own
    Slack client (`AsyncWebClient` at the stand-in). Still nothing the plane adds: no Redis, no checkpoint, no
    decision record, no audit."""

    def __init__(self, slack: AsyncWebClient, channel: str) -> None:
        super().__init__(slack, channel)
        self.bolt = AsyncApp(client=slack, token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
        self.bolt.view("approval_revise_modal")(self.revised)

    def app(self) -> web.Application:
        app = self.bolt.web_app(path="/slack/events")  # Bolt's own aiohttp server (`AsyncApp.start` serves it)
        app.router.add_post("/card", self.card)
        app.router.add_post("/start", self.start)
        app.router.add_get("/cpu", self.cpu)
        return app

    async def cpu(self, request: web.Request) -> web.Response:
        """This process's CPU seconds so far."""
        return web.json_response(time.process_time())

    async def revised(self, ack: Any, view: dict[str, Any]) -> None:
        await ack()
        if self.feedback is not None and not self.feedback.done():
            self.feedback.set_result(feedback_in(view))
