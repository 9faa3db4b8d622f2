"""The workspace a record belongs to: a Slack team, and its Enterprise Grid organisation if it has one (pure).

An org-wide install (Enterprise Grid) is one tenant, the organisation: its workspaces share its data (user and
channel ids are unique across an organisation). Each plain workspace is its own tenant, the team, and so is a Grid
workspace where the app is installed on its own (not org-wide: its token is that workspace's).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class WorkspaceRef:
    """A Slack workspace: `team` (T…) and `enterprise` (E…, its Grid organisation; None for a plain one).

    Example:
        `WorkspaceRef("T1", "E1").tenant == "E1"`; `WorkspaceRef("T2").tenant == "T2"`;
        `WorkspaceRef("T1", "E1", org_wide=False).tenant == "T1"` (installed in T1 alone).
    """

    team: str
    enterprise: str | None = None
    # whether the app is installed org-wide there (Bolt's `is_enterprise_install`, the installation's): False for a
    # Grid workspace installed on its own; None where it is not known (read as org-wide: `Tenancy.parts` asks the
    # installations). Not part of the workspace's identity (equality).
    org_wide: bool | None = field(default=None, compare=False)

    @property
    def tenant(self) -> str:
        """The data's partition: the organisation for an org-wide install, else the team (a plain workspace, or a
        Grid workspace installed on its own: `org_wide` False)."""
        return self.enterprise if self.enterprise and self.org_wide is not False else self.team

    def installed(self, *, org_wide: bool) -> WorkspaceRef:
        """This workspace, saying whether the app is installed org-wide there."""
        return replace(self, org_wide=bool(org_wide and self.enterprise))

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
