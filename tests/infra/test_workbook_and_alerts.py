"""The workbook and the alert rules are deployed, and every query reads telemetry the app really emits
(metric names and dimensions from sync_core/telemetry/names.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from sync_core.telemetry import names
from tests.infra.bicep import INFRA, ROOT, accessor, function, module_path, one_resource, parse, resources

WORKBOOK_JSON = json.loads((INFRA / "workbook.json").read_text(encoding="utf-8"))
ALERTS = parse(module_path("alerts"))
MAIN = parse(INFRA / "main.bicep")
ATTRIBUTE_KEYS = {value for key, value in vars(names).items() if key.isupper() and isinstance(value, str)}


def _workbook_queries() -> dict[str, str]:
    return {item["name"]: item["content"]["query"] for item in WORKBOOK_JSON["items"] if item["type"] == 3}


def _alert_queries() -> dict[str, str]:
    return {name: value["value"] for name, value in ALERTS["variables"].items() if name.endswith("Query")}


def _metrics_in(query: str) -> set[str]:
    return set(re.findall(r'name == "(sync\.[\w.]+)"', query))


def _dimensions_in(query: str) -> set[str]:
    return set(re.findall(r'customDimensions\["([^"]+)"\]', query))


def test_workbook_is_a_workbook_on_application_insights() -> None:
    assert WORKBOOK_JSON["version"] == "Notebook/1.0"
    assert WORKBOOK_JSON["fallbackResourceIds"] == ["__APP_INSIGHTS_ID__"]
    for item in WORKBOOK_JSON["items"]:
        if item["type"] == 3:
            assert item["content"]["resourceType"] == "microsoft.insights/components"
            assert item["content"]["timeContextFromParameter"] == "TimeRange"
    parameters = next(i for i in WORKBOOK_JSON["items"] if i["type"] == 9)["content"]["parameters"]
    assert [p["name"] for p in parameters] == ["TimeRange"]


def test_workbook_is_deployed_with_its_resource_filled_in() -> None:
    workbook = parse(module_path("workbook"))
    body = one_resource(workbook, "Microsoft.Insights/workbooks")
    assert body["kind"] == "shared"
    assert body["properties"]["category"] == "workbook"
    assert body["properties"]["sourceId"] == "appInsightsId"
    content = function(workbook["variables"]["content"]["value"], "replace")
    assert content is not None
    loaded = function(content["original_string"], "load_text_content")
    assert loaded is not None and loaded["file_path"] == "../workbook.json"
    assert content["old_string"] == "__APP_INSIGHTS_ID__" and content["new_string"] == "appInsightsId"
    assert "workbook" in MAIN["modules"]


def test_workbook_covers_health_failures_throughput_latency() -> None:
    queries = _workbook_queries()
    used = set().union(*(_metrics_in(q) for q in queries.values()))
    assert set(names.METRICS) <= used, f"not shown: {sorted(set(names.METRICS) - used)}"
    assert "by mailbox, kind" in queries["mailbox-health"]  # health per mailbox and kind
    assert names.REASON in _dimensions_in(queries["failures-by-reason"])
    assert "timechart" in {i["content"]["visualization"] for i in WORKBOOK_JSON["items"] if i["type"] == 3}
    assert 'name startswith "sync "' in queries["cycles"] and names.CYCLE_ID in queries["cycles"]


def test_queries_use_only_emitted_metrics_and_dimensions() -> None:
    for where, query in {**_workbook_queries(), **_alert_queries()}.items():
        assert _metrics_in(query) <= set(names.METRICS), f"{where}: unknown metric"
        assert _dimensions_in(query) <= ATTRIBUTE_KEYS, f"{where}: unknown dimension"


def _rules() -> dict[str, dict[str, Any]]:
    return resources(ALERTS, "Microsoft.Insights/scheduledQueryRules")


def _rule_query(rule: dict[str, Any]) -> str:
    """The rule's query text with its replace() placeholders filled by their parameter names."""
    value = rule["properties"]["criteria"]["allOf"][0]["query"]
    if isinstance(value, str):
        return str(ALERTS["variables"][value]["value"]) if value in ALERTS["variables"] else value
    parameters = function(value, "replace")
    assert parameters is not None
    inner = _rule_query({"properties": {"criteria": {"allOf": [{"query": parameters["original_string"]}]}}})
    new = function(parameters["new_string"], "string")
    return inner.replace(
        parameters["old_string"], f"<{new['value_to_convert'] if new else parameters['new_string']}>"
    )


