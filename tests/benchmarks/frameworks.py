"""The framework integrations' cost per approval, against `ApprovalsClient` called directly in the same run.

One worker runs as its own process (Redis, the Approvals API); this process holds the Slack stand-in (which
signs and delivers the clicks, as the tests' `click` does) and the agents. For each of the five integrations
(`agent_approvals.integrations.openai_agents`, `.langgraph`, `.pydantic_ai`, `.agent_framework`, `.autogen`, and the two
harnesses `.claude_agent_sdk` (over a scripted stand-in for the CLI) and `.google_adk`), an agent whose
scripted model (no network) calls `send_email` once, then says it is done; series interleaved, in a rotating
order:

* auto: an "always allow" rule (channel scope, exactly these arguments) approves the call, no card, no person.
  Timed from the scripted model handing the framework its tool call to the tool function running. `gated`:
  with the integration; `ungated`: the same agent, its tool needing no approval (what the framework itself
  costs between the call and the tool). The floor: `client.request_tool(...)` for the same call (answered by
  the rule at once). overhead = gated - ungated; reported with its ratio to the floor.
* click: no rule (other arguments); a person approves the card: the stand-in's signed click on Approve, sent
  once the program's long-poll is held on the worker (its `/healthz` counts them). Timed from the click to the
  tool function running. The floor: `client.request_tool(...)` then `client.wait(id)`, timed from the same
  click to `wait` returning.

No timing is asserted: the figures are printed (JSON) and written with --out.

    python tests/benchmarks/frameworks.py [--auto 200] [--clicks 100] [--out FILE]
    python tests/benchmarks/frameworks.py --small      # CI: 6 auto approvals and 4 clicks per framework
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")  # no trace export from the OpenAI Agents SDK

import aiohttp
from agent_approvals import ApprovalsClient

from bot.core.allow_rules import Rule, exact_match
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from tests.benchmarks.common import (
    Proc,
    interleaved,
    machine_info,
    start_redis,
    stop_redis,
    summary_ms,
    write_json,
)
from tests.conftest import APPROVALS, BOB, BOT_TOKEN, SALES, SIGNING_SECRET, card_of, has_buttons

WARMUP = 3
EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}  # the rule approves exactly this call
CLICKED = {"to": "carol@example.com", "body": "Prices go up 5% on May 1."}  # no rule: a person decides
SCHEMA = {
    "type": "object",
    "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
    "required": ["to", "body"],
    "additionalProperties": False,
}
FRAMEWORKS = ("openai_agents", "langgraph", "pydantic_ai", "agent_framework", "autogen", "claude_agent_sdk",
              "google_adk")


@dataclass
class Timing:
    """When the scripted model handed over the tool call (first time only), and when the tool ran."""

    model: float = 0.0
    tool: float = 0.0
    runs: int = 0

    def called(self) -> None:
        if not self.model:
            self.model = time.perf_counter()

    def ran(self) -> None:
        self.tool = time.perf_counter()
        self.runs += 1


Run = Callable[[ApprovalsClient | None, dict[str, str], Timing], Awaitable[None]]  # client None: ungated


# ------------------------------------------------------------------------------------------------ the agents


async def openai_agents(client: ApprovalsClient | None, email: dict[str, str], timing: Timing) -> None:
    from agent_approvals.integrations.openai_agents import run_with_approvals
    from agents.testing import ScriptedModel, assistant_message, function_call

    from agents import Agent, Runner, function_tool

    class TimedModel(ScriptedModel):
        async def get_response(self, *args: Any, **kwargs: Any) -> Any:
            response = await super().get_response(*args, **kwargs)
            timing.called()
            return response

    @function_tool(needs_approval=client is not None)
    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        timing.ran()
        return f"sent to {to}"

    call_id = f"call-{uuid.uuid4().hex[:8]}"
    model = TimedModel([[function_call("send_email", email, call_id=call_id)], [assistant_message("Done.")]])
    agent = Agent(name="mailer", instructions="Send the email.", tools=[send_email], model=model)
    if client is None:
        await Runner.run(agent, "Tell Bob")
    else:
        await run_with_approvals(agent, "Tell Bob", client=client)


class _State(TypedDict):
    outcome: str


async def langgraph(client: ApprovalsClient | None, email: dict[str, str], timing: Timing) -> None:
    from agent_approvals.integrations.langgraph import invoke_with_approvals, tool_call
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    def send(state: _State) -> dict[str, Any]:
        timing.called()  # (a graph node, not a model: where the call is decided on)
        if client is not None:
            answer = interrupt(tool_call("send_email", email, schema=SCHEMA, agent="mailer"))
            if not answer["approved"]:
                return {"outcome": "not sent"}
        timing.ran()
        return {"outcome": "sent"}

    builder = StateGraph(_State)
    builder.add_node("send", send)
    builder.add_edge(START, "send")
    builder.add_edge("send", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": uuid.uuid4().hex}}
    if client is None:
        await graph.ainvoke({"outcome": ""}, config)
    else:
        await invoke_with_approvals(graph, {"outcome": ""}, config, client=client)


async def pydantic_ai(client: ApprovalsClient | None, email: dict[str, str], timing: Timing) -> None:
    from agent_approvals.integrations.pydantic_ai import run_with_approvals
    from pydantic_ai import Agent, DeferredToolRequests
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    call_id = f"call-{uuid.uuid4().hex[:8]}"

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        for part in getattr(messages[-1], "parts", []):
            if part.part_kind in ("tool-return", "retry-prompt"):
                return ModelResponse(parts=[TextPart("Done.")])
        timing.called()
        return ModelResponse(parts=[ToolCallPart("send_email", dict(email), tool_call_id=call_id)])

    output: Any = [str, DeferredToolRequests] if client is not None else str
    agent: Any = Agent(FunctionModel(model), name="mailer", output_type=output)

    @agent.tool_plain(requires_approval=client is not None)
    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        timing.ran()
        return f"sent to {to}"

    if client is None:
        await agent.run("Tell Bob")
    else:
        await run_with_approvals(agent, "Tell Bob", client=client)


async def agent_framework(client: ApprovalsClient | None, email: dict[str, str], timing: Timing) -> None:
    from collections.abc import Sequence

    from agent_approvals.integrations.agent_framework import run_with_approvals
    from agent_framework import Agent, BaseChatClient, ChatResponse, Content, FunctionInvocationLayer, Message, tool

    call_id = f"call-{uuid.uuid4().hex[:8]}"

    class Scripted(FunctionInvocationLayer, BaseChatClient):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.answers = 0

        async def _answer(self, messages: Sequence[Message]) -> ChatResponse:
            self.answers += 1
            if self.answers == 1:
                timing.called()
                contents = [Content.from_function_call(call_id, "send_email", arguments=dict(email))]
            else:
                contents = [Content.from_text("Done.")]
            return ChatResponse(messages=[Message(role="assistant", contents=contents)])

        def _inner_get_response(self, *, messages: Sequence[Message], stream: bool, options: Any, **kw: Any) -> Any:
            return self._answer(messages)

    @tool(approval_mode="always_require" if client is not None else "never_require")
    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        timing.ran()
        return f"sent to {to}"

    agent: Any = Agent(client=Scripted(), name="mailer", tools=[send_email])
    if client is None:
        await agent.run("Tell Bob")
    else:
        await run_with_approvals(agent, "Tell Bob", client=client)


async def autogen(client: ApprovalsClient | None, email: dict[str, str], timing: Timing) -> None:
    from agent_approvals.integrations.autogen.tools import require_approval
    from autogen_agentchat.agents import AssistantAgent
    from autogen_core import FunctionCall
    from autogen_core.models import CreateResult, RequestUsage
    from autogen_core.tools import FunctionTool
    from autogen_ext.models.replay import ReplayChatCompletionClient

    class TimedReplay(ReplayChatCompletionClient):
        async def create(self, *args: Any, **kwargs: Any) -> CreateResult:
            result = await super().create(*args, **kwargs)
            timing.called()
            return result

    async def send_email(to: str, body: str) -> str:
        timing.ran()
        return f"sent to {to}"

    call = CreateResult(
        finish_reason="function_calls",
        content=[FunctionCall(id=f"call-{uuid.uuid4().hex[:8]}", name="send_email", arguments=json.dumps(email))],
        usage=RequestUsage(prompt_tokens=0, completion_tokens=0),
        cached=False,
    )
    info: Any = {"vision": False, "function_calling": True, "json_output": False, "family": "unknown",
                 "structured_output": False}
    model = TimedReplay([call, "Done."], model_info=info)
    tool: Any = FunctionTool(send_email, description="Send an email to one recipient.")
    if client is not None:
        tool = require_approval(tool, client, agent="mailer")
    agent = AssistantAgent("mailer", model_client=model, tools=[tool])
    await agent.run(task="Tell Bob")
    await model.close()


async def claude_agent_sdk(client: ApprovalsClient | None, email: dict[str, str], timing: Timing) -> None:
    """The SDK's own client over a scripted stand-in for the CLI (its control protocol): `can_use_tool` asks."""
    from agent_approvals.integrations.claude_agent_sdk import can_use_tool
    from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient, PermissionResultAllow, ResultMessage

    from tests.support.claude_cli import ScriptedCLI

    def send_email(to: str, body: str) -> str:
        timing.ran()
        return f"sent to {to}"

    async def allow(name: str, arguments: dict[str, Any], context: Any) -> PermissionResultAllow:
        return PermissionResultAllow()

    callback: Any = allow if client is None else can_use_tool(client)
    cli = ScriptedCLI(calls=[("send_email", dict(email))], tools={"send_email": send_email}, retries=0,
                      on_call=timing.called)
    async with ClaudeSDKClient(ClaudeAgentOptions(can_use_tool=callback), transport=cli) as claude:
        await claude.query("Tell Bob")
        async for message in claude.receive_response():
            if isinstance(message, ResultMessage):
                break


