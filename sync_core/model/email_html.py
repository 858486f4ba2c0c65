"""Readable plain text from an e-mail's HTML body, with BeautifulSoup (stdlib `html.parser` back end).

What a reader of the F&O activity needs: paragraphs and line breaks kept, list items as "- item", table
cells separated by tabs, links as their text, images, styles, scripts and comments dropped, entities
decoded. Outlook's HTML (Word markup, `&nbsp;` everywhere, conditional comments) comes out clean.
Hostile input is capped before parsing (`HTML_INPUT_LIMIT`): the text is cut at the body limit anyway.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Comment, Declaration, Doctype, ProcessingInstruction
from bs4.element import NavigableString, Tag

HTML_INPUT_LIMIT = 2_000_000
"""HTML beyond this many characters is not parsed (the text would be cut at the body limit anyway)."""

_HIDDEN = ("head", "style", "script", "title", "template", "noscript", "xml", "meta", "link")
_BLOCKS = (
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset", "figure", "footer",
    "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre",
    "section", "table", "tr", "ul",
)  # fmt: skip
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
# Private-use characters mark block edges until the end: a run of edges is one line break, or a blank line
# when a paragraph-like block is among them (so list items stay on consecutive lines).
_BREAK, _PARAGRAPH = "\ue000", "\ue001"
_PARAGRAPH_BLOCKS = frozenset(
    {"blockquote", "dl", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "ol", "p", "pre", "table", "ul"}
)
_EDGES = re.compile(f"[ \\t]*(?:[{_BREAK}{_PARAGRAPH}][ \\t]*)+")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


def _edge(match: re.Match[str]) -> str:
    return "\n\n" if _PARAGRAPH in match.group(0) else "\n"


def html_to_text(markup: str) -> str:
    """Plain text of an HTML document or fragment; never raises on malformed markup."""
    source = markup[:HTML_INPUT_LIMIT].replace(_BREAK, "").replace(_PARAGRAPH, "")
    soup = BeautifulSoup(source, "html.parser")
    for node in soup.find_all(string=lambda s: isinstance(s, Comment | Declaration | Doctype)):
        node.extract()
    for node in soup.find_all(string=lambda s: isinstance(s, ProcessingInstruction)):
        node.extract()
    for tag in soup.find_all(_HIDDEN):
        tag.decompose()
    # HTML collapses source whitespace; line breaks come only from markup. <pre> keeps its own.
    for text in soup.find_all(string=True):
        if not isinstance(text, NavigableString):
            continue
        if text.find_parent("pre") is None:
            text.replace_with(_SPACES.sub(" ", str(text)))
        else:
            text.replace_with(str(text).replace(" ", "\u00a0"))
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for cell in soup.find_all(("td", "th")):
        if isinstance(cell, Tag):
            cell.append("\t")
    for item in soup.find_all("li"):
        if isinstance(item, Tag):
            item.insert(0, "- ")
    for block in soup.find_all(_BLOCKS):
        if isinstance(block, Tag):
            mark = _PARAGRAPH if block.name in _PARAGRAPH_BLOCKS else _BREAK
            block.insert_before(mark)
            block.insert_after(mark)
    plain = _EDGES.sub(_edge, soup.get_text())
    lines = [line.strip(" \t").replace("\u00a0", " ").rstrip() for line in plain.split("\n")]
    return _MANY_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")
