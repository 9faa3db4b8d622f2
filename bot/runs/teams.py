"""Team presets. Each preset builds a fresh AutoGen team around our human (the user proxy).

The human's verdicts end the run: only messages *from the human* count, so an assistant that
writes "reply APPROVE to send" cannot end it.

Every preset is built by `build_team(preset, ...)` from what is passed in and nothing else (no
process state), so a worker can rebuild a run's team from its preset and `load_state` it.

| preset | agents | the human decides |
| --- | --- | --- |
| `writer` | assistant, human | every draft |
| `plan` | planner, plan_reviewer, executor, human (selector) | the plan, then the result |
| `research` | researcher, writer, human (round robin) | the written result |
| `email` | drafter (with `send_email`, approval required), human | each send, then the outcome |
| `code` | coder, executor (`CodeExecutorAgent`), human | each piece of code, then its output |
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from agent_approvals.approver import Approver
from agent_approvals.integrations.autogen.code import code_approval_func, local_executor_class
from agent_approvals.integrations.autogen.input_func import ApprovalUserProxy, AsyncInputFunc
from agent_approvals.integrations.autogen.tools import require_approval
from agent_approvals.modes import CONTINUE
from autogen_agentchat.agents import AssistantAgent, CodeExecutorAgent
from autogen_agentchat.base import TerminatedException, TerminationCondition
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, StopMessage
from autogen_agentchat.teams import BaseGroupChat, RoundRobinGroupChat, SelectorGroupChat
from autogen_core.models import ChatCompletionClient

from bot.runs.email_tool import SendEmailTool

HUMAN = "human"
PLAN_REVIEWER = "plan_reviewer"
HUMANS = (HUMAN, PLAN_REVIEWER)
ASSISTANT = "assistant"
PLANNER = "planner"
EXECUTOR = "executor"
RESEARCHER = "researcher"
WRITER = "writer"
DRAFTER = "drafter"
CODER = "coder"
DEFAULT_MAX_MESSAGES = 200
CODE_DISABLED = (
    "The `code` team runs the agents' code on the bot's host, so it is off here;"
    " an operator can turn it on with ENABLE_CODE_EXECUTION=true."
)

_DONE = " When nothing is left to do or change, end your reply with TERMINATE."
WRITER_SYSTEM_MESSAGE = (
    "You are a careful assistant. Draft what the user asks for. A human reviews every draft: "
    "when they give feedback, produce a complete revised draft that applies it. Reply with the draft only." + _DONE
)
PLANNER_SYSTEM_MESSAGE = (
    "Role: planner. Plan the task as a short numbered list of concrete steps. A human approves the plan before "
    "anything is done; when they give feedback, reply with a complete revised plan. Reply with the plan only."
)
EXECUTOR_SYSTEM_MESSAGE = (
    "Role: executor. A human approved the plan above. Carry it out step by step: report what each step produced, "
    "then the final result. When the human gives feedback on the result, apply it." + _DONE
)
RESEARCHER_SYSTEM_MESSAGE = (
    "Role: researcher. Collect the facts, figures, audience and open questions a writer needs for the task, as "
    "short bullet notes. You cannot browse: say what must be checked. Reply with the notes only."
)
RESEARCH_WRITER_SYSTEM_MESSAGE = (
    "Role: writer. Write what the task asks for from the researcher's notes. A human reviews it: apply their "
    "feedback in a complete new version. Reply with the text only." + _DONE
)
EMAIL_SYSTEM_MESSAGE = (
    "Role: drafter. You write emails and send them with the send_email tool; a human approves every call first. "
    "Draft the email from the task and call send_email with the recipient, subject and body. If a call is "
    "rejected or a revision is requested, do not call it again until the human says what to change; then call it "
    "with the revised email. After a successful send, confirm it in one sentence." + _DONE
)
CODER_SYSTEM_MESSAGE = (
    "Role: coder. Write Python that does the task, in one ```python block that prints its results. A human "
    "approves the code before it runs on the bot's host, with a time limit; its output comes back to you. No "
    "network access, no deleting or changing files outside the working directory." + _DONE
)


class HumanVerdictTermination(TerminationCondition):
    """Stops when a message from one of `sources` starts with one of `verdicts` (APPROVE or REJECT)."""

    def __init__(self, sources: Sequence[str], verdicts: Sequence[str] = ("APPROVE", "REJECT")) -> None:
        self._sources = set(sources)
        self._verdicts = tuple(verdicts)
        self._terminated = False

    @property
    def terminated(self) -> bool:
        return self._terminated

    async def __call__(self, messages: Sequence[BaseAgentEvent | BaseChatMessage]) -> StopMessage | None:
        if self._terminated:
            raise TerminatedException("Termination condition has already been reached")
        for message in messages:
            if not isinstance(message, BaseChatMessage) or message.source not in self._sources:
                continue
            verdict = verdict_of(message.to_text())
            if verdict in self._verdicts:
                self._terminated = True
                return StopMessage(content=f"{message.source} said {verdict}", source="HumanVerdictTermination")
        return None

    async def reset(self) -> None:
        self._terminated = False


def verdict_of(text: str) -> str:
    """The first word of a human's reply without a trailing colon ("APPROVE", "REJECT", ...)."""
    words = text.split(maxsplit=1)
    return words[0].rstrip(":") if words else ""


