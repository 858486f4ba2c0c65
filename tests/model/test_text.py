from hypothesis import given
from hypothesis import strategies as st

from sync_core.model.text import (
    BODY_LIMIT,
    LINE_LIMIT,
    TRUNCATION_MARKER,
    html_to_text,
    normalise_addresses,
    normalise_body,
    normalise_categories,
    normalise_line,
)


def test_body_newlines_and_trailing_whitespace() -> None:
    assert normalise_body("a  \r\nb\t\rc\u2028d \n\n \n") == "a\nb\nc\nd"
    assert normalise_body("x\x00y\x1bz\ud83d") == "xyz"
    assert normalise_body(None) == ""
    assert normalise_body(42) == ""


def test_huge_body_is_cut_with_marker() -> None:
    body = normalise_body("😊" * (BODY_LIMIT + 10))
    assert len(body) == BODY_LIMIT
    assert body.endswith("\n" + TRUNCATION_MARKER)
    assert set(body[: -len(TRUNCATION_MARKER) - 1]) == {"😊"}
    assert normalise_body(body) == body


def test_body_at_the_limit_is_kept() -> None:
    body = "a" * BODY_LIMIT
    assert normalise_body(body) == body


@given(st.text())
def test_body_idempotent(text: str) -> None:
    once = normalise_body(text)
    assert normalise_body(once) == once
    assert len(once) <= BODY_LIMIT


@given(st.text())
def test_line_idempotent_and_single_line(text: str) -> None:
    once = normalise_line(text)
    assert normalise_line(once) == once
    assert "\n" not in once and len(once) <= LINE_LIMIT


def test_line() -> None:
    assert normalise_line("  Team\r\n  meeting\t ") == "Team meeting"
    assert normalise_line(None) == ""


def test_categories() -> None:
    raw = ["b", " A ", "a", "D365 Sync", "d365 sync", "x;y", "", None, 5, "Ärger"]
    assert normalise_categories(raw, exclude=["D365 Sync"]) == ("A", "b", "x", "y", "Ärger")


@given(st.lists(st.text()))
def test_categories_idempotent(raw: list[str]) -> None:
    once = normalise_categories(raw)
    assert normalise_categories(once) == once
    assert all(";" not in name and name for name in once)


def test_addresses() -> None:
    raw = [
        "Bob@Contoso.com",
        "bob@contoso.com ",
        "MAILTO:eve@x.org",
        "owner@contoso.com",
        "no-at",
        "@x",
        "a@",
        None,
        1,
    ]
    assert normalise_addresses(raw, exclude=["Owner@contoso.com"]) == ("bob@contoso.com", "eve@x.org")


def test_html_to_text() -> None:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html"><style>p{color:red}</style></head>'
        "<body><p>Hello&nbsp;<b>World</b>\r\n  again</p><div>Line&amp;2<br>Line 3</div><script>x()</script>"
        "</body></html>"
    )
    assert normalise_body(html_to_text(html)) == "Hello World again\n\nLine&2\nLine 3"


def test_html_to_text_from_graph_example(graph_example: dict) -> None:  # type: ignore[type-arg]
    text = html_to_text(graph_example["response"]["body"]["content"])
    assert text.startswith("New Product Regulations Strategy Online Touchpoint Meeting")
    assert "<" not in text and "&nbsp;" not in text
