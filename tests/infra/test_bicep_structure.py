"""Structural checks of infra/ with pycep-parser: the resources, settings, role assignments and Flex
Consumption rules the deployment must have. Names are checked against the app's own code."""

from __future__ import annotations

import json
import re
from typing import Any

from sync_core.limits.store import limits_table
from sync_core.settings import _SETTINGS
from tests.infra.bicep import (
    INFRA,
    ROOT,
    accessor,
    function,
    loop_of,
    module_path,
    one_resource,
    parse,
    resources,
    walk_keys,
)

MAIN = parse(INFRA / "main.bicep")
STORAGE = parse(module_path("storage"))
MONITORING = parse(module_path("monitoring"))
ROLES = parse(module_path("roles"))
APP = parse(module_path("functionapp"))
IDENTITY = parse(module_path("identity"))

# Role definition ids of Azure built-in roles (identical in every tenant).
BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"

# App settings the Flex Consumption plan does not accept (runtime and package are configured elsewhere).
FLEX_FORBIDDEN = {
    "WEBSITE_RUN_FROM_PACKAGE",
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "linuxFxVersion",
}
# Product settings deliberately not made app settings in Azure, and why.
NOT_IN_AZURE = {
    "SYNC_STATIC_TOKEN": "bearer token for local stand-ins; a token must never be an app setting",
    "SYNC_STATE_DIR": "folder of the embedded SQLite store; Azure uses the state tables",
    "AzureWebJobsStorage": "connection string with a key; identity-based __accountName settings instead",
}


def _param_default(document: dict[str, Any], name: str) -> Any:
    return document["parameters"][name]["default"]


def _sync_settings() -> dict[str, Any]:
    settings: dict[str, Any] = MAIN["variables"]["syncSettings"]["value"]
    return settings


def _platform_settings() -> dict[str, Any]:
    settings: dict[str, Any] = APP["variables"]["platformSettings"]["value"]
    return settings


# ---- Storage: queues, tables and the deployment container, no keys ----