def goes_on(text: str) -> bool:
    """Whether a human's reply lets the current stage go ahead (APPROVE, or an automatic "continue")."""
    return verdict_of(text) == "APPROVE" or text.strip().lower() == CONTINUE


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    description: str


PRESETS: dict[str, Preset] = {
    "writer": Preset("writer", "an assistant drafts; a human approves, rejects or revises every draft"),
    "plan": Preset("plan", "a planner proposes steps; a human approves the plan; an executor does it; a human checks"),
    "research": Preset("research", "a researcher takes notes, a writer drafts from them, a human approves"),
    "email": Preset("email", "a drafter writes an email and calls send_email, which runs only when approved"),
    "code": Preset("code", "a coder writes Python; a human approves the code before it runs on the bot's host"),
}
DEFAULT_PRESET = "writer"


@dataclass(frozen=True, slots=True)
class TeamOptions:
    """What presets need from the operator: where the demo email tool writes, and code execution.

    Attributes:
        outbox_dir: the `email` preset's `send_email` writes one `.eml` file per email here.
        code_execution: whether the `code` preset may run (it runs code on this host).
        code_work_dir: the `code` preset's working directory (`for_run` gives each run its own).
        code_timeout: seconds one execution may take.
        max_messages: a safety cap on the messages of one run.
    """

    outbox_dir: str = "outbox"
    code_execution: bool = False
    code_work_dir: str = "code-runs"
    code_timeout: int = 60
    max_messages: int = DEFAULT_MAX_MESSAGES

    def for_run(self, run_id: str) -> TeamOptions:
        """These options with a working directory of the run's own for code."""
        return replace(self, code_work_dir=str(Path(self.code_work_dir) / run_id))


def preset_refusal(preset: str, options: TeamOptions) -> str | None:
    """Why `preset` cannot start here (unknown, or code execution off), else None."""
    if preset not in PRESETS:
        return f"Unknown team `{preset}`; valid: {', '.join(PRESETS)}."
    if preset == "code" and not options.code_execution:
        return CODE_DISABLED
    return None


def preset_descriptions(options: TeamOptions | None = None) -> dict[str, str]:
    """Preset names and what they do, for `/agent help` (the code preset says when it is off)."""
    options = options or TeamOptions()
    described = {name: preset.description for name, preset in PRESETS.items()}
    if not options.code_execution:
        described["code"] += " (off here: ENABLE_CODE_EXECUTION)"
    return described


