"""The workspace a record belongs to: a Slack team, and its Enterprise Grid organisation if it has one (pure).

An org-wide install (Enterprise Grid) is one tenant, the organisation: its workspaces share its data (user and
channel ids are unique across an organisation). Each plain workspace is its own tenant, the team.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkspaceRef:
    """A Slack workspace: `team` (T…) and `enterprise` (E…, its Grid organisation; None for a plain one).

    Example:
        `WorkspaceRef("T1", "E1").tenant == "E1"`; `WorkspaceRef("T2").tenant == "T2"`.
    """

    team: str
    enterprise: str | None = None

    @property
    def tenant(self) -> str:
        """The data's partition: the organisation for an org-wide install, else the team."""
        return self.enterprise or self.team
