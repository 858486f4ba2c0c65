"""A kind's rules are one `KindRules` record (runtime/rules.py), and the pair's facts come from it alone."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import pytest

from sync_core.engine.decide import decide
from sync_core.engine.types import ABSENT, ActionKind, Policy, SideView
from sync_core.kinds import all_kinds
from sync_core.pipeline.facts import facts_of
from sync_core.runtime.context import SyncContext
from sync_core.runtime.kind import FnoItem
from sync_core.runtime.messages import SyncPair
from sync_core.runtime.rules import KindRules

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
RECORD = {"subject": "Review", "start": "2026-03-21T09:00:00Z", "end": "2026-03-21T10:00:00Z"}
RULE_NAMES = [f.name for f in fields(KindRules)]

# What each kind's record states differently from the defaults: a rule dropped from a record (or misspelt)
# would silently fall back to the default.
OWN = {
    "appointment": {
        "merge_groups",
        "fields_finished_after_create",
        "fields_needing_fno_row",
        "deletion_rule",
        "in_scope",
        "may_create_in_graph",
        "protects_graph_item",
        "names_graph_item",
        "graph_write_effects",
    },
    "task": {
        "merge_groups",
        "fields_needing_fno_row",
        "deletion_rule",
        "in_scope",
        "unlink_record_follows_stamp",
    },
    "contact": {
        "merge_groups",
        "fields_needing_graph_item",
        "fields_needing_fno_row",
        "graph_unmark_removes",
        "deletion_rule",
    },
}
OWN["shared_contact"] = OWN["contact"]


def test_every_kind_has_one_rules_record_and_no_rule_beside_it() -> None:
    kinds = all_kinds()
    assert sorted(OWN) == sorted(kinds)
    defaults = KindRules()
    for name, kind in kinds.items():
        assert isinstance(kind.rules, KindRules), name
        for rule in RULE_NAMES:
            assert not hasattr(kind, rule), (name, rule)  # the record only, never a second answer
        differing = {rule for rule in RULE_NAMES if getattr(kind.rules, rule) != getattr(defaults, rule)}
        assert differing == OWN[name], name


def _facts_verdict(rules: KindRules) -> Any:
    """The verdict on a marked F&O item with no partner and no link: a create in Exchange, unless a rule says
    otherwise. The context is a bare one: facts_of asks the rules, nothing of a kind or of the services."""
    ctx = SyncContext(
        settings=None,  # type: ignore[arg-type]
        store=None,  # type: ignore[arg-type]
        graph=None,  # type: ignore[arg-type]
        fno=None,  # type: ignore[arg-type]
        queues=None,  # type: ignore[arg-type]
        kinds={},
    )
    fno = FnoItem(key="USMF|A1", row={}, version="1", extra={})
    fno_view = SideView(present=True, marked=True, record=RECORD, modified_at=NOW)
    message = SyncPair(kind="appointment", mailbox="alice@contoso.com", fno_key=fno.key)
    facts = facts_of(ctx, rules, message, None, fno, None, fno_view, ABSENT)
    return decide(
        snapshot=None,
        fno=fno_view,
        graph=ABSENT,
        policy=Policy.NEWEST,
        deletion_rule=rules.deletion_rule,
        now=NOW,
        groups=rules.merge_groups,
        facts=facts,
    )


def test_the_defaults_allow_the_create() -> None:
    assert _facts_verdict(KindRules()).action is ActionKind.CREATE_IN_GRAPH


@pytest.mark.parametrize(
    ("rules", "reason"),
    [
        (KindRules(may_create_in_graph=lambda record: False), "not created in Exchange by this kind"),
        (KindRules(in_scope=lambda ctx, record: False), "not in scope"),
    ],
)
def test_the_record_alone_decides_the_rules(rules: KindRules, reason: str) -> None:
    decision = _facts_verdict(rules)
    assert (decision.action, decision.reason, decision.untouched) == (ActionKind.NOTHING, reason, True)
