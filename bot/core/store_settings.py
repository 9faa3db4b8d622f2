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
            " `false`: every key on the one tag (`{hitl}`). The same on every worker and command; a store written"
            " without it is moved by `python -m bot store move-workspaces`, and a worker whose setting and store"
            " disagree refuses to start (docs/operators/upgrades.md). Ignored on one node"
        ),
    )
