"""What a worker reads for on-call schedules as approvers (issue 90; bot/core/settings.py's `Settings` holds it): the
provider (PagerDuty, Opsgenie or Grafana OnCall), its API's base URL and token, how long a call may take and how long
an answer is kept. Only declared here: `Settings.from_env` reads them with the rest. The token is a secret: never in a
log, an error, Slack or Redis.

Without `ONCALL_PROVIDER` no schedule can be read: an approval naming `oncall:<schedule>` goes to its fallback
approvers, said on its card and counted (`hitl_oncall_lookups_total{outcome="unset"}`)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, Field, model_validator

from bot.core.setting_values import PublicUrl, Secret, whole

PROVIDERS = ("pagerduty", "opsgenie", "grafana")
DEFAULT_URLS = {"pagerduty": "https://api.pagerduty.com", "opsgenie": "https://api.opsgenie.com"}


class OnCallSettings(BaseModel):
    """On-call schedules (issue 90), in the order the configuration table shows them."""

    oncall_provider: Literal["", "pagerduty", "opsgenie", "grafana"] = Field(
        default="", validation_alias="ONCALL_PROVIDER", description=(
            "who answers `oncall:<schedule>` approvers: `pagerduty` (REST API v2), `opsgenie` or `grafana` (Grafana"
            " OnCall); unset: none (such approvals go to their fallback approvers; docs: On-call schedules)"))
    oncall_url: PublicUrl = Field(default="", validation_alias="ONCALL_URL", description=(
        "the provider's API base URL: default `https://api.pagerduty.com` or `https://api.opsgenie.com` (EU:"
        " `https://api.eu.opsgenie.com`); Grafana OnCall's is its instance's (needed with `grafana`)"))
    oncall_token: Secret | None = Field(default=None, validation_alias="ONCALL_TOKEN", description=(
        "the provider's API token (PagerDuty: a read-only REST API key; Opsgenie: an API integration's key;"
        " Grafana OnCall: an API token); a secret"))
    oncall_timeout: Annotated[int, whole(1, 60)] = Field(default=5, validation_alias="ONCALL_TIMEOUT", description=(
        "seconds a lookup of a schedule may take; longer is \"cannot answer\" (the fallback approvers get it)"))
    oncall_cache_seconds: Annotated[int, whole(1, 3600)] = Field(
        default=60, validation_alias="ONCALL_CACHE_SECONDS", description=(
            "how long an answer of who is on call is kept (in Redis: every worker reads the same)"))

    @model_validator(mode="after")
    def _oncall_complete(self) -> Self:
        if self.oncall_provider and self.oncall_token is None:
            raise ValueError("ONCALL_PROVIDER needs ONCALL_TOKEN")
        if self.oncall_provider == "grafana" and not self.oncall_url:
            raise ValueError("ONCALL_PROVIDER=grafana needs ONCALL_URL (your Grafana OnCall's API base)")
        return self

    @property
    def oncall_base(self) -> str:
        """The provider's API base URL (ONCALL_URL, else the provider's public one)."""
        return self.oncall_url or DEFAULT_URLS.get(self.oncall_provider, "")
