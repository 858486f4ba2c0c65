"""Reading F&O's `$metadata` and checking it against what the product needs (d365/metadata.py,
requirements.py, preflight.py): against the stand-in's document (built from a real environment's
entities), documents that differ, hostile documents, and the once-per-process cache."""

from __future__ import annotations

import pytest

from simulators.fno.state import FnoState
from sync_core.d365 import preflight
from sync_core.d365.client import FnoClient
from sync_core.d365.metadata import MetadataError, MetadataReader, ServiceMetadata
from sync_core.d365.requirements import ServiceCheck, check_service, properties_needed
from tests.d365.conftest import TOKEN

LINKS = "ActivityParentLinks"


def _parse(document: bytes, chunk: int = 997) -> ServiceMetadata:
    reader = MetadataReader(properties_needed(LINKS))
    for start in range(0, len(document), chunk):  # as it streams in, cut anywhere
        reader.feed(document[start : start + chunk])
    return reader.finish()


def _stand_in_document(state: FnoState) -> bytes:
    from simulators.fno.metadata import metadata_document

    return metadata_document(state.entities.values())


def _problems(check: ServiceCheck) -> dict[str, tuple[str, ...]]:
    return {e.entity_set: e.problems for e in check.entities if e.problems}


def test_the_standard_entities_and_the_documented_parent_link_entity_pass() -> None:
    check = check_service(_parse(_stand_in_document(FnoState(TOKEN))), LINKS)
    assert check.read and _problems(check) == {}
    assert check.parent_links_usable and check.missing_required == []
    assert preflight.parent_links_warning(check) is None


def test_without_the_parent_link_entity_only_attendees_are_affected() -> None:
    check = check_service(_parse(_stand_in_document(FnoState(TOKEN, parent_links_collection=None))), LINKS)
    assert _problems(check) == {LINKS: ("not published (no such entity set in $metadata)",)}
    assert check.missing_required == [] and not check.parent_links_usable
    warning = preflight.parent_links_warning(check)
    assert warning is not None and "Attendees and associations are skipped" in warning


def test_a_parent_link_entity_of_another_shape_is_named_precisely() -> None:
    state = FnoState(TOKEN)
    state.publish_parent_links(LINKS, ("dataAreaId", "ActivityNumber", "ParentId"))
    document = _stand_in_document(state)
    document = document.replace(
        b'Name="IsPrimaryLink" Type="Microsoft.Dynamics.DataEntities.NoYes"',
        b'Name="IsPrimaryLink" Type="Edm.Boolean"',
    ).replace(b'<Member Name="BusRel" Value="2" />', b"")
    [links] = [e for e in check_service(_parse(document), LINKS).entities if e.entity_set == LINKS]
    assert links.problems == (
        "key is (dataAreaId, ActivityNumber, ParentId), needed (dataAreaId, ActivityNumber, ParentType, ParentId)",
        "IsPrimaryLink is of type Edm.Boolean, needed Microsoft.Dynamics.DataEntities.NoYes",
        "Microsoft.Dynamics.DataEntities.smmActivityParentType lacks member(s): BusRel",
    )


def test_the_key_order_does_not_matter() -> None:
    state = FnoState(TOKEN)
    state.publish_parent_links(LINKS, ("ParentId", "ParentType", "ActivityNumber", "dataAreaId"))
    assert check_service(_parse(_stand_in_document(state)), LINKS).parent_links_usable


def test_a_missing_standard_entity_or_field_is_required() -> None:
    state = FnoState(TOKEN)
    del state.entities["Workers"]
    document = _stand_in_document(state).replace(b'<Property Name="OutlookEntryId"', b'<Property Name="X"')
    check = check_service(_parse(document), LINKS)
    assert [(e.entity_set, e.problems) for e in check.missing_required] == [
        ("Activities", ("missing field(s): OutlookEntryId",)),
        ("Workers", ("not published (no such entity set in $metadata)",)),
    ]
    message = str(preflight.setup_error(check))
    assert "F&O entity Workers (mailbox owners): not published" in message
    assert "make sure they are public" in message


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><x>&b;</x>',
        b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>',
        b"<html><body>Sign in</body></html>",
        b"<edmx:Edmx",
        b"not xml at all",
    ],
    ids=["entity-expansion", "external-dtd", "not-csdl", "truncated", "not-xml"],
)
def test_hostile_or_foreign_documents_are_refused(document: bytes) -> None:
    with pytest.raises(MetadataError):
        _parse(document)


async def test_the_check_is_read_once_per_process(fno: FnoClient, fno_state: FnoState) -> None:
    now = [0.0]
    first, fresh = await preflight.service_check(fno, LINKS, clock=lambda: now[0])
    again, fresh_again = await preflight.service_check(fno, LINKS, clock=lambda: now[0])
    assert fresh and not fresh_again and again is first
    assert [r["path"] for r in fno_state.request_log] == ["/data/$metadata"]
    now[0] += preflight.KEEP_SECONDS + 1  # an hour on: read again (a newly published entity is seen)
    fno_state.publish_parent_links(None)
    later, fresh_later = await preflight.service_check(fno, LINKS, clock=lambda: now[0])
    assert fresh_later and not later.parent_links_usable
    assert len(fno_state.request_log) == 2


async def test_an_unreadable_document_is_a_warning_not_a_stop(
    fno: FnoClient, fno_state: FnoState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preflight, "MAX_METADATA_BYTES", 1000)
    check, _fresh = await preflight.service_check(fno, LINKS)
    assert not check.read and check.missing_required == []
    assert check.parent_links_usable  # nothing known: the product runs as before
    assert preflight.parent_links_warning(check) == (
        "F&O $metadata could not be read: F&O 200: GET $metadata: larger than 1000 bytes"
    )
    assert len(fno_state.request_log) == 1
