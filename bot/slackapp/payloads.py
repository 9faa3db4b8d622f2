"""Slack's payloads as documents: an interaction's (actions, view submissions and closes, shortcuts), a submitted
view's state, a slash command's fields. Each is read by one model here, and what a model refuses is said in the
project's words (bot/core/documents.py); Slack adds fields to its payloads as it likes, so what a model does not
name is let through untouched.

    interaction_problem(payload)   why the gate (bot/slackapp/gate.py) refuses an interaction payload, or None
    ViewState.of(view)             a submitted view's inputs: `text(block, action)`, `choice(block, action)`
    SlashCommand.of(fields)        a slash command's user, channel, trigger, workspace and text
    button_press(body)             a card button's click: its user, channel and value (an approval id), or None
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.core.documents import refusal, refuse
from bot.core.records import ENTERPRISE_ID, SLACK_ID, TEAM_ID
from bot.core.workspaces import WorkspaceRef
from bot.runs.idempotency import TRIGGER_ID

# What Slack sends, read without a copy of anything the models do not name; no coercion (a number is no string).
_SLACK = ConfigDict(extra="ignore", strict=True, frozen=True, hide_input_in_errors=True)


def _object(value: Any) -> Any:
    if value is not None and not isinstance(value, dict):
        raise refuse("is not an object")
    return value


def _objects(value: Any) -> Any:
    if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
        raise refuse("is not a list of objects")
    return value


Obj = Annotated[Any, BeforeValidator(_object)]  # checked, not copied
Objs = Annotated[Any, BeforeValidator(_objects)]


class _Part(BaseModel):
    """A part of a payload the bot reads strings of (each may be absent or null)."""

    model_config = _SLACK


class _User(_Part):
    id: str | None = None
    team_id: str | None = None
    name: str | None = None
    username: str | None = None


class _Team(_Part):
    id: str | None = None
    enterprise_id: str | None = None


class _Container(_Part):
    type: str | None = None
    channel_id: str | None = None
    message_ts: str | None = None


class _Channel(_Part):
    id: str | None = None


def _values(values: Any) -> Any:
    if values is not None and not (isinstance(values, dict) and all(isinstance(v, dict) for v in values.values())):
        raise refuse("state.values is not an object of objects")
    return values


class _State(_Part):
    values: Annotated[Any, BeforeValidator(_values)] = None


def _state(state: Any) -> Any:
    if state is not None and not isinstance(state, dict):
        raise refuse("state is not an object")
    return state


State = Annotated[_State | None, BeforeValidator(_state)]


class _View(_Part):
    id: str | None = None
    callback_id: str | None = None
    private_metadata: str | None = None
    team_id: str | None = None
    type: Any = None
    state: State = None


class Interaction(_Part):
    """An interaction payload as far as Bolt reads it unchecked: the strings it compares, the objects it walks,
    the lists it takes the first of."""

    type: str = ""
    trigger_id: str = ""
    response_url: str = ""
    api_app_id: str = ""
    callback_id: str = ""
    team_id: str = ""
    enterprise_id: str = ""
    user_id: str = ""
    user: _User | None = None
    team: _Team | None = None
    enterprise: Obj = None
    channel: _Channel | None = None
    container: _Container | None = None
    view: _View | None = None
    message: Obj = None
    state: State = None
    event: Obj = None
    item: Obj = None
    user_team: Obj = None
    function_data: Obj = None
    assistant_thread: Obj = None
    previous_message: Obj = None
    bot_access_token: Obj = None
    actions: Objs = None
    authorizations: Objs = None
    response_urls: Objs = None
    workflow_step: Any = None

    @model_validator(mode="after")
    def _as_bolt_reads(self) -> Interaction:
        if self.actions == []:
            raise refuse("actions is empty")  # Bolt reads the first one unchecked
        if self.view is not None and self.type in ("view_submission", "view_closed"):
            if not isinstance(self.view.type, str):
                raise refuse("view.type is not a string")  # Bolt reads it unchecked
            if self.view.type == "workflow_step" and not isinstance(self.workflow_step, dict):
                raise refuse("workflow_step is not an object")
        return self


def interaction_problem(payload: Any) -> str | None:
    """Why an interaction payload is not the shape Slack sends (the gate's 400), or None."""
    if not isinstance(payload, dict):
        return "payload is not an object"
    try:
        Interaction.model_validate(payload)
    except ValidationError as exc:
        return refusal(exc, outer_first=True).said
    return None


class _Input(BaseModel):
    """One input of a submitted view, as its block and action hold it (a text input's `value`, a choice's
    `selected_option`); what the bot does not read is let through."""

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    value: Any = None
    selected_option: Any = None

    @property
    def text(self) -> str:
        return str(self.value or "")

    @property
    def choice(self) -> str | None:
        option = self.selected_option
        value = option.get("value") if isinstance(option, dict) else None
        return value if isinstance(value, str) else None


class ViewState(BaseModel):
    """A submitted view's inputs, by block and action (`ViewState.of(view)`): the one reader of `view.state`.
    An input the view does not have reads as None; a malformed one (the gate refuses most) as empty."""

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    values: dict[str, Any] = {}

    @classmethod
    def of(cls, view: dict[str, Any]) -> ViewState:
        state = view.get("state")
        values = state.get("values") if isinstance(state, dict) else None
        return cls(values=values if isinstance(values, dict) else {})

    def has(self, block: str) -> bool:
        """Whether the view has the input block `block`."""
        return isinstance(self.values.get(block), dict)

    def _input(self, block: str, action: str) -> _Input | None:
        entries = self.values.get(block)
        if not isinstance(entries, dict) or action not in entries:
            return None
        entry = entries[action]
        try:
            return _Input.model_validate(entry) if isinstance(entry, dict) else _Input()
        except ValidationError:  # pragma: no cover - every field takes anything
            return _Input()

    def text(self, block: str, action: str) -> str | None:
        """A text input's value ("" when empty); None when the view has no such input."""
        found = self._input(block, action)
        return None if found is None else found.text

    def choice(self, block: str, action: str) -> str | None:
        """The value of a radio button or select's chosen option; None when none is (or no such input)."""
        found = self._input(block, action)
        return None if found is None else found.choice


def button_press(body: Any) -> tuple[str, str, str] | None:
    """A card button's click: (user, channel, the button's value: an approval id, at most 100 characters), or None
    when the user or the channel is no Slack id (nobody to answer ephemerally)."""
    user = str((body.get("user") or {}).get("id", ""))
    channel = str((body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id") or "")
    approval_id = str(((body.get("actions") or [{}])[0]).get("value", ""))[:100]
    if SLACK_ID.fullmatch(user) and SLACK_ID.fullmatch(channel):
        return user, channel, approval_id
    return None


def _field(value: Any) -> str:
    """A slash command's field as a string (Slack posts them form-encoded: strings, or absent)."""
    return "" if value is None else str(value)


FormField = Annotated[str, BeforeValidator(_field)]
NO_USER = "This command came without a valid user or channel; nothing was done."


class SlashCommand(BaseModel):
    """A slash command's fields as the bot reads them: who typed it (`user_id`), where (`channel_id`, and the
    workspace: `team_id`, `enterprise_id` on Enterprise Grid), its `trigger_id` (what a replay is known by) and the
    `text` after the command. `SlashCommand.of(fields)`: the command, or what to answer instead."""

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    user_id: FormField = Field(default="", validate_default=True)
    channel_id: FormField = Field(default="", validate_default=True)
    trigger_id: FormField = Field(default="", validate_default=True)
    text: FormField = ""
    team_id: FormField = ""
    enterprise_id: FormField = ""

    @field_validator("user_id", "channel_id")
    @classmethod
    def _slack_id(cls, value: str) -> str:
        if not SLACK_ID.fullmatch(value):
            raise refuse(NO_USER)
        return value

    @field_validator("trigger_id")
    @classmethod
    def _trigger(cls, value: str) -> str:
        if not TRIGGER_ID.fullmatch(value):
            raise refuse("This command came without a valid trigger id; nothing was done.")
        return value

    @classmethod
    def of(cls, fields: dict[str, Any]) -> SlashCommand | str:
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            return refusal(exc).said

    @property
    def workspace(self) -> WorkspaceRef | None:
        """The workspace it was typed in; None when it names none that reads as one (the home workspace's, as
        before commands were kept apart by workspace)."""
        if not TEAM_ID.fullmatch(self.team_id):
            return None
        return WorkspaceRef(self.team_id, self.enterprise_id if ENTERPRISE_ID.fullmatch(self.enterprise_id) else None)