def test_four_alert_rules_on_application_insights() -> None:
    rules = _rules()
    assert set(rules) == {"poisonAlert", "failureRateAlert", "staleMailboxAlert", "deletionsHeldAlert"}
    for rule in rules.values():
        assert rule["kind"] == "LogAlert"
        assert rule["properties"]["scopes"] == ["appInsightsId"]
        assert rule["properties"]["enabled"] is True
        assert rule["properties"]["actions"] == {"actionGroups": "actionGroups"}
    assert "alerts" in MAIN["modules"]


def test_poison_alert_watches_the_poison_queues() -> None:
    query = _rule_query(_rules()["poisonAlert"])
    assert f'name == "{names.QUEUE_DEPTH}"' in query and 'endswith "-poison"' in query
    dimensions = _rules()["poisonAlert"]["properties"]["criteria"]["allOf"][0]["dimensions"]
    assert [d["name"] for d in dimensions] == ["queue"]


def test_failure_rate_alert_compares_failed_to_all_messages() -> None:
    query = _rule_query(_rules()["failureRateAlert"])
    assert f'name == "{names.MESSAGES}"' in query
    assert f'outcome == "{names.OUTCOME_FAILED}"' in query
    assert "<failureRateMinMessages>" in query and "<failureRatePercent>" in query


def test_stale_mailbox_alert_uses_the_registry_sync_age() -> None:
    rule = _rules()["staleMailboxAlert"]
    query = _rule_query(rule)
    assert f'name == "{names.MAILBOX_SYNC_AGE}"' in query and "<mailboxStaleMinutes>" in query
    assert "now()" in query  # the age keeps growing when reports stop
    dimensions = rule["properties"]["criteria"]["allOf"][0]["dimensions"]
    assert [d["name"] for d in dimensions] == ["mailbox"]
    params = MAIN["modules"]["alerts"]["config"]["params"]
    assert params["mailboxStaleMinutes"] == "mailboxStaleMinutes"


def test_deletions_held_alert_fires_per_mailbox_and_kind_while_held() -> None:
    rule = _rules()["deletionsHeldAlert"]
    query = _rule_query(rule)
    assert f'name == "{names.DELETIONS_HELD}"' in query
    # The latest report decides: a release sets the gauge to 0 and the alert resolves.
    assert "arg_max(timestamp, value)" in query and "where value > 0" in query
    dimensions = rule["properties"]["criteria"]["allOf"][0]["dimensions"]
    assert [d["name"] for d in dimensions] == ["mailbox", "kind"]
    assert "approve-deletes" in rule["properties"]["description"]


def test_email_action_group_only_when_an_address_is_given() -> None:
    group = ALERTS["resources"]["actionGroup"]["config"]
    negated = group["condition"]["operator"]
    assert negated["type"] == "not"
    assert function(negated["operands"]["bool_value"], "empty") == {"item_to_test": "alertEmail"}
    assert group["config"]["properties"]["emailReceivers"][0]["emailAddress"] == "alertEmail"
    chosen = ALERTS["variables"]["actionGroups"]["value"]["operator"]["operands"]
    assert function(chosen["condition"], "empty") == {"item_to_test": "alertEmail"}
    assert chosen["true_value"] == [] and accessor(chosen["false_value"][0]) == "actionGroup.id"


def test_azure_yaml_deploys_the_function_app_and_grants_permissions() -> None:
    document = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert document["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    service = document["services"]["sync"]
    assert service == {"project": ".", "language": "python", "host": "function"}
    site = one_resource(parse(module_path("functionapp")), "Microsoft.Web/sites")
    assert function(site["tags"], "union") == {"arg_1": "tags", "arg_2": {"azd-service-name": "sync"}}
    hook = document["hooks"]["postprovision"]
    assert "scripts/grant-graph-permissions.sh" in hook["posix"]["run"]
    assert "scripts/grant-graph-permissions.ps1" in hook["windows"]["run"]
    assert (ROOT / "scripts" / "grant-graph-permissions.sh").is_file()
    assert (ROOT / "scripts" / "grant-graph-permissions.ps1").is_file()
    outputs = MAIN["outputs"]
    assert {"SYNC_IDENTITY_PRINCIPAL_ID", "SYNC_IDENTITY_CLIENT_ID", "AZURE_FUNCTION_APP_NAME"} <= set(
        outputs
    )


def test_deployment_package_leaves_development_files_behind() -> None:
    ignored = set((ROOT / ".funcignore").read_text(encoding="utf-8").split())
    assert {"tests", "simulators", "infra", "scripts", ".azure", "local.settings.json"} <= ignored
