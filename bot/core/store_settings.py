"""How the store lays out its keys on Redis Cluster (issue 89; bot/core/settings.py's `StoreSettings` holds it, so
every user of the store reads it: the worker and each command): `REDIS_WORKSPACE_TAGS`, each workspace's keys under
a hash tag of its own (bot/store/slots.py). Only declared here."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.core.setting_values import Flag


class StoreLayout(BaseModel):
    """The key layout on Redis Cluster (`StoreSettings.store_sharded`)."""

    redis_workspace_tags: Flag = Field(
        default=False, validation_alias="REDIS_WORKSPACE_TAGS",
        description=(
            "on Redis Cluster (`redis+cluster://`), `true`: each workspace's keys under a hash tag of its own"
            " (`hitl:{ws:T…}`), so workspaces spread over the primaries and each one's steps stay on one node;"
            " `false`: every key on the one tag (`{hitl}`). Set it on a new deployment: a store written without it"
            " keeps its names (its workspaces' keys are not moved: docs/operators/deploying.md). Ignored on one node"
        ),
    )
