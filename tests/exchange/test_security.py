"""Bearer tokens go only to the Graph root, and only over https unless the root is a loopback stand-in."""

from __future__ import annotations

import httpx
import pytest

from sync_core.exchange import GraphError, InsecureGraphUrl, StaticTokenSource
from sync_core.exchange.transport import TokenSourceAccessTokenProvider, scope_for

from .fakes import GRAPH, TOKEN, make_client


@pytest.mark.parametrize(
    "url",
    ["http://graph.microsoft.com/v1.0", "http://10.0.0.5:8080/v1.0", "ftp://127.0.0.1/v1.0", "graph/v1.0"],
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(InsecureGraphUrl):
        make_client(lambda request: httpx.Response(200, json={}), base_url=url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8123/v1.0", "http://localhost:8123/v1.0", "http://[::1]:81/v1.0"]
)
async def test_static_token_goes_to_a_loopback_stand_in_over_http(url: str) -> None:
    client, recorder, _ = make_client(lambda request: httpx.Response(200, json={"id": "u"}), base_url=url)
    await client.get_user("someone@contoso.com")
    await client.close()
    assert recorder.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert str(recorder.requests[0].url).startswith(url)


async def test_real_graph_gets_the_token_over_https() -> None:
    client, recorder, _ = make_client(lambda request: httpx.Response(200, json={"id": "u"}))
    await client.get_user("someone@contoso.com")
    await client.close()
    assert recorder.requests[0].url.scheme == "https"
    assert recorder.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_provider_gives_no_token_to_other_hosts_and_none_over_plain_http() -> None:
    provider = TokenSourceAccessTokenProvider(StaticTokenSource(TOKEN), GRAPH)
    assert await provider.get_authorization_token(f"{GRAPH}/users/x") == TOKEN
    assert await provider.get_authorization_token("https://evil.example.com/v1.0/users/x") == ""
    with pytest.raises(InsecureGraphUrl):
        await provider.get_authorization_token("http://graph.microsoft.com/v1.0/users/x")


def test_scope_follows_the_cloud() -> None:
    assert scope_for(GRAPH) == "https://graph.microsoft.com/.default"
    assert scope_for("https://graph.microsoft.us/v1.0") == "https://graph.microsoft.us/.default"
    assert scope_for("http://127.0.0.1:9/v1.0") == "https://graph.microsoft.com/.default"


async def test_a_next_link_to_another_host_is_never_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"value": [], "@odata.nextLink": "https://evil.example.com/v1.0/x?$skiptoken=1"}
        )

    client, recorder, _ = make_client(handler)
    with pytest.raises(GraphError) as caught:
        await client.find_events_by_property(
            "a@contoso.com", "String {00000000-0000-0000-0000-000000000000} Name K", "v"
        )
    await client.close()
    assert caught.value.code == "ForeignLink"
    assert [r.url.host for r in recorder.requests] == ["graph.microsoft.com"]


async def test_request_json_refuses_absolute_urls_elsewhere() -> None:
    client, recorder, _ = make_client(lambda request: httpx.Response(200, json={}))
    with pytest.raises(ValueError):
        await client.request_json("GET", None, "https://evil.example.com/v1.0/users")
    await client.close()
    assert recorder.requests == []
