from __future__ import annotations

from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

from sync_core.auth import (
    AzureIdentityTokenSource,
    StaticTokenSource,
    token_source_from_settings,
)


class FakeCredential:
    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.calls: list[tuple[str, ...]] = []
        self.closed = False
        self.now = 1_000_000.0

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls.append(scopes)
        return AccessToken(f"token-{len(self.calls)}", int(self.now + self.lifetime))

    async def close(self) -> None:
        self.closed = True


async def test_static_token_source_returns_its_token_for_any_scope() -> None:
    source = StaticTokenSource("sandbox-token")
    assert await source.get_token("https://graph.microsoft.com/.default") == "sandbox-token"
    assert "sandbox-token" not in repr(source)


def test_static_token_source_rejects_empty_token() -> None:
    with pytest.raises(ValueError):
        StaticTokenSource("  ")


async def test_azure_identity_source_caches_until_near_expiry() -> None:
    credential = FakeCredential(lifetime=3600)
    clock = [credential.now]
    source = AzureIdentityTokenSource(credential, clock=lambda: clock[0])  # type: ignore[arg-type]
    scope = "https://graph.microsoft.com/.default"

    assert await source.get_token(scope) == "token-1"
    clock[0] += 3000  # 600 s left: still fresh
    assert await source.get_token(scope) == "token-1"
    clock[0] += 400  # 200 s left: inside the refresh margin
    credential.now = clock[0]
    assert await source.get_token(scope) == "token-2"
    assert credential.calls == [(scope,), (scope,)]


async def test_azure_identity_source_caches_per_scope_and_closes_credential() -> None:
    credential = FakeCredential(lifetime=3600)
    source = AzureIdentityTokenSource(credential, clock=lambda: credential.now)  # type: ignore[arg-type]
    await source.get_token("https://graph.microsoft.com/.default")
    await source.get_token("https://contoso.operations.dynamics.com/.default")
    assert len(credential.calls) == 2
    await source.close()
    assert credential.closed


async def test_settings_static_needs_a_token() -> None:
    source = token_source_from_settings("static", "abc")
    assert await source.get_token("x") == "abc"
    with pytest.raises(ValueError):
        token_source_from_settings("static", None)


@pytest.mark.parametrize(
    ("mode", "credential_type"),
    [("managed-identity", ManagedIdentityCredential), ("default", DefaultAzureCredential)],
)
async def test_settings_azure_modes_wrap_the_right_credential(mode: str, credential_type: type) -> None:
    source = token_source_from_settings(mode, None, "00000000-0000-0000-0000-000000000001")
    assert isinstance(source, AzureIdentityTokenSource)
    assert isinstance(source._credential, credential_type)
    await source.close()


def test_settings_unknown_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="SYNC_AUTH"):
        token_source_from_settings("kerberos", None)
