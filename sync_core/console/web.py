"""The console's HTTP in plain data: a request as both servers hand it over, a response with the headers
every answer carries (no caching, a strict content security policy, no framing, no referrer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

# Scripts and styles only from the console itself; nothing inline, no framing, forms post to itself.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Cache-Control": "no-store",  # pages hold personal data (subjects) and CSRF tokens
    "Pragma": "no-cache",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class Request:
    method: str
    path: str  # below the console's root, always starting with "/"
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.header("cookie") or "")
        except Exception:  # a malformed cookie header: as if none was sent
            return {}
        return {name: morsel.value for name, morsel in jar.items()}

    def form(self) -> dict[str, str]:
        """An urlencoded form's fields (the first value of each)."""
        if not (self.header("content-type") or "").startswith("application/x-www-form-urlencoded"):
            return {}
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {name: values[0] for name, values in parsed.items()}


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)  # whole Set-Cookie values

    def all_headers(self) -> list[tuple[str, str]]:
        out = [("Content-Type", self.content_type), *SECURITY_HEADERS.items(), *self.headers.items()]
        return out + [("Set-Cookie", cookie) for cookie in self.cookies]


def parse_query(text: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(text, keep_blank_values=True).items()}


def cookie(name: str, value: str, *, secure: bool, max_age: int | None = None) -> str:
    """HttpOnly and SameSite=Strict: a page from another site can neither read it nor send it along."""
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)
