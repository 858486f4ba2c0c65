"""Who may reach the console, and what every answer carries: the local one-time token, the Azure
principal, CSRF on every action, no caching, escaping of what comes from F&O, Graph and the state."""

from __future__ import annotations

import asyncio
import http.client
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import azure.functions as func
import pytest

from sync_core.console import azure
from sync_core.console.auth import encode_principal
from tests.console.conftest import Running, off_loop, request
from tests.ops.helpers import read

ALICE = "alice@contoso.com"
GROUP = "5f0c6a2e-operators"


def test_local_console_refuses_without_the_token_and_the_token_works_once(console: Running) -> None:
    assert request(console, "GET", "/").status == 401
    assert request(console, "GET", "/?token=wrong").status == 401
    assert request(console, "GET", "/static/console.css").status == 401
    token_path = console.served.url.split(console.root, 1)[1]
    first = request(console, "GET", token_path)
    assert first.status == 303
    assert request(console, "GET", token_path).status == 401  # spent
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert console.served.url.startswith("http://127.0.0.1:")


def test_every_answer_forbids_caching_and_inline_script(signed_in: tuple[Running, str, str]) -> None:
    console, cookie, _ = signed_in
    for path in ("/", f"/mailbox?m={ALICE}", "/chart", "/nowhere"):
        response = request(console, "GET", path, cookie=cookie)
        assert response.headers["Cache-Control"] == "no-store", path
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert request(console, "GET", "/nowhere", cookie=cookie).status == 404


def test_an_action_without_the_csrf_token_is_refused(signed_in: tuple[Running, str, str]) -> None:
    console, cookie, csrf = signed_in
    pause = {"action": "pause", "mailbox": ALICE}
    assert request(console, "POST", "/action", cookie=cookie, form=pause).status == 403
    assert request(console, "POST", "/action", cookie=cookie, form={**pause, "csrf": "forged"}).status == 403
    session_only = cookie.split(";", 1)[0]  # a cross-site form: the SameSite cookie is not sent
    assert (
        request(console, "POST", "/action", cookie=session_only, form={**pause, "csrf": csrf}).status == 403
    )
    record = off_loop(lambda: read(console.tenant, lambda s: s.get_mailbox(ALICE)))
    assert record is not None and not record.paused
    assert request(console, "POST", "/action", cookie=cookie, form={**pause, "csrf": csrf}).status == 200
    record = off_loop(lambda: read(console.tenant, lambda s: s.get_mailbox(ALICE)))
    assert record is not None and record.paused


def test_what_comes_from_the_services_is_escaped(signed_in: tuple[Running, str, str]) -> None:
    console, cookie, _ = signed_in
    reason = "<script>alert('x')</script> & more"

    async def fail(store: object) -> None:
        now = datetime.now(UTC)
        await store.record_failure("task", ALICE, "usmf|X-1", reason, now)  # type: ignore[attr-defined]

    off_loop(lambda: read(console.tenant, fail))
    parts = urlsplit(console.served.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
    connection.request("GET", f"/mailbox?m={ALICE}", headers={"Cookie": cookie})
    body = connection.getresponse().read().decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in body


def _azure_request(headers: dict[str, str], path: str = "") -> func.HttpResponse:
    request = func.HttpRequest(
        method="GET",
        url=f"https://sync.example/api/console/{path}",
        headers=headers,
        body=b"",
        route_params={"path": path},
    )
    return asyncio.run(azure.on_request(request))


def test_azure_console_checks_the_signed_in_principal(
    console: Running, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {**console.tenant.environ, **console.tenant.extra_env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SYNC_CONSOLE_GROUP_ID", GROUP)
    monkeypatch.chdir(tmp_path)  # no local.settings.json
    forged = {"X-MS-CLIENT-PRINCIPAL": encode_principal("ann@contoso.com", groups=(GROUP,))}
    closed_without_auth = off_loop(lambda: _azure_request(forged))
    assert closed_without_auth.status_code == 403  # authentication off: the header could be forged
    assert b"App Service authentication is off" in closed_without_auth.get_body()
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")

    def answers() -> list[func.HttpResponse]:
        return [
            _azure_request({}),
            _azure_request({"X-MS-CLIENT-PRINCIPAL": "not base64 json"}),
            _azure_request({"X-MS-CLIENT-PRINCIPAL": encode_principal("eve@contoso.com", groups=("other",))}),
            _azure_request({"X-MS-CLIENT-PRINCIPAL": encode_principal("ann@contoso.com", groups=(GROUP,))}),
            _azure_request(
                {"X-MS-CLIENT-PRINCIPAL": encode_principal("ann@contoso.com", groups=(GROUP,))},
                "static/console.js",
            ),
        ]

    nobody, garbled, outsider, admin, script = off_loop(answers)
    assert (nobody.status_code, garbled.status_code, outsider.status_code) == (401, 401, 403)
    assert b"alice@contoso.com" not in outsider.get_body()
    assert admin.status_code == 200
    page = admin.get_body().decode()
    assert "Signed in as <strong>ann@contoso.com</strong>" in page and "alice@contoso.com" in page
    assert 'href="/api/console/mailbox?m=alice%40contoso.com"' in page
    assert "__Host-console_csrf=" in admin.headers["Set-Cookie"] and "Secure" in admin.headers["Set-Cookie"]
    assert admin.headers["Cache-Control"] == "no-store"
    assert script.status_code == 200 and script.mimetype.startswith("text/javascript")
    monkeypatch.delenv("SYNC_CONSOLE_GROUP_ID")
    monkeypatch.setenv("SYNC_CONSOLE_ROLE", "Sync.Admin")
    by_role = off_loop(
        lambda: _azure_request(
            {"X-MS-CLIENT-PRINCIPAL": encode_principal("ann@contoso.com", roles=("Sync.Admin",))}
        )
    )
    assert by_role.status_code == 200
    monkeypatch.delenv("SYNC_CONSOLE_ROLE")  # nobody configured: nobody allowed
    closed = off_loop(
        lambda: _azure_request(
            {"X-MS-CLIENT-PRINCIPAL": encode_principal("ann@contoso.com", groups=(GROUP,))}
        )
    )
    assert closed.status_code == 403 and b"SYNC_CONSOLE_GROUP_ID" in closed.get_body()
