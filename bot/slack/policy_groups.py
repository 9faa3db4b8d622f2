"""What a loaded policy bundle names of Slack (issue 88: the core's policies link asks no surface): the user groups its
@approvers name, checked with Slack when the bundle loads (`unknown_groups`: the policy engine's `vet`, set by the
root)."""

from __future__ import annotations

from bot.policy.bundle import PolicyBundle
from bot.slack.directory import Directory


async def unknown_groups(directory: Directory, bundle: PolicyBundle) -> str:
    """A loaded bundle's warning: the user groups its @approvers name that Slack does not know (their asks could be
    decided by nobody), or that they could not be checked."""
    named = [group for policy in bundle.policies.values() for group in policy.approvers]
    missing, unchecked = await directory.missing_groups(named)
    whose = {group: [p.id for p in bundle.policies.values() if group in p.approvers] for group in missing}
    said = "; ".join(f"@approvers names user group {group}, which Slack does not know (policy {', '.join(ids)}):"
                     " nobody can decide its asks until it is fixed" for group, ids in whose.items())
    if unchecked:
        said += ("; " if said else "") + f"the user groups of @approvers could not all be checked: {unchecked}"
    return said