async def google_adk(client: ApprovalsClient | None, email: dict[str, str], timing: Timing) -> None:
    """An `LlmAgent` with a scripted model; gated: `require_confirmation`, `approval_gate`, `run_with_approvals`."""
    from agent_approvals.integrations.google_adk import approval_gate, run_with_approvals
    from google.adk.agents import LlmAgent
    from google.adk.runners import Runner
    from google.adk.sessions import InMemorySessionService
    from google.adk.tools import FunctionTool

    from tests.support.adk_model import ScriptedLlm, text, tool_call, user

    class TimedLlm(ScriptedLlm):
        async def generate_content_async(self, llm_request: Any, stream: bool = False) -> Any:
            async for response in super().generate_content_async(llm_request, stream):
                if response.content is not None and any(p.function_call for p in response.content.parts or []):
                    timing.called()
                yield response

    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        timing.ran()
        return f"sent to {to}"

    model = TimedLlm(model="scripted", script=[tool_call("send_email", dict(email), f"call-{uuid.uuid4().hex[:8]}"),
                                               text("Done.")])
    gated: dict[str, Any] = {} if client is None else {"before_tool_callback": approval_gate(client)}
    agent = LlmAgent(name="mailer", model=model, instruction="Send the email.",
                     tools=[FunctionTool(send_email, require_confirmation=client is not None)], **gated)
    runner = Runner(agent=agent, app_name="bench", session_service=InMemorySessionService())
    session = f"s-{uuid.uuid4().hex[:12]}"
    await runner.session_service.create_session(app_name="bench", user_id="u", session_id=session)
    if client is None:
        async for _ in runner.run_async(user_id="u", session_id=session, new_message=user("Tell Bob")):
            pass
    else:
        await run_with_approvals(runner, user_id="u", session_id=session, new_message=user("Tell Bob"),
                                 client=client)