def build_team(
    preset: str,
    *,
    model_client: ChatCompletionClient,
    input_func: AsyncInputFunc,
    approver: Approver | None = None,
    options: TeamOptions | None = None,
) -> BaseGroupChat:
    """A fresh team for `preset`, whose human turns go through `input_func`.

    Args:
        preset: a name in `PRESETS`.
        model_client: the model of every agent.
        input_func: the human's input function (`make_input_func`, usually around a `ModeGate`).
        approver: who approves tool calls and code (`email`, `code`); pass the same `ModeGate` as
            the input function's so the run's input mode applies to them too.
        options: outbox, code execution and limits (`TeamOptions`).
    """
    options = options or TeamOptions()
    problem = preset_refusal(preset, options)
    if problem is not None:
        raise ValueError(problem)
    limit = options.max_messages

    def human(name: str = HUMAN) -> ApprovalUserProxy:
        return ApprovalUserProxy(name, description="The human reviewer, reached through Slack", input_func=input_func)

    def verdicts(*more: TerminationCondition) -> TerminationCondition:
        condition: TerminationCondition = HumanVerdictTermination(sources=[HUMAN]) | MaxMessageTermination(limit)
        for extra in more:
            condition = condition | extra
        return condition

    if preset == "writer":
        assistant = AssistantAgent(ASSISTANT, model_client=model_client, system_message=WRITER_SYSTEM_MESSAGE)
        return RoundRobinGroupChat([assistant, human()], termination_condition=verdicts())
    if preset == "plan":
        planner = AssistantAgent(PLANNER, model_client=model_client, system_message=PLANNER_SYSTEM_MESSAGE)
        executor = AssistantAgent(EXECUTOR, model_client=model_client, system_message=EXECUTOR_SYSTEM_MESSAGE)
        plan_rejected = HumanVerdictTermination(sources=[PLAN_REVIEWER], verdicts=("REJECT",))
        return SelectorGroupChat(
            [planner, human(PLAN_REVIEWER), executor, human()],
            model_client=model_client,
            selector_func=plan_selector,
            allow_repeated_speaker=True,
            termination_condition=verdicts(plan_rejected),
        )
    if preset == "research":
        researcher = AssistantAgent(RESEARCHER, model_client=model_client, system_message=RESEARCHER_SYSTEM_MESSAGE)
        writer = AssistantAgent(WRITER, model_client=model_client, system_message=RESEARCH_WRITER_SYSTEM_MESSAGE)
        return RoundRobinGroupChat([researcher, writer, human()], termination_condition=verdicts())
    if approver is None:
        raise ValueError(f"the {preset} team needs an approver for its {'tool' if preset == 'email' else 'code'}")
    if preset == "email":
        send_email = require_approval(SendEmailTool(options.outbox_dir), approver, agent=DRAFTER)
        drafter = AssistantAgent(
            DRAFTER,
            model_client=model_client,
            system_message=EMAIL_SYSTEM_MESSAGE,
            tools=[send_email],
            reflect_on_tool_use=True,
        )
        return RoundRobinGroupChat([drafter, human()], termination_condition=verdicts())
    # code
    work_dir = Path(options.code_work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # "may execute code on the local machine": that is the point, and it is gated
        warnings.simplefilter("ignore", UserWarning)
        code_executor = local_executor_class()(timeout=options.code_timeout, work_dir=work_dir)
    where = f"runs on the bot's host in {work_dir}, time limit {options.code_timeout}s"
    coder = AssistantAgent(CODER, model_client=model_client, system_message=CODER_SYSTEM_MESSAGE)
    executor_agent = CodeExecutorAgent(
        EXECUTOR,
        code_executor=code_executor,
        sources=[CODER],
        supported_languages=["python"],
        approval_func=code_approval_func(approver, author=CODER, where=where),
    )
    return RoundRobinGroupChat([coder, executor_agent, human()], termination_condition=verdicts())


def reviewer_of(preset: str, author: str) -> str:
    """The user proxy that answered a proposal by `author` in `preset`: where a worker continuing a run
    puts the decision (`TextMessage(content=decision.reply_text(), source=reviewer_of(...))`)."""
    return PLAN_REVIEWER if preset == "plan" and author == PLANNER else HUMAN


def plan_selector(thread: Sequence[BaseAgentEvent | BaseChatMessage]) -> str | None:
    """Who speaks next in the `plan` team, from the conversation alone (no state, no model call).

    planner -> plan_reviewer; plan_reviewer approves -> executor, else (feedback) -> planner;
    executor -> human; human's feedback (or "continue") -> executor. A "user" message after the task
    (a decision handed back in as a new task) counts as the reviewer of the stage it follows.
    """
    chat = [m for m in thread if isinstance(m, BaseChatMessage)]
    if not chat:
        return PLANNER
    last = chat[-1]
    source = last.source
    if source == "user" and len(chat) > 1:
        stage = next((m.source for m in reversed(chat[:-1]) if m.source not in (*HUMANS, "user")), PLANNER)
        source = PLAN_REVIEWER if stage == PLANNER else HUMAN
    if source == "user":
        return PLANNER
    if source == PLANNER:
        return PLAN_REVIEWER
    if source == PLAN_REVIEWER:
        return EXECUTOR if goes_on(last.to_text()) else PLANNER
    if source == EXECUTOR:
        return HUMAN
    return EXECUTOR
