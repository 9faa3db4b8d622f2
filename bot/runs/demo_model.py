"""An offline, deterministic model for trying the product without an API key.

It is a real AutoGen `ChatCompletionClient` (loadable as a component config), so teams run
exactly as they would with an LLM. It drafts from the task and visibly applies every piece of
reviewer feedback it has been given. It is not an LLM, and the run header says so.

It plays every preset's roles, read from the agent's system message ("Role: planner." ...): a
numbered plan and its execution (`plan`), notes and a draft (`research`), a real `FunctionCall` of
`send_email` when that tool is offered (`email`), a ```python block (`code`), a draft otherwise.
Told "continue", it repeats its answer and ends it with TERMINATE.

Component config::

    {"provider": "bot.runs.demo_model.DemoChatCompletionClient", "config": {}}
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Self

from autogen_core import Component, FunctionCall
from autogen_core.models import (
    AssistantMessage,
    CreateResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    ModelFamily,
    ModelInfo,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel, Field

from bot.runs.model_call import CallClient, ModelCall

DEMO_PROVIDER = "bot.runs.demo_model.DemoChatCompletionClient"
_VERDICTS = ("APPROVE", "REJECT")
_ROLE = re.compile(r"\bRole: ([a-z_]+)\.")
# agents of the presets: their messages reach other agents as user messages, but are not feedback
AGENT_NAMES = frozenset({"assistant", "planner", "executor", "researcher", "writer", "drafter", "coder"})
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NOT_SENT = ("rejected", "not run", "refused")


class DemoChatCompletionClientConfig(BaseModel):
    """Configuration of the demo model: a signature line, and how long each answer takes (seconds: a
    slow model, for demos and fault tests; 0 answers at once)."""

    signature: str = "The team"
    delay: float = Field(default=0.0, ge=0.0, le=600.0)


class DemoChatCompletionClient(CallClient, Component[DemoChatCompletionClientConfig]):
    """A deterministic stand-in for an LLM: drafts from the task, applies feedback."""

    component_type = "model"
    component_provider_override = DEMO_PROVIDER
    component_config_schema = DemoChatCompletionClientConfig

    def __init__(self, signature: str = "The team", delay: float = 0.0) -> None:
        self._signature = signature
        self._delay = delay
        self._usage = RequestUsage(prompt_tokens=0, completion_tokens=0)
        self._total = RequestUsage(prompt_tokens=0, completion_tokens=0)

    async def answer(self, call: ModelCall) -> CreateResult:
        messages, tools, tool_choice = call.messages, call.tools, call.tool_choice
        if self._delay:
            await asyncio.sleep(self._delay)  # a model that takes its time (honours cancellation)
        offered = tool_choice != "none" and any(_tool_name(t) == "send_email" for t in tools)
        content = answer(messages, signature=self._signature, send_email=offered)
        prompt_tokens = sum(len(str(m.content).split()) for m in messages if hasattr(m, "content"))
        self._usage = RequestUsage(prompt_tokens=prompt_tokens, completion_tokens=len(str(content).split()))
        self._total = RequestUsage(
            prompt_tokens=self._total.prompt_tokens + self._usage.prompt_tokens,
            completion_tokens=self._total.completion_tokens + self._usage.completion_tokens,
        )
        if isinstance(content, list):
            return CreateResult(finish_reason="function_calls", content=content, usage=self._usage, cached=False)
        return CreateResult(finish_reason="stop", content=content, usage=self._usage, cached=False)

    async def answer_stream(self, call: ModelCall) -> AsyncGenerator[str | CreateResult, None]:
        yield await self.answer(ModelCall(call.messages, call.tools, cancellation_token=call.cancellation_token))

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return self._usage

    def total_usage(self) -> RequestUsage:
        return self._total

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return sum(len(str(m.content).split()) for m in messages if hasattr(m, "content"))

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return max(0, 100_000 - self.count_tokens(messages))

    @property
    def capabilities(self) -> Any:  # deprecated in autogen-core, still abstract there
        return self.model_info

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(
            vision=False, function_calling=True, json_output=False, family=ModelFamily.UNKNOWN, structured_output=False
        )

    def _to_config(self) -> DemoChatCompletionClientConfig:
        return DemoChatCompletionClientConfig(signature=self._signature, delay=self._delay)

    @classmethod
    def _from_config(cls, config: DemoChatCompletionClientConfig) -> Self:
        return cls(signature=config.signature, delay=config.delay)


def _tool_name(tool: Tool | ToolSchema) -> str:
    return str(tool["name"]) if isinstance(tool, Mapping) else tool.name


def _text(message: LLMMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    if isinstance(message, FunctionExecutionResultMessage):
        return "\n".join(result.content for result in message.content)
    return str(content)


def _is_verdict(text: str) -> bool:
    words = text.split(maxsplit=1)
    return bool(words) and words[0].rstrip(":") in _VERDICTS


def task_and_feedback(messages: Sequence[LLMMessage]) -> tuple[str, list[str]]:
    """The task (the first user message) and the human's feedback since (other agents' messages,
    verdicts and automatic "continue" replies are not feedback)."""
    users = [m for m in messages if isinstance(m, UserMessage)]
    task = _text(users[0]).strip() if users else "the task"
    feedback = [
        _text(m).strip()
        for m in users[1:]
        if m.source not in AGENT_NAMES
        and _text(m).strip()
        and not _is_verdict(_text(m))
        and _text(m).strip().lower() != "continue"
    ]
    return task, feedback


def role_of(messages: Sequence[LLMMessage]) -> str:
    for message in messages:
        if isinstance(message, SystemMessage) and (found := _ROLE.search(message.content)):
            return found.group(1)
    return "writer"


def answer(
    messages: Sequence[LLMMessage], *, signature: str = "The team", send_email: bool = False
) -> str | list[FunctionCall]:
    """The demo model's reply for the role its system message names."""
    role = role_of(messages)
    last = messages[-1] if messages else None
    told_continue = isinstance(last, UserMessage) and _text(last).strip().lower() == "continue"
    if role == "drafter":
        return _drafter(messages, signature=signature, send_email=send_email, told_continue=told_continue)
    if role == "planner":
        text = plan(messages)
    elif role == "executor":
        text = execution(messages, signature=signature)
    elif role == "researcher":
        text = notes(messages)
    elif role == "coder":
        if told_continue:
            return "The code has run and its output is above. TERMINATE"
        text = code(messages)
    else:
        text = draft(messages, signature=signature)
    return text + "\n\nTERMINATE" if told_continue else text


