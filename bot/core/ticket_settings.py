"""What a worker reads for change tickets (issue 91; bot/core/settings.py's `Settings` holds it): Jira Cloud's site,
account and project, ServiceNow's instance and account, and how often a ticket system that does not answer is tried
again. Only declared here: `Settings.from_env` reads them with the rest. The tokens and passwords are secrets: never
in a log, an error, Slack or Redis.

Without `JIRA_URL` and `SERVICENOW_URL` the worker opens no ticket (a channel's `ticket jira` is then said and
counted as given up: `hitl_tickets_total{outcome="failed"}`)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from bot.core.durations import parse_duration
from bot.core.setting_values import PublicUrl, Secret, Stripped, whole

DEFAULT_RETRIES = "30s,2m,10m,30m"
MAX_RETRY = 86400


def retry_schedule(value: object) -> object:
    """`30s,2m,10m` read: the seconds after each failed try (1 to 10 of them, each up to a day)."""
    if not isinstance(value, str):
        return value
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not 1 <= len(parts) <= 10:
        raise ValueError("must be 1 to 10 durations, comma-separated, e.g. 30s,2m,10m,30m")
    return tuple(parse_duration(part, max_seconds=MAX_RETRY) for part in parts)


Retries = Annotated[tuple[int, ...], BeforeValidator(retry_schedule)]


class TicketSettings(BaseModel):
    """Change tickets (issue 91), in the order the configuration table shows them."""

    jira_url: PublicUrl = Field(default="", validation_alias="JIRA_URL", description=(
        "your Jira Cloud site, e.g. `https://example.atlassian.net`: a channel's `ticket jira` opens a change there"
        " (REST v3) as an approval opens and closes it with the decision. Unset: no Jira"))
    jira_email: Stripped = Field(default="", validation_alias="JIRA_EMAIL", description=(
        "the Atlassian account the bot acts as (basic auth with `JIRA_API_TOKEN`; needed with JIRA_URL)"))
    jira_api_token: Secret | None = Field(default=None, validation_alias="JIRA_API_TOKEN", description=(
        "that account's API token (id.atlassian.com, Security, API tokens); a secret"))
    jira_project: Stripped = Field(default="", validation_alias="JIRA_PROJECT", description=(
        "the key of the project changes are opened in, e.g. `CHG` (needed with JIRA_URL)"))
    jira_issue_type: Stripped = Field(default="Task", validation_alias="JIRA_ISSUE_TYPE", description=(
        "the issue type of a change, e.g. `Change` in a Jira Service Management project"))
    jira_done_transition: Stripped = Field(default="Done", validation_alias="JIRA_DONE_TRANSITION", description=(
        "the name of the workflow transition that closes a change once decided"))
    servicenow_url: PublicUrl = Field(default="", validation_alias="SERVICENOW_URL", description=(
        "your ServiceNow instance, e.g. `https://example.service-now.com`: a channel's `ticket servicenow` opens a"
        " `change_request` there (Table API) as an approval opens and closes it with the decision. Unset: none"))
    servicenow_user: Stripped = Field(default="", validation_alias="SERVICENOW_USER", description=(
        "the integration user (basic auth with `SERVICENOW_PASSWORD`), or leave unset with SERVICENOW_TOKEN"))
    servicenow_password: Secret | None = Field(default=None, validation_alias="SERVICENOW_PASSWORD", description=(
        "that user's password; a secret"))
    servicenow_token: Secret | None = Field(default=None, validation_alias="SERVICENOW_TOKEN", description=(
        "an OAuth access token sent as `Authorization: Bearer` instead of basic auth; a secret"))
    ticket_retries: Retries = Field(default=(30, 120, 600, 1800), validation_alias="TICKET_RETRIES",
                                    json_schema_extra={"shown_default": DEFAULT_RETRIES}, description=(
        "when a ticket system that refused or did not answer is tried again, after each try; after the last the"
        " ticket is given up (audited `ticket_given_up`, counted)"))
    ticket_timeout: Annotated[int, whole(1, 120)] = Field(default=10, validation_alias="TICKET_TIMEOUT", description=(
        "seconds a call to the ticket system may take"))

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.jira_url and not (self.jira_email and self.jira_api_token and self.jira_project):
            raise ValueError("JIRA_URL needs JIRA_EMAIL, JIRA_API_TOKEN and JIRA_PROJECT")
        if self.servicenow_url and not (self.servicenow_token or (self.servicenow_user and self.servicenow_password)):
            raise ValueError("SERVICENOW_URL needs SERVICENOW_USER and SERVICENOW_PASSWORD, or SERVICENOW_TOKEN")
        return self