RUNS: dict[str, Run] = {
    "openai_agents": openai_agents,
    "langgraph": langgraph,
    "pydantic_ai": pydantic_ai,
    "agent_framework": agent_framework,
    "autogen": autogen,
    "claude_agent_sdk": claude_agent_sdk,
    "google_adk": google_adk,
}


# ------------------------------------------------------------------------------------------------ the bench


class Bench:
    def __init__(self, slack: SlackStandIn, worker_url: str, client: ApprovalsClient, http: aiohttp.ClientSession):
        self.slack, self.worker_url, self.client, self.http = slack, worker_url, client, http

    # auto: a rule answers ------------------------------------------------------------------------
    async def auto(self, name: str, *, gated: bool) -> float:
        timing = Timing()
        await RUNS[name](self.client if gated else None, EMAIL, timing)
        assert timing.runs == 1 and timing.model, (name, gated, timing)
        return timing.tool - timing.model

    async def auto_floor(self) -> float:
        """`request_tool`, answered by the rule, and its `use` (a rule's approval is used once, as a person's:
        what `tool_decision` does for it)."""
        started = time.perf_counter()
        asked = await self.client.request_tool("send_email", dict(EMAIL), schema=SCHEMA)
        used = await self.client.use(asked.id)
        took = time.perf_counter() - started
        assert asked.approved and asked.decided_by.startswith("rule ") and used, asked
        return took

    # click: a person approves --------------------------------------------------------------------
    async def _long_polls(self) -> int:
        async with self.http.get(self.worker_url + "/healthz") as response:
            return int((await response.json())["api_long_polls"])

    async def _click_when_held(self, cards_before: int) -> float:
        """Click Approve on the new card once the program waits on it (its long-poll held); when it was sent."""
        deadline = time.monotonic() + 30
        while await self._long_polls() < 1:
            if time.monotonic() > deadline:
                raise RuntimeError("the program's long-poll was not held within 30 s")
            await asyncio.sleep(0.001)
        while True:
            cards = card_of(self.slack)
            if len(cards) > cards_before and has_buttons(cards[-1]):
                card = cards[-1]
                break
            if time.monotonic() > deadline:
                raise RuntimeError("no card within 30 s")
            await asyncio.sleep(0.001)
        started = time.perf_counter()
        result = await self.slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        assert result.status == 200, result.status
        return started

    async def click(self, name: str) -> float:
        timing = Timing()
        cards_before = len(card_of(self.slack))
        running = asyncio.create_task(RUNS[name](self.client, CLICKED, timing))
        try:
            clicked = await self._click_when_held(cards_before)
            await asyncio.wait_for(running, 30)
        finally:
            running.cancel()
        assert timing.runs == 1, (name, timing)
        return timing.tool - clicked

    async def click_floor(self, *, use: bool = False) -> float:
        """click -> `wait` returning; with `use`, -> `use(id)` returning too (what `tool_decision` adds)."""
        cards_before = len(card_of(self.slack))
        asked = await self.client.request_tool("send_email", dict(CLICKED), schema=SCHEMA)
        assert asked.pending, asked
        waiting = asyncio.create_task(self.client.wait(asked.id))
        try:
            clicked = await self._click_when_held(cards_before)
            decided = await asyncio.wait_for(waiting, 30)
            if use:
                assert await self.client.use(decided.id)
            done = time.perf_counter()
        finally:
            waiting.cancel()
        assert decided.approved, decided
        return done - clicked


