"""The e-mail import map: Graph message -> EmailActivity -> F&O Activities body (docs/spec.md §3.3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_core.model.email import (
    EmailMapError,
    activity_body,
    body_text,
    candidate_addresses,
    email_from_message,
    entry_id,
    has_category,
    replace_category,
)
from sync_core.model.email_html import html_to_text
from sync_core.model.text import BODY_LIMIT, TRUNCATION_MARKER


def _who(address: Any) -> dict[str, Any]:
    return {"emailAddress": {"address": address, "name": "x"}}


def _message(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "AAMk1",
        "internetMessageId": "<m1@fabrikam.com>",
        "subject": "Hello",
        "receivedDateTime": "2026-03-19T08:15:07Z",
        "body": {"contentType": "text", "content": "Body"},
        "sender": _who("Jane.O'Brien@Fabrikam.com"),
        "from": _who("jane.o'brien@fabrikam.com"),
        "toRecipients": [_who("alice@contoso.com"), _who("orders@fabrikam.com")],
        "ccRecipients": [_who("bob@contoso.com"), _who("sales@litware.com")],
        "bccRecipients": [_who("secret@example.org")],
    }
    base.update(fields)
    return base


# ---- HTML to text ------------------------------------------------------------------------------------------


def test_outlook_html_becomes_readable_text() -> None:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "<style>p.MsoNormal{margin:0}</style><script>alert(1)</script></head>\r\n<body>"
        "<!--[if gte mso 9]><xml><o:OfficeDocumentSettings/></xml><![endif]-->"
        '<div class="WordSection1"><p class="MsoNormal">Dear&nbsp;Alice,<o:p></o:p></p>'
        '<p class="MsoNormal">the   prices\r\n are:</p><table><tr><td>Item</td><td>Price</td></tr>'
        "<tr><td>Chair</td><td>&euro;&nbsp;40</td></tr></table>"
        "<ol><li>first</li><li>second</li></ol><p>Call me<br>tomorrow &amp; later.</p>"
        '<p><img src="cid:logo" alt="Logo"> <a href="https://x.example">our site</a></p></div></body></html>'
    )
    assert html_to_text(html) == (
        "Dear Alice,\n\nthe prices are:\n\nItem\tPrice\nChair\t€ 40\n\n- first\n- second\n\n"
        "Call me\ntomorrow & later.\n\nour site"
    )


def test_pre_keeps_its_lines_and_malformed_markup_does_not_raise() -> None:
    assert html_to_text("<pre>  a\n    b</pre>") == "  a\n    b"
    assert html_to_text("<div>open <p>para <b>bold") == "open\n\npara bold"
    assert html_to_text("</div></p><<<>>") == "<<<>>"
    assert html_to_text("") == ""


@given(st.text(max_size=300))
def test_html_to_text_never_raises(markup: str) -> None:
    assert isinstance(html_to_text(markup), str)


def test_body_text_converts_html_and_truncates_with_a_marker() -> None:
    assert body_text({"contentType": "html", "content": "<p>a</p><p>b</p>"}) == "a\n\nb"
    assert body_text({"contentType": "text", "content": "x <b> y\r\nz"}) == "x <b> y\nz"
    assert body_text(None) == body_text({"contentType": "html"}) == body_text("text") == ""
    huge = body_text({"contentType": "html", "content": "<p>" + "word " * 40_000 + "</p>"})
    assert len(huge) <= BODY_LIMIT and huge.endswith("\n" + TRUNCATION_MARKER)


@given(st.text(max_size=2000), st.sampled_from(["html", "text", "HTML", None]))
def test_body_text_is_bounded_and_clean(content: str, kind: str | None) -> None:
    text = body_text({"contentType": kind, "content": content})
    assert len(text) <= BODY_LIMIT
    assert "\r" not in text and "\x00" not in text


# ---- addresses, identity, times ----------------------------------------------------------------------------


def test_candidates_are_sender_from_to_cc_without_owner_tenant_bcc_or_junk() -> None:
    message = _message(ccRecipients=[_who("bob@contoso.com"), _who("not-an-address"), _who(None), "junk"])
    found = candidate_addresses(message, exclude=["Alice@Contoso.com"], exclude_domains=["contoso.com"])
    assert found == ("jane.o'brien@fabrikam.com", "orders@fabrikam.com")
    # Without domain exclusion a colleague stays; Bcc never counts.
    found = candidate_addresses(_message(), exclude=["alice@contoso.com"], exclude_domains=[])
    assert found == (
        "jane.o'brien@fabrikam.com",
        "orders@fabrikam.com",
        "bob@contoso.com",
        "sales@litware.com",
    )


def test_email_from_message_reads_what_the_activity_needs() -> None:
    email = email_from_message(
        _message(subject="  Re:\tOrder \x00 4711 "),
        exclude=["alice@contoso.com"],
        exclude_domains=["contoso.com"],
    )
    assert email.subject == "Re: Order 4711"
    assert email.received == datetime(2026, 3, 19, 8, 15, 7, tzinfo=UTC)
    assert email.internet_message_id == "<m1@fabrikam.com>"
    body = activity_body(
        email, company="usmf", personnel_number="000101", entry=entry_id(email.internet_message_id)
    )
    assert body == {
        "dataAreaId": "usmf",
        "Category": "Event",
        "Purpose": "Re: Order 4711",
        "StartDateTime": "2026-03-19T08:15:07Z",
        "EndDateTime": "2026-03-19T08:15:07Z",
        "OutlookText": "Body",
        "ResponsibleWorkerPersonnelNumber": "000101",
        "KeepSynchronized": "No",
        "OutlookEntryId": "<m1@fabrikam.com>",
    }


def test_received_time_falls_back_and_bad_messages_are_refused() -> None:
    email = email_from_message(
        _message(receivedDateTime=None, sentDateTime="2026-03-19T10:00:00.1234567+02:00")
    )
    assert email.received == datetime(2026, 3, 19, 8, 0, tzinfo=UTC)
    with pytest.raises(EmailMapError, match="internetMessageId"):
        email_from_message(_message(internetMessageId=None))
    with pytest.raises(EmailMapError, match="internetMessageId"):
        email_from_message(_message(internetMessageId="   "))
    with pytest.raises(EmailMapError, match="received time"):
        email_from_message(_message(receivedDateTime="soon", sentDateTime=None, createdDateTime=42))


def test_entry_id_is_the_message_id_or_a_digest() -> None:
    assert entry_id(" <a@b.c> ") == "<a@b.c>"
    long = "<" + "x" * 300 + "@b.c>"
    assert entry_id(long).startswith("imid-sha256:") and entry_id(long) == entry_id(long)
    assert entry_id("<a\x07@b.c>").startswith("imid-sha256:")
    assert entry_id("<a@b.c>") != entry_id("<A@b.c>")  # message ids are case-sensitive


def test_category_swap_touches_only_the_import_categories() -> None:
    assert has_category(["d365 import"], "D365 Import")
    assert not has_category("D365 Import", "D365 Import")
    assert replace_category(["Customer", "d365 IMPORT", "VIP", 3], ["D365 Import"], "D365 Imported") == [
        "Customer",
        "VIP",
        "D365 Imported",
    ]
    assert replace_category(None, ["D365 Import"], "D365 Import failed") == ["D365 Import failed"]
    assert replace_category(["D365 Imported", "D365 Import"], ["D365 Import"], "D365 Imported") == [
        "D365 Imported"
    ]
