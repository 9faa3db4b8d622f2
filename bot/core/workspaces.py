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

    @property
    def whole_organisation(self) -> bool:
        """Whether this names an Enterprise Grid organisation as a whole (an org-wide install: `team` is its E… id)."""
        return self.enterprise is not None and self.team == self.enterprise

    def includes(self, other: WorkspaceRef) -> bool:
        """Whether `other` is this workspace, or one of this organisation's when this names it whole.

        Example:
            `WorkspaceRef("E1", "E1").includes(WorkspaceRef("T1", "E1"))` is True; `WorkspaceRef("T1", "E1")` includes
            only itself.
        """
        return other == self or (self.whole_organisation and other.enterprise == self.enterprise)
