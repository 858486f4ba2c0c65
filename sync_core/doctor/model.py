"""A doctor's finding: what was checked, the verdict, what was seen and what a person should do next."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

EXIT_OK, EXIT_WARNINGS, EXIT_CONFIG, EXIT_UNUSABLE = 0, 1, 2, 3


class Verdict(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    area: str  # "settings", "F&O", "Graph", "mailbox alice@contoso.com", "shared list North"
    check: str
    verdict: Verdict
    detail: str
    next_step: str = ""
    # An error that leaves the whole service unusable (exit 3), not one setting or one mailbox (exit 2).
    unusable: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "area": self.area,
            "check": self.check,
            "verdict": self.verdict.value,
            "detail": self.detail,
            "nextStep": self.next_step,
        }
        out.update(self.extra)
        return out


def ok(area: str, check: str, detail: str, **extra: Any) -> Finding:
    return Finding(area, check, Verdict.OK, detail, extra=extra)


def warning(area: str, check: str, detail: str, next_step: str, **extra: Any) -> Finding:
    return Finding(area, check, Verdict.WARNING, detail, next_step, extra=extra)


def error(
    area: str, check: str, detail: str, next_step: str, *, unusable: bool = False, **extra: Any
) -> Finding:
    return Finding(area, check, Verdict.ERROR, detail, next_step, unusable=unusable, extra=extra)


def exit_code(findings: list[Finding]) -> int:
    """3 when a service is unusable, 2 for any other error (configuration), 1 for warnings, else 0."""
    errors = [f for f in findings if f.verdict is Verdict.ERROR]
    if any(f.unusable for f in errors):
        return EXIT_UNUSABLE
    if errors:
        return EXIT_CONFIG
    return EXIT_WARNINGS if any(f.verdict is Verdict.WARNING for f in findings) else EXIT_OK