async def measure(auto_n: int, clicks_n: int) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-frameworks-"))
    redis_server = start_redis()
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    worker: Proc | None = None
    redis = connect(redis_server.url)
    try:
        worker = await Proc.start("worker", {"redis_url": redis_server.url, "api_url": slack.api_url}, log_dir=log_dir)
        slack.events_url = str(worker.info["events_url"])
        store = Store(redis)
        made = await store.api_keys.create("bench", [SALES], by=BOB, max_pending=100_000, per_minute=100_000)
        assert made is not None
        rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", EMAIL),
                    created_by=BOB, created_at=0, expires_at=2e10)
        assert await store.rules.create(rule)
        url = str(worker.info["url"])
        async with ApprovalsClient(url, made.key, title="benchmark", channel=SALES) as client, \
                aiohttp.ClientSession() as http:
            bench = Bench(slack, url, client, http)
            auto_steps: dict[str, Callable[[], Awaitable[float]]] = {"floor": bench.auto_floor}
            for name in FRAMEWORKS:
                auto_steps[f"{name}:gated"] = lambda name=name: bench.auto(name, gated=True)  # type: ignore[misc]
                auto_steps[f"{name}:ungated"] = lambda name=name: bench.auto(name, gated=False)  # type: ignore[misc]
            auto = await interleaved(auto_steps, auto_n, warmup=WARMUP)
            click_steps: dict[str, Callable[[], Awaitable[float]]] = {
                "floor": bench.click_floor, "floor+use": lambda: bench.click_floor(use=True)
            }
            for name in FRAMEWORKS:
                click_steps[name] = lambda name=name: bench.click(name)  # type: ignore[misc]
            clicks = await interleaved(click_steps, clicks_n, warmup=WARMUP)
    finally:
        await redis.aclose()
        if worker is not None:
            await worker.stop()
        await slack.stop()
        stop_redis(redis_server)
    return {
        "benchmark": "frameworks",
        "machine": machine_info(),
        "auto_approvals": auto_n,
        "clicks": clicks_n,
        "auto": auto_report(auto),
        "click": click_report(clicks),
    }


