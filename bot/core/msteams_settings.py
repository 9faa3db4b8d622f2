"""What a worker reads for Microsoft Teams (issue 81; bot/core/settings.py's `Settings` holds it): the Azure bot's
app id and its secret or certificate, the company's tenant, the Teams file of a Teams-only company, and (dev mode and
tests only) a local Bot Connector. Only declared here: `Settings.from_env` reads them with the rest.

Without `TEAMS_APP_ID` the worker serves no Teams. Every request to `/teams/messages` carries a Bot Framework token
the Teams SDK verifies; nothing turns that off: a worker whose environment sets the SDK's own
`DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS` refuses to start, and `TEAMS_CONNECTOR_URL` (whose keys the worker then
trusts instead of Microsoft's) is accepted only on a loopback address."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Self
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from bot.core.msteams_file import TeamsFile, read_teams_file
from bot.core.setting_values import Secret, Stripped


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


class TeamsSettings(BaseModel):
    """Microsoft Teams (docs/operators/teams.md), in the order the configuration table shows them."""

    teams_app_id: Stripped = Field(default="", validation_alias="TEAMS_APP_ID", description=(
        "the Azure bot's Microsoft App ID (a GUID): serve Microsoft Teams at `/teams/messages` (unset: no Teams)"))
    teams_app_password: Secret | None = Field(default=None, validation_alias="TEAMS_APP_PASSWORD", description=(
        "the app registration's client secret (or TEAMS_CERTIFICATE)"))
    teams_certificate: Stripped = Field(default="", validation_alias="TEAMS_CERTIFICATE", description=(
        "path to a PEM file with the app registration's certificate and its private key (instead of a secret)"))
    teams_tenant_id: Stripped = Field(default="", validation_alias="TEAMS_TENANT_ID", description=(
        "the company's Azure AD tenant id: only its people decide (another tenant's or a guest: refused, audited)"))
    teams_file: Stripped = Field(default="", validation_alias="TEAMS_FILE", description=(
        "YAML file for a Teams-only company: its people (by email or object id) and channels' Teams routes"))
    teams_connector_url: Stripped = Field(default="", validation_alias="TEAMS_CONNECTOR_URL", description=(
        "dev mode and tests: a local Bot Connector and its sign-in (`python -m bot dev --teams`); loopback only"))
    teams_unauthenticated: Stripped = Field(default="", validation_alias="DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS",
                                            description="never accepted: a worker refuses to start when it is set")
    _teams_listed: TeamsFile = PrivateAttr(default_factory=TeamsFile)

    def read_teams_file(self) -> None:
        """Read TEAMS_FILE (at start: `Settings.from_env`); TeamsFileError naming the line when it is bad."""
        self._teams_listed = read_teams_file(self.teams_file) if self.teams_file else TeamsFile()

    @property
    def teams_listed(self) -> TeamsFile:
        """What TEAMS_FILE lists (its people and routes), as read at start; empty without a file."""
        return self._teams_listed

    @model_validator(mode="after")
    def _teams(self) -> Self:
        if self.teams_unauthenticated:
            raise ValueError("DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS is set: this worker verifies every Teams "
                             "request's token and never serves unauthenticated ones; unset it")
        if self.teams_connector_url and not (self.teams_connector_url.startswith("http://")
                                             and _loopback(self.teams_connector_url)):
            raise ValueError("TEAMS_CONNECTOR_URL must be a loopback http:// URL (the local Bot Connector of dev "
                             "mode and tests); unset it in production")
        if not self.teams_app_id:
            return self
        if not self.teams_tenant_id:
            raise ValueError("TEAMS_APP_ID needs TEAMS_TENANT_ID (the company's Azure AD tenant id)")
        if not self.teams_connector_url and (self.teams_app_password is None) == (not self.teams_certificate):
            raise ValueError("TEAMS_APP_ID needs one of TEAMS_APP_PASSWORD or TEAMS_CERTIFICATE")
        return self
