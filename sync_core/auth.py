"""Bearer tokens for Graph and F&O (one token source serves both), and the credential for identity-based
storage.

A token source only hands out tokens; it never decides where they may be sent. The Graph transport
(`transport.py`) refuses to attach a token to anything but the configured Graph host, and only over https
unless that host is a loopback stand-in.

Whoever builds a token source owns it: call ``close()`` on an ``AzureIdentityTokenSource`` when done (it
closes the credential). ``GraphClient.close()`` does not, because one token source may serve both APIs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential
from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

if TYPE_CHECKING:
    from sync_core.settings import Settings

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# Refresh this long before expiry so a token never runs out in the middle of a paged read.
_REFRESH_MARGIN_SECONDS = 300.0


class TokenSource(Protocol):
    async def get_token(self, scope: str) -> str:
        """Bearer token for a scope such as ``https://graph.microsoft.com/.default``."""
        ...


class StaticTokenSource:
    """The same token for every scope: local stand-ins and tests (``SYNC_AUTH=static``)."""

    def __init__(self, token: str) -> None:
        if not token or not token.strip():
            raise ValueError("static token must not be empty")
        self._token = token.strip()

    async def get_token(self, scope: str) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticTokenSource(<redacted>)"


class AzureIdentityTokenSource:
    """Tokens from an azure-identity async credential, cached per scope until shortly before expiry."""

    def __init__(self, credential: AsyncTokenCredential, *, clock: Callable[[], float] = time.time) -> None:
        self._credential = credential
        self._clock = clock
        self._cache: dict[str, AccessToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get_token(self, scope: str) -> str:
        cached = self._cache.get(scope)
        if cached is not None and self._fresh(cached):
            return cached.token
        # One refresh per scope at a time: concurrent requests wait for it instead of all asking Entra.
        lock = self._locks.setdefault(scope, asyncio.Lock())
        async with lock:
            cached = self._cache.get(scope)
            if cached is not None and self._fresh(cached):
                return cached.token
            token = await self._credential.get_token(scope)
            self._cache[scope] = token
            return token.token

    def _fresh(self, token: AccessToken) -> bool:
        return token.expires_on - self._clock() > _REFRESH_MARGIN_SECONDS

    async def close(self) -> None:
        await self._credential.close()


def token_source_from_settings(
    auth_mode: str, static_token: str | None, managed_identity_client_id: str | None = None
) -> TokenSource:
    """Token source for ``SYNC_AUTH``: ``managed-identity``, ``default`` or ``static``."""
    mode = (auth_mode or "default").strip().lower()
    client_id = managed_identity_client_id or None
    if mode == "static":
        if not static_token:
            raise ValueError("SYNC_AUTH=static needs SYNC_STATIC_TOKEN")
        return StaticTokenSource(static_token)
    if mode == "managed-identity":
        return AzureIdentityTokenSource(ManagedIdentityCredential(client_id=client_id))
    if mode == "default":
        return AzureIdentityTokenSource(DefaultAzureCredential(managed_identity_client_id=client_id))
    raise ValueError(f"unknown SYNC_AUTH mode {auth_mode!r} (managed-identity, default or static)")


def storage_credential(settings: Settings) -> Any:
    """Identity-based AzureWebJobsStorage (no keys): the same credential the app authenticates with."""
    if settings.managed_identity_client_id:
        return ManagedIdentityCredential(client_id=settings.managed_identity_client_id)
    return DefaultAzureCredential()
