"""Normalisation of the free-text parts of a record: bodies, one-line strings, categories, addresses.

Every function takes hostile input (None, wrong types, control characters, lone surrogates,
megabyte bodies) and returns the canonical form; each is idempotent (f(f(x)) == f(x)), which is
what keeps content hashes stable across round trips.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html.parser import HTMLParser
from typing import Any

BODY_LIMIT = 64_000
"""Largest canonical body, in characters (code points), marker included."""

TRUNCATION_MARKER = "[truncated by D365 sync]"
LINE_LIMIT = 255
"""Largest subject, location or category name, in characters (Exchange's own limit for subjects)."""
ADDRESS_LIMIT = 320
HTML_INPUT_LIMIT = 2_000_000
"""HTML beyond this many characters is not parsed (the text would be cut at BODY_LIMIT anyway)."""

# C0/C1 controls except tab and newline, and lone UTF-16 surrogates (they cannot be encoded).
_UNWANTED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_TRAILING_SPACE = re.compile(r"[ \t\u00a0]+$", re.MULTILINE)
_SPACES = re.compile(r"[\s\u00a0]+")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


def normalise_body(value: Any) -> str:
    """Plain text body: newlines as \\n, no trailing whitespace, capped at BODY_LIMIT characters."""
    if not isinstance(value, str):
        return ""
    text = _LINE_BREAKS.sub("\n", value)
    text = _UNWANTED.sub("", text)
    text = _TRAILING_SPACE.sub("", text).rstrip()
    if len(text) <= BODY_LIMIT:
        return text
    suffix = "\n" + TRUNCATION_MARKER
    return text[: BODY_LIMIT - len(suffix)].rstrip() + suffix


def normalise_line(value: Any, limit: int = LINE_LIMIT) -> str:
    """One-line text (subject, location): whitespace runs become one space, trimmed, capped."""
    if not isinstance(value, str):
        return ""
    text = _UNWANTED.sub("", value)
    text = _SPACES.sub(" ", text).strip()
    return text[:limit].rstrip()


def normalise_categories(values: Iterable[Any], *, exclude: Iterable[str] = ()) -> tuple[str, ...]:
    """Category names: split on ';' (F&O's separator), trimmed, without `exclude`, deduplicated
    and sorted case-insensitively (Outlook treats categories case-insensitively)."""
    excluded = {normalise_line(name).casefold() for name in exclude}
    names: set[str] = set()
    for value in values:
        if not isinstance(value, str):
            continue
        for part in value.split(";"):
            name = normalise_line(part)
            if name and name.casefold() not in excluded:
                names.add(name)
    result: list[str] = []
    seen: set[str] = set()
    for name in sorted(names, key=lambda n: (n.casefold(), n)):
        if name.casefold() not in seen:
            seen.add(name.casefold())
            result.append(name)
    return tuple(result)


def split_categories(value: Any) -> list[str]:
    """F&O OutlookCategories text to a list (raw, not yet normalised)."""
    return value.split(";") if isinstance(value, str) else []


def normalise_address(value: Any) -> str:
    """Lower-case e-mail address, or "" when it does not look like one."""
    if not isinstance(value, str):
        return ""
    text = value.strip().lower()
    if text.startswith("mailto:"):
        text = text[len("mailto:") :]
    if (
        not 3 <= len(text) <= ADDRESS_LIMIT
        or text.count("@") != 1
        or text.startswith("@")
        or text.endswith("@")
        or _SPACES.search(text)
        or _UNWANTED.search(text)
    ):
        return ""
    return text


def normalise_addresses(values: Iterable[Any], *, exclude: Iterable[str] = ()) -> tuple[str, ...]:
    """Lower-cased, valid-looking, deduplicated and sorted addresses, without `exclude`."""
    excluded = {normalise_address(a) for a in exclude}
    found = {normalise_address(v) for v in values}
    return tuple(sorted(found - excluded - {""}))


class _TextExtractor(HTMLParser):
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr"}
    )
    _HIDDEN = frozenset({"head", "style", "script", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden_depth += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in self._BLOCK and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            # HTML collapses source whitespace; line breaks come only from tags.
            self.parts.append(_SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """Readable plain text from an Outlook HTML body (tags dropped, entities decoded)."""
    extractor = _TextExtractor()
    extractor.feed(html[:HTML_INPUT_LIMIT])
    extractor.close()
    lines = [line.strip() for line in "".join(extractor.parts).split("\n")]
    return _MANY_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
