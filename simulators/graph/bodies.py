"""Event bodies: Exchange keeps text bodies but shows them as HTML unless text is asked for."""

from __future__ import annotations

import html
import re
from typing import Any

_TAG = re.compile(r"<[^>]*>", re.S)
_DROP = re.compile(r"<(head|style|script)\b.*?</\1\s*>", re.S | re.I)
_BREAK = re.compile(r"<(br|/p|/div|/tr|/li|/h\d)\b[^>]*>", re.I)
_PREVIEW_LEN = 255


def to_html(text: str) -> str:
    escaped = html.escape(text, quote=False).replace("\r\n", "\n").replace("\n", "<br>\r\n")
    return (
        '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
        "<!-- converted from text -->\r\n</head>\r\n<body>\r\n"
        f'<font size="2"><span style="font-size:11pt;"><div class="PlainText">{escaped}</div></span></font>'
        "\r\n</body>\r\n</html>\r\n"
    )


def to_text(markup: str) -> str:
    without_blocks = _DROP.sub("", markup)
    with_breaks = _BREAK.sub("\r\n", without_blocks)
    return html.unescape(_TAG.sub("", with_breaks)).strip()


def preview(body: dict[str, Any]) -> str:
    text = body["content"] if body["contentType"] == "text" else to_text(body["content"])
    return " ".join(text.split())[:_PREVIEW_LEN]


def render(body: dict[str, Any], *, want_text: bool) -> dict[str, str]:
    """Stored body -> JSON body for a read."""
    content, kind = body["content"], body["contentType"]
    if want_text:
        return {"contentType": "text", "content": content if kind == "text" else to_text(content)}
    if kind == "html" or not content:
        return {"contentType": "html", "content": content}
    return {"contentType": "html", "content": to_html(content)}
