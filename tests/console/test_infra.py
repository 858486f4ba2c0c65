"""The console's deployment: App Service authentication (authsettingsV2) with Entra ID in front of the app,
restricted to the operators group, Graph's notification endpoints left anonymous, and the function route."""

from __future__ import annotations

import ast
from typing import Any

from tests.infra.bicep import INFRA, ROOT, module_path, parse, resources

APP = parse(module_path("functionapp"))
MAIN = parse(INFRA / "main.bicep")


def _auth() -> dict[str, Any]:
    auth = resources(APP, "Microsoft.Web/sites/config")["authSettings"]
    assert auth["condition"]["operator"]["type"] == "not"  # only when a console registration is named
    config: dict[str, Any] = auth["config"]
    return config


def test_sign_in_is_required_with_entra_id_for_the_operators_group() -> None:
    auth = _auth()
    assert auth["name"] == "authsettingsV2" and auth["parent"] == "site"
    props = auth["properties"]
    assert props["platform"]["enabled"] is True
    validation = props["globalValidation"]
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "RedirectToLoginPage"
    # Graph sends no sign-in with its notifications (function_app.py checks their clientState instead).
    assert set(validation["excludedPaths"]) == {"/api/graph/notifications", "/api/graph/lifecycle"}
    entra = props["identityProviders"]["azureActiveDirectory"]
    assert entra["enabled"] is True and entra["registration"]["clientId"] == "consoleClientId"
    groups = entra["validation"]["defaultAuthorizationPolicy"]["allowedPrincipals"]["groups"]
    assert groups["operator"]["operands"]["false_value"] == ["operatorsGroupId"]
    assert props["login"]["tokenStore"]["enabled"] is False


def test_the_function_knows_who_is_allowed_and_main_passes_the_parameters() -> None:
    platform = APP["variables"]["platformSettings"]["value"]
    assert platform["SYNC_CONSOLE_GROUP_ID"] == "operatorsGroupId"
    assert platform["SYNC_CONSOLE_ROLE"] == "consoleRole"
    params = MAIN["modules"]["app"]["config"]["params"]
    assert params["consoleClientId"] == "consoleClientId" and params["operatorsGroupId"] == "operatorsGroupId"
    assert "SYNC_CONSOLE_URL" in MAIN["outputs"]


def test_function_app_routes_the_console() -> None:
    tree = ast.parse((ROOT / "function_app.py").read_text())
    routes = {
        keyword.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "route" and isinstance(keyword.value, ast.Constant)
    }
    assert "console/{*path}" in routes