def draft(messages: Sequence[LLMMessage], *, signature: str = "The team") -> str:
    """The demo model's answer: a draft for the task with every piece of feedback applied."""
    task, feedback = task_and_feedback(messages)
    version = 1 + sum(1 for m in messages if isinstance(m, AssistantMessage))
    subject, body, greeting = _email_parts(task, feedback)
    lines = [f"Subject: {subject}", "", greeting, "", *body, "", "Best regards,", signature]
    if feedback:
        lines += ["", f"(Draft v{version}: revised for feedback: " + "; ".join(f"“{n}”" for n in feedback) + ")"]
    return "\n".join(lines)


def _email_parts(task: str, feedback: Sequence[str]) -> tuple[str, list[str], str]:
    subject = _subject(task)
    topic = re.split(r"\babout\b|\bregarding\b", task, maxsplit=1, flags=re.IGNORECASE)
    about = (topic[1] if len(topic) > 1 else subject).strip().rstrip(".")
    greeting = "Hello,"
    body = [
        f"We are writing to you about {about[:1].lower() + about[1:]}.",
        "We value working with you and want to keep you informed well ahead of any change.",
        "Please reply to this message if you have any questions.",
    ]
    for note in feedback:
        lowered = note.lower()
        if "formal" in lowered:
            greeting = "Dear valued partner,"
        if "short" in lowered and len(body) > 1:
            body = body[:1]
        if "friendly" in lowered or "warm" in lowered:
            body.insert(0, "I hope this finds you well!")
    return subject, body, greeting


