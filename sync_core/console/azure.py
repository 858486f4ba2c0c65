"""The console in the Function app: `console/{*path}` (function_app.py), behind App Service authentication
(infra/modules/functionapp.bicep `authsettingsV2`). Who may use it: SYNC_CONSOLE_GROUP_ID (the operators
group's object id) or SYNC_CONSOLE_ROLE (an app role); the function checks the principal App Service hands
it (auth.py) and refuses without one."""

from __future__ import annotations

import os

import azure.functions as func

from sync_core.console.auth import PRINCIPAL_HEADER, Refused, admin_from_principal
from sync_core.console.routes import AzureSignIn, Console
from sync_core.console.web import Request, Response
from sync_core.settings import SettingsError, load_settings

BASE = "/api/console"  # host.json keeps the default route prefix "api"


def sign_in_from_environment() -> AzureSignIn:
    return AzureSignIn(
        group_id=os.environ.get("SYNC_CONSOLE_GROUP_ID", "").strip(),
        role=os.environ.get("SYNC_CONSOLE_ROLE", "").strip(),
    )


def authentication_on() -> bool:
    """App Service sets WEBSITE_AUTH_ENABLED=True when its authentication is on (what Microsoft.Identity.Web
    reads too). Off, nothing strips a principal header a client sends, so the console must stay closed."""
    return os.environ.get("WEBSITE_AUTH_ENABLED", "").strip().lower() == "true"


async def on_request(req: func.HttpRequest) -> func.HttpResponse:
    if not authentication_on():
        text = (
            "The console is closed: App Service authentication is off for this app. Deploy with the"
            " consoleClientId parameter (docs/console.md), or use `python -m sync_core console` locally."
        )
        return _answer(Response(403, text.encode(), "text/plain; charset=utf-8"))
    sign_in = sign_in_from_environment()
    try:
        settings = load_settings()
    except SettingsError as exc:
        try:  # who is not an administrator learns nothing about the configuration
            admin_from_principal(
                req.headers.get(PRINCIPAL_HEADER), group_id=sign_in.group_id, role=sign_in.role
            )
        except Refused as refused:
            return _answer(Response(refused.status, refused.message.encode(), "text/plain; charset=utf-8"))
        text = f"configuration error: {exc} (the app's settings, docs/admin-guide.md Configuration)"
        return _answer(Response(503, text.encode(), "text/plain; charset=utf-8"))
    console = Console(settings, sign_in, base=BASE)
    path = "/" + (req.route_params.get("path") or "").lstrip("/")
    request = Request(
        method=req.method.upper(),
        path=path,
        query={name: req.params[name] for name in req.params},
        headers={name.lower(): value for name, value in req.headers.items()},
        body=req.get_body() or b"",
    )
    return _answer(await console.handle(request))


def _answer(response: Response) -> func.HttpResponse:
    mimetype, _, charset = response.content_type.partition("; charset=")
    result = func.HttpResponse(
        body=response.body,
        status_code=response.status,
        headers={},
        mimetype=mimetype,
        charset=charset or "utf-8",
    )
    for name, value in response.all_headers():
        if name == "Set-Cookie":
            result.headers.add(name, value)  # one header per cookie
        else:
            result.headers[name] = value
    return result
