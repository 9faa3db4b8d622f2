"""The Teams SDK's parts the tests use, in one module that a test module names lazily
(`sdk = lazy("tests.support.teams_sdk")`, tests/support/lazy.py): the SDK takes a test process about 1.5 s of CPU
to import, and every test process imports every fast test module to collect it, though one runs a Teams test."""

from __future__ import annotations

import warnings

from microsoft_teams.api import Account, ActivityTypeAdapter, ApiClient
from microsoft_teams.api.activities.conversation import ConversationUpdateActivity
from microsoft_teams.api.activities.install_update import InstalledActivity
from microsoft_teams.api.activities.invoke.adaptive_card import AdaptiveCardInvokeActivity
from microsoft_teams.api.activities.message import MessageActivityInput
from microsoft_teams.api.auth.cloud_environment import PUBLIC, CloudEnvironment, with_overrides
from microsoft_teams.api.clients.conversation.params import CreateConversationParams
from microsoft_teams.api.models import AdaptiveCardActionCardResponse, Attachment
from microsoft_teams.cards import AdaptiveCard, ExecuteAction, TextBlock
from microsoft_teams.common import ClientOptions
from microsoft_teams.common.experimental import ExperimentalWarning

with warnings.catch_warnings():  # the SDK's apps package warns of its own preview parts as it is imported
    warnings.simplefilter("ignore", ExperimentalWarning)
    from microsoft_teams.apps import App
    from microsoft_teams.apps.auth.token_validator import InboundActivityTokenValidator

__all__ = [
    "PUBLIC", "Account", "ActivityTypeAdapter", "AdaptiveCard", "AdaptiveCardActionCardResponse",
    "AdaptiveCardInvokeActivity", "ApiClient", "App", "Attachment", "ClientOptions", "CloudEnvironment",
    "ConversationUpdateActivity", "CreateConversationParams", "ExecuteAction", "InboundActivityTokenValidator",
    "InstalledActivity", "MessageActivityInput", "TextBlock", "with_overrides",
]