def test_storage_account_accepts_no_keys() -> None:
    account = one_resource(STORAGE, "Microsoft.Storage/storageAccounts")
    properties = account["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True


def test_tables_match_the_state_store() -> None:
    """The tables created up front are exactly the ones TableStateStore opens, and the limits' table."""
    source = (ROOT / "sync_core" / "state" / "tables.py").read_text(encoding="utf-8")
    used = set(re.findall(r'get_table_client\(f"\{prefix\}(\w+)"\)', source))
    assert {"Links", "Cursors", "Mailboxes", "Audit", "Failures"} <= used
    used.add(limits_table(""))  # sync_core/limits/store.py: "<prefix>Limits"
    declared = STORAGE["variables"]["tableNames"]["value"]
    assert sorted(declared) == sorted(f"${{tablePrefix}}{suffix}" for suffix in used)
    assert loop_of(STORAGE, "tables")["array_name"] == "tableNames"
    assert (
        one_resource(STORAGE, "Microsoft.Storage/storageAccounts/tableServices/tables")["name"] == "tableName"
    )


def test_work_queues_and_their_poison_queues_are_created() -> None:
    loop = loop_of(STORAGE, "queues")
    concat = function(loop["array_name"], "concat")
    assert concat is not None and concat["arg_1"] == "queueNames"
    poison = function(concat["arg_2"], "map")
    assert poison is not None and poison["arg_1"] == "queueNames"
    assert poison["arg_2"]["detail"]["expression"] == "${q}-poison"
    queues = MAIN["modules"]["storage"]["config"]["params"]["queueNames"]
    assert queues == ["scanQueue", "itemQueue"]


def test_names_default_to_the_app_defaults() -> None:
    assert _param_default(MAIN, "tablePrefix") == _SETTINGS["SYNC_TABLE_PREFIX"][1]
    assert _param_default(MAIN, "scanQueue") == _SETTINGS["SYNC_SCAN_QUEUE"][1]
    assert _param_default(MAIN, "itemQueue") == _SETTINGS["SYNC_ITEM_QUEUE"][1]
    assert _param_default(MAIN, "maxAttempts") == int(str(_SETTINGS["SYNC_MAX_ATTEMPTS"][1]))
    assert MAIN["modules"]["storage"]["config"]["params"]["tablePrefix"] == "tablePrefix"


def test_deployment_container_is_created_and_used() -> None:
    container = one_resource(STORAGE, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container["name"] == "deploymentContainerName"
    assert container["properties"]["publicAccess"] == "None"
    passed = MAIN["modules"]["app"]["config"]["params"]["deploymentContainerUrl"]
    assert passed == "${storage.outputs.blobEndpoint}${deploymentContainerName}"
    assert (
        MAIN["modules"]["storage"]["config"]["params"]["deploymentContainerName"] == "deploymentContainerName"
    )


# ---- Monitoring ----


def test_application_insights_sits_on_log_analytics_with_entra_only_ingestion() -> None:
    workspace = one_resource(MONITORING, "Microsoft.OperationalInsights/workspaces")
    assert workspace["properties"]["sku"]["name"] == "PerGB2018"
    insights = one_resource(MONITORING, "Microsoft.Insights/components")
    assert accessor(insights["properties"]["WorkspaceResourceId"]) == "workspace.id"
    assert insights["properties"]["DisableLocalAuth"] is True
    assert insights["properties"]["IngestionMode"] == "LogAnalytics"


# ---- Identity and roles ----


def test_user_assigned_identity_exists_and_is_the_apps_only_identity() -> None:
    one_resource(IDENTITY, "Microsoft.ManagedIdentity/userAssignedIdentities")
    site = one_resource(APP, "Microsoft.Web/sites")
    assert site["identity"]["type"] == "UserAssigned"
    assert list(site["identity"]["userAssignedIdentities"]) == ["${identityId}"]
    params = MAIN["modules"]["app"]["config"]["params"]
    assert accessor(params["identityId"]) == "identity.outputs.id"
    assert accessor(params["identityClientId"]) == "identity.outputs.clientId"


def _assignments() -> list[dict[str, Any]]:
    found = []
    for symbol, body in resources(ROLES, "Microsoft.Authorization/roleAssignments").items():
        loop = ROLES["resources"][symbol]["config"].get("loop_type")
        if loop:
            roles = loop["detail"]["array_name"]
            if "operator" in roles:  # (empty(x) ? [] : list): the optional operator's roles
                roles = roles["operator"]["operands"]["false_value"]
            role_ids = [ROLES["variables"][r]["value"] for r in ROLES["variables"][roles]["value"]]
        else:
            ref = body["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
            role_ids = [ROLES["variables"][ref]["value"]]
        for role_id in role_ids:
            found.append(
                {
                    "symbol": symbol,
                    "role": role_id,
                    "scope": body["scope"],
                    "principal": body["properties"]["principalId"],
                    "type": body["properties"].get("principalType"),
                }
            )
    return found


def test_identity_has_storage_data_roles_on_its_account_and_publishes_metrics() -> None:
    app_roles = {(a["role"], a["scope"]) for a in _assignments() if a["principal"] == "identityPrincipalId"}
    assert app_roles == {
        (BLOB_DATA_OWNER, "storage"),
        (QUEUE_DATA_CONTRIBUTOR, "storage"),
        (TABLE_DATA_CONTRIBUTOR, "storage"),
        (MONITORING_METRICS_PUBLISHER, "appInsights"),
    }
    assert {a["type"] for a in _assignments() if a["principal"] == "identityPrincipalId"} == {
        "ServicePrincipal"
    }
    params = MAIN["modules"]["roles"]["config"]["params"]
    assert accessor(params["identityPrincipalId"]) == "identity.outputs.principalId"
    # The app must not start polling before its identity may read the queues.
    assert "roles" in MAIN["modules"]["app"]["config"]["dependsOn"]


def test_operator_gets_state_access_only_when_named() -> None:
    operator = [a for a in _assignments() if a["principal"] == "operatorPrincipalId"]
    assert {a["role"] for a in operator} == {QUEUE_DATA_CONTRIBUTOR, TABLE_DATA_CONTRIBUTOR}
    loop = ROLES["resources"]["operatorStorageAccess"]["config"]["loop_type"]["detail"]["array_name"]
    condition = loop["operator"]["operands"]
    assert function(condition["condition"], "empty") == {"item_to_test": "operatorPrincipalId"}
    assert condition["true_value"] == []


def test_operators_group_gets_state_access_only_when_named() -> None:
    group = [a for a in _assignments() if a["principal"] == "operatorsGroupId"]
    assert {a["role"] for a in group} == {QUEUE_DATA_CONTRIBUTOR, TABLE_DATA_CONTRIBUTOR}
    assert {a["type"] for a in group} == {"Group"} and {a["scope"] for a in group} == {"storage"}
    loop = ROLES["resources"]["operatorsGroupStorageAccess"]["config"]["loop_type"]["detail"]["array_name"]
    condition = loop["operator"]["operands"]
    assert function(condition["condition"], "empty") == {"item_to_test": "operatorsGroupId"}
    assert condition["true_value"] == []
    assert MAIN["modules"]["roles"]["config"]["params"]["operatorsGroupId"] == "operatorsGroupId"
    assert _param_default(MAIN, "operatorsGroupId") == ""


def test_storage_account_name_is_an_output_for_the_command_line() -> None:
    # docs/admin-guide.md: `--storage-account $(azd env get-value SYNC_STORAGE_ACCOUNT)`
    assert accessor(MAIN["outputs"]["SYNC_STORAGE_ACCOUNT"]["value"]) == "storage.outputs.name"


# ---- Function App on Flex Consumption ----


def test_plan_is_flex_consumption() -> None:
    plan = one_resource(APP, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    assert plan["properties"]["reserved"] is True


def test_runtime_is_python_in_function_app_config() -> None:
    site = one_resource(APP, "Microsoft.Web/sites")
    assert site["kind"] == "functionapp,linux"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "pythonVersion"}
    allowed = APP["parameters"]["pythonVersion"]["decorators"][0]
    assert allowed["type"] == "allowed" and allowed["argument"] == ["3.11", "3.12"]
    assert MAIN["parameters"]["pythonVersion"]["decorators"][0]["argument"] == ["3.11", "3.12"]
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }
    assert set(config["scaleAndConcurrency"]) == {"maximumInstanceCount", "instanceMemoryMB"}


def test_no_flex_forbidden_setting_anywhere() -> None:
    for path in sorted(INFRA.rglob("*.bicep")):
        keys = walk_keys(parse(path))
        assert not (keys & FLEX_FORBIDDEN), f"{path.name}: {sorted(keys & FLEX_FORBIDDEN)}"
    site = one_resource(APP, "Microsoft.Web/sites")
    assert "appSettings" not in site["properties"].get("siteConfig", {})  # one place: the config resource


def test_host_storage_is_identity_based() -> None:
    platform = _platform_settings()
    assert platform["AzureWebJobsStorage__accountName"] == "storageAccountName"
    assert platform["AzureWebJobsStorage__credential"] == "managedidentity"
    assert platform["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert "AzureWebJobsStorage" not in platform and "AzureWebJobsStorage" not in _sync_settings()
    assert "AzureWebJobsStorage" not in walk_keys(MAIN) | walk_keys(APP)


def test_telemetry_settings_use_entra_ingestion() -> None:
    platform = _platform_settings()
    assert platform["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "appInsightsConnectionString"
    assert (
        platform["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
        == "ClientId=${identityClientId};Authorization=AAD"
    )
    params = MAIN["modules"]["app"]["config"]["params"]
    assert accessor(params["appInsightsConnectionString"]) == "monitoring.outputs.connectionString"


def test_app_settings_are_product_settings_overridden_by_platform_settings() -> None:
    config = resources(APP, "Microsoft.Web/sites/config")["appSettings"]  # authSettings: tests/console
    assert config["name"] == "appsettings" and config["parent"] == "site"
    union = function(config["properties"], "union")
    assert union == {"arg_1": "syncSettings", "arg_2": "platformSettings"}
    assert MAIN["modules"]["app"]["config"]["params"]["syncSettings"] == "syncSettings"


def test_every_product_setting_is_an_app_setting() -> None:
    in_azure = set(_sync_settings()) | set(_platform_settings())
    missing = set(_SETTINGS) - in_azure - set(NOT_IN_AZURE)
    assert not missing, (
        f"settings {sorted(missing)} are not deployed: add them to syncSettings in infra/main.bicep "
        "(with a parameter), or to NOT_IN_AZURE here with the reason"
    )
    assert "SYNC_SCHEDULE" in in_azure  # read by the timer binding, not by settings.py
    unknown = {name for name in _sync_settings() if name not in _SETTINGS and name != "SYNC_SCHEDULE"}
    assert not unknown, f"syncSettings has names the app does not read: {sorted(unknown)}"


def test_identity_and_auth_settings() -> None:
    settings = _sync_settings()
    assert settings["SYNC_AUTH"] == "managed-identity"
    assert accessor(settings["SYNC_MANAGED_IDENTITY_CLIENT_ID"]) == "identity.outputs.clientId"
    assert settings["SYNC_TABLE_PREFIX"] == "tablePrefix"
    assert settings["SYNC_SCAN_QUEUE"] == "scanQueue" and settings["SYNC_ITEM_QUEUE"] == "itemQueue"


def test_max_attempts_drives_the_host_dequeue_count() -> None:
    platform = _platform_settings()
    dequeue = function(platform["AzureFunctionsJobHost__extensions__queues__maxDequeueCount"], "string")
    assert dequeue == {"value_to_convert": "maxDequeueCount"}
    assert MAIN["modules"]["app"]["config"]["params"]["maxDequeueCount"] == "maxAttempts"
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert host["extensions"]["queues"]["maxDequeueCount"] == _param_default(MAIN, "maxAttempts")


def test_parameter_constraints_follow_the_settings_validation() -> None:
    def bounds(name: str) -> dict[str, Any]:
        return {d["type"]: d["argument"] for d in MAIN["parameters"][name]["decorators"]}

    assert bounds("conflictPolicy")["allowed"] == ["newest", "d365", "exchange"]
    assert (bounds("windowDaysBack")["min_value"], bounds("windowDaysBack")["max_value"]) == (0, 3650)
    assert (bounds("windowDaysAhead")["min_value"], bounds("windowDaysAhead")["max_value"]) == (1, 3650)
    assert (bounds("scanQueue")["min_length"], bounds("scanQueue")["max_length"]) == (3, 56)
    assert (bounds("maxAttempts")["min_value"], bounds("maxAttempts")["max_value"]) == (1, 100)


# ---- F&O data events (docs/fno-events.md): off by default; a Service Bus queue the app reads with its identity ----

FNO_EVENTS = parse(module_path("fnoevents"))
SERVICE_BUS_DATA_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"


def test_fno_events_are_off_by_default_and_made_only_when_on() -> None:
    assert _param_default(MAIN, "fnoEvents") is False
    module = MAIN["modules"]["fnoEventsBus"]
    assert module["detail"]["path"] == "modules/fnoevents.bicep"
    assert module["config"]["condition"] == "fnoEvents"
    params = module["config"]["config"]["params"]
    assert accessor(params["identityPrincipalId"]) == "identity.outputs.principalId"
    assert function(_sync_settings()["SYNC_FNO_EVENTS"], "string") == {"value_to_convert": "fnoEvents"}
    # The app starts listening only once its identity may read the queue.
    assert "fnoEventsBus" in MAIN["modules"]["app"]["config"]["dependsOn"]


def test_fno_events_queue_is_the_triggers_and_dead_letters_after_its_delivery_count() -> None:
    import function_app  # noqa: F401 - the trigger's queue and connection are declared there

    source = (ROOT / "function_app.py").read_text(encoding="utf-8")
    queue = one_resource(FNO_EVENTS, "Microsoft.ServiceBus/namespaces/queues")
    assert queue["parent"] == "namespace" and queue["name"] == "queueName"
    assert f'queue_name="{_param_default(FNO_EVENTS, "queueName")}"' in source
    assert 'connection="FnoEvents"' in source
    assert 1 <= _param_default(FNO_EVENTS, "maxDeliveryCount") <= 20
    assert queue["properties"]["maxDeliveryCount"] == "maxDeliveryCount"


def test_fno_gets_a_send_only_rule_and_the_app_only_receives_with_its_identity() -> None:
    rule = one_resource(FNO_EVENTS, "Microsoft.ServiceBus/namespaces/authorizationRules")
    assert rule["properties"]["rights"] == ["Send"]
    access = one_resource(FNO_EVENTS, "Microsoft.Authorization/roleAssignments")
    assert access["scope"] == "queue" and access["properties"]["principalId"] == "identityPrincipalId"
    role = access["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
    assert FNO_EVENTS["variables"][role]["value"] == SERVICE_BUS_DATA_RECEIVER
    assert access["properties"]["principalType"] == "ServicePrincipal"


def test_fno_events_trigger_connection_is_identity_based_and_disabled_while_off() -> None:
    platform = _platform_settings()
    assert platform["FnoEvents__fullyQualifiedNamespace"] == "fnoEventsNamespace"
    assert platform["FnoEvents__credential"] == "managedidentity"
    assert platform["FnoEvents__clientId"] == "identityClientId"
    disabled = platform["AzureWebJobs.fno_data_events.Disabled"]["operator"]["operands"]
    assert function(disabled["condition"], "empty") == {"item_to_test": "fnoEventsNamespace"}
    assert (disabled["true_value"], disabled["false_value"]) == ("true", "false")
    namespace = MAIN["modules"]["app"]["config"]["params"]["fnoEventsNamespace"]["operator"]["operands"]
    assert namespace["condition"] == "fnoEvents" and namespace["false_value"] == ""