def plan(messages: Sequence[LLMMessage]) -> str:
    """A numbered plan for the task, with a step for each piece of feedback."""
    task, feedback = task_and_feedback(messages)
    steps = [
        f"Collect what the task needs: {_subject(task).lower()}.",
        "Draft the result.",
        "Check the draft against the task and fix what is missing.",
    ]
    steps += [f"Apply the reviewer's note: “{note}”." for note in feedback]
    return f"Plan for: {_subject(task)}\n" + "\n".join(f"{n}. {step}" for n, step in enumerate(steps, start=1))


def execution(messages: Sequence[LLMMessage], *, signature: str = "The team") -> str:
    """The approved plan, carried out: each step reported, then the result (a draft)."""
    plans = [_text(m) for m in messages if isinstance(m, UserMessage) and m.source == "planner"]
    steps = re.findall(r"^\d+\. (.+)$", plans[-1], flags=re.MULTILINE) if plans else ["Do the task."]
    done = [f"{n}. {step} Done." for n, step in enumerate(steps, start=1)]
    return "Carried out the approved plan:\n" + "\n".join(done) + "\n\nResult:\n" + draft(messages, signature=signature)


def notes(messages: Sequence[LLMMessage]) -> str:
    """Research notes for the task (the demo cannot browse, and says what to check)."""
    task, feedback = task_and_feedback(messages)
    _, body, _ = _email_parts(task, [])
    lines = [
        f"Research notes for: {_subject(task)}",
        f"- Key point: {body[0]}",
        "- Audience: the people the task names; check the list before anything goes out.",
        "- Tone: clear and friendly; say what changes, when, and whom to ask.",
        "- To check: dates, figures and names (the demo model cannot browse).",
    ]
    lines += [f"- The reviewer asked: “{note}”" for note in feedback]
    return "\n".join(lines)


def code(messages: Sequence[LLMMessage]) -> str:
    """A small, safe Python program about the task, in a ```python block (no network, no files)."""
    task, feedback = task_and_feedback(messages)
    safe_task = task.replace("`", "'")[:500]
    lines = [
        f"task = {safe_task!r}",
        "words = task.split()",
        'print("Task:", task)',
        'print("Words:", len(words), "| characters:", len(task))',
        'print("Longest word:", max(words, key=len) if words else "-")',
    ]
    if feedback:
        safe_notes = [note.replace("`", "'")[:300] for note in feedback]
        lines += [f"for note in {safe_notes!r}:", '    print("Reviewer asked:", note)']
    return "Here is the code:\n```python\n" + "\n".join(lines) + "\n```"


def _drafter(
    messages: Sequence[LLMMessage], *, signature: str, send_email: bool, told_continue: bool
) -> str | list[FunctionCall]:
    results = [_text(m) for m in messages if isinstance(m, FunctionExecutionResultMessage)]
    sent = [r for r in results if not r.lower().startswith(_NOT_SENT)]
    last = messages[-1] if messages else None
    if isinstance(last, FunctionExecutionResultMessage):  # reflecting on the tool's result
        result = _text(last).strip()
        if result.lower().startswith(_NOT_SENT):
            return f"The email was not sent: {result}\nTell me what to change and I will send a revised email."
        return f"Sent. {result}"
    if told_continue:
        return ("The email has been sent; nothing is left to do." if sent else "Nothing was sent.") + " TERMINATE"
    if not send_email:
        return draft(messages, signature=signature)
    task, feedback = task_and_feedback(messages)
    found = _EMAIL.search(task)
    subject, body, greeting = _email_parts(task, feedback)
    text = "\n".join([greeting, "", *body, "", "Best regards,", signature])
    arguments = {"to": found.group(0) if found else "customers@example.com", "subject": subject, "body": text}
    call_number = 1 + sum(1 for m in messages if isinstance(m, AssistantMessage))
    return [FunctionCall(id=f"call_demo_{call_number}", name="send_email", arguments=json.dumps(arguments))]


def _subject(task: str) -> str:
    words = re.sub(r"\s+", " ", task).strip().rstrip(".").split(" ")
    for lead in ("draft", "write", "compose", "prepare"):
        if words and words[0].lower() == lead:
            words = words[1:]
            break
    subject = " ".join(words[:14]) or "Update"
    return subject[:1].upper() + subject[1:]