def auto_report(series: dict[str, list[float]]) -> dict[str, Any]:
    floor = summary_ms(series["floor"])
    report: dict[str, Any] = {"floor_request_tool_ms": floor}
    for name in FRAMEWORKS:
        gated, ungated = summary_ms(series[f"{name}:gated"]), summary_ms(series[f"{name}:ungated"])
        overhead = {q: gated[f"{q}_ms"] - ungated[f"{q}_ms"] for q in ("p50", "p90")}
        report[name] = {
            "gated_ms": gated,
            "ungated_ms": ungated,
            "overhead_p50_ms": overhead["p50"],
            "overhead_p90_ms": overhead["p90"],
            "ratio_overhead_to_floor_p50": overhead["p50"] / floor["p50_ms"],
            "ratio_overhead_to_floor_p90": overhead["p90"] / floor["p90_ms"],
        }
    return report


def click_report(series: dict[str, list[float]]) -> dict[str, Any]:
    floor = summary_ms(series["floor"])
    report: dict[str, Any] = {"floor_click_to_wait_ms": floor}
    report["floor_click_to_wait_use_ms"] = summary_ms(series["floor+use"])
    used = report["floor_click_to_wait_use_ms"]
    for name in FRAMEWORKS:
        measured = summary_ms(series[name])
        report[name] = {
            "click_to_tool_ms": measured,
            "ratio_to_floor_p50": measured["p50_ms"] / floor["p50_ms"],
            "ratio_to_floor_p90": measured["p90_ms"] / floor["p90_ms"],
            "ratio_to_floor_use_p50": measured["p50_ms"] / used["p50_ms"],
        }
    return report


def summary_lines(result: dict[str, Any]) -> list[str]:
    auto, click = result["auto"], result["click"]
    floor, click_floor = auto["floor_request_tool_ms"], click["floor_click_to_wait_ms"]
    click_used = click["floor_click_to_wait_use_ms"]
    lines = [
        f"auto (a rule approves), {result['auto_approvals']} per series: floor request_tool "
        f"p50 {floor['p50_ms']:.2f} ms, p90 {floor['p90_ms']:.2f} ms",
        f"click -> tool, {result['clicks']} per series: floor click -> wait "
        f"p50 {click_floor['p50_ms']:.2f} ms, p90 {click_floor['p90_ms']:.2f} ms;"
        f" + use p50 {click_used['p50_ms']:.2f} ms",
        f"{'integration':16} {'gated p50':>10} {'ungated':>8} {'overhead p50/p90':>17} {'x floor':>8}"
        f" {'click p50/p90':>15} {'x floor':>8}",
    ]
    for name in FRAMEWORKS:
        a, c = auto[name], click[name]
        lines.append(
            f"{name:16} {a['gated_ms']['p50_ms']:10.2f} {a['ungated_ms']['p50_ms']:8.2f}"
            f" {a['overhead_p50_ms']:8.2f}/{a['overhead_p90_ms']:<8.2f} {a['ratio_overhead_to_floor_p50']:8.2f}"
            f" {c['click_to_tool_ms']['p50_ms']:7.2f}/{c['click_to_tool_ms']['p90_ms']:<7.2f}"
            f" {c['ratio_to_floor_p50']:8.2f}"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--auto", type=int, default=200, help="rule-approved runs per series (after 3 warm-up)")
    parser.add_argument("--clicks", type=int, default=100, help="clicked runs per series (after 3 warm-up)")
    parser.add_argument("--small", action="store_true", help="CI size: 6 auto approvals and 4 clicks per series")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    auto_n, clicks_n = (6, 4) if args.small else (args.auto, args.clicks)
    result = asyncio.run(measure(auto_n, clicks_n))
    print(json.dumps(result, indent=2))
    print("\n".join(summary_lines(result)))
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
