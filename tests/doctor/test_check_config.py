"""`python -m sync_core check-config` (offline): malformed values are errors (exit 2) naming the setting,
names that look like ours but are not are warnings (exit 1) with a "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_core.cli import main
from sync_core.doctor.names import unknown_names

GOOD = {
    "D365_URL": "https://contoso.operations.dynamics.com",
    "SYNC_COMPANY": "usmf",
    "SYNC_MAILBOXES": "alice@contoso.com,bob@contoso.com",
}


def _check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, **env: str
) -> tuple[int, str]:
    for name in [n for n in __import__("os").environ if n.startswith(("SYNC_", "D365_", "GRAPH_"))]:
        monkeypatch.delenv(name)
    for name, value in {**GOOD, **env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    code = main(["check-config"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_good_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = _check(monkeypatch, capsys, tmp_path)
    assert code == 0 and "configuration OK" in out


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "D365_URL",
            "https://contoso.operations.dynamics.com/data",
            "D365_URL: must be the environment root without /data",
        ),
        (
            "D365_URL",
            "https://contoso.operations.dynamics.com/namespaces/x",
            "D365_URL: must be the environment root",
        ),
        ("D365_URL", "http://contoso.operations.dynamics.com", "D365_URL: must use https://"),
        ("GRAPH_URL", "http://graph.microsoft.com/v1.0", "GRAPH_URL: must use https://"),
        (
            "SYNC_MAILBOXES",
            "alice contoso.com",
            "SYNC_MAILBOXES: 'alice contoso.com' is not a mailbox address",
        ),
        (
            "SYNC_MAILBOXES",
            "alice@contoso.com;bob@contoso.com",
            "SYNC_MAILBOXES: 'alice@contoso.com;bob@contoso.com'",
        ),
    ],
)
def test_malformed_values_are_errors(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    value: str,
    message: str,
) -> None:
    code, out = _check(monkeypatch, capsys, tmp_path, **{name: value})
    assert code == 2
    assert message in out
    assert "Traceback" not in out


def test_plain_http_to_a_loopback_stand_in_is_allowed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _ = _check(
        monkeypatch,
        capsys,
        tmp_path,
        D365_URL="http://127.0.0.1:8081",
        GRAPH_URL="http://localhost:8080/v1.0",
    )
    assert code == 0


def test_misspelt_setting_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = _check(monkeypatch, capsys, tmp_path, SYNC_CONFLICT_POLCY="d365")
    assert code == 1
    assert (
        "SYNC_CONFLICT_POLCY is not a setting of this product and is ignored; did you mean SYNC_CONFLICT_POLICY?"
        in out
    )


def test_misspelt_setting_in_local_settings_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "local.settings.json").write_text('{"Values": {"SYNC_MAILBOX_GRUOP": "x"}}', encoding="utf-8")
    code, out = _check(monkeypatch, capsys, tmp_path)
    assert code == 1 and "did you mean SYNC_MAILBOX_GROUP?" in out


def test_only_our_prefixes_are_looked_at() -> None:
    found = {
        u.name: u.suggestion for u in unknown_names(["PATH", "HOME", "SYNC_SCHEDULE", "D365_URL", "GRAPH_UR"])
    }
    assert found == {"GRAPH_UR": "GRAPH_URL"}


def test_every_problem_is_shown_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = _check(
        monkeypatch,
        capsys,
        tmp_path,
        D365_URL="https://contoso.operations.dynamics.com/data",
        SYNC_MAILBOXES="alice contoso.com",
        SYNC_CONFLICT_POLCY="d365",
    )
    assert code == 2
    assert "D365_URL: must be the environment root" in out and "SYNC_MAILBOXES: 'alice contoso.com'" in out
    assert "did you mean SYNC_CONFLICT_POLICY" in out


def test_check_config_says_where_the_limits_are_kept(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    monkeypatch.delenv("AzureWebJobsStorage__accountName", raising=False)
    code, out = _check(monkeypatch, capsys, tmp_path, SYNC_FNO_MAX_CONCURRENT="40")
    assert code == 0
    assert "F&O 40 in flight and 5700 per 300 s" in out and "in this process (no Azure Storage" in out
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    code, out = _check(monkeypatch, capsys, tmp_path)
    assert code == 0 and "across all instances in the syncLimits table" in out


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "SYNC_LIMIT_LEASE_SECONDS",
            "0",
            "SYNC_LIMIT_LEASE_SECONDS: Input should be greater than or equal to 1",
        ),
        ("SYNC_FNO_MAX_CONCURRENT", "many", "SYNC_FNO_MAX_CONCURRENT: Input should be a valid integer"),
        ("SYNC_SHARED_LIMITS", "maybe", "SYNC_SHARED_LIMITS: Input should be a valid boolean"),
    ],
)
def test_malformed_limits_are_errors(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    value: str,
    message: str,
) -> None:
    code, out = _check(monkeypatch, capsys, tmp_path, **{name: value})
    assert code == 2 and message in out and "Traceback" not in out


def test_a_graph_limit_above_exchanges_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = _check(monkeypatch, capsys, tmp_path, SYNC_GRAPH_RATE_LIMIT="12000")
    assert code == 1 and "above Exchange's 10,000 requests per 10 minutes" in out
