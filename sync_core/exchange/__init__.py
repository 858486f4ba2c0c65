"""Microsoft Graph (Exchange Online) access through msgraph-sdk: raw Graph JSON, one place for retries."""

from sync_core.auth import (
    AzureIdentityTokenSource,
    StaticTokenSource,
    TokenSource,
    token_source_from_settings,
)

from .client import DeltaPage, GraphClient, GraphUser
from .errors import DeltaTokenExpired, GraphError, GraphNotFound, GraphThrottled
from .transport import InsecureGraphUrl

__all__ = [
    "AzureIdentityTokenSource",
    "DeltaPage",
    "DeltaTokenExpired",
    "GraphClient",
    "GraphError",
    "GraphNotFound",
    "GraphThrottled",
    "GraphUser",
    "InsecureGraphUrl",
    "StaticTokenSource",
    "TokenSource",
    "token_source_from_settings",
]
