"""URL building for Graph: encoded path segments, OData literals, same-origin checks for server links."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def seg(value: str) -> str:
    """One path segment: Graph ids contain ``/``, ``+`` and ``=``, so nothing is left unescaped."""
    if not value:
        raise ValueError("empty path segment")
    return quote(value, safe="")


def user_seg(mailbox: str) -> str:
    """A user path segment (id or UPN); ``@`` is a legal path character and stays readable."""
    if not mailbox:
        raise ValueError("empty mailbox")
    return quote(mailbox, safe="@")


def odata_string(value: str) -> str:
    """An OData string literal (quotes included); ``'`` is doubled."""
    return "'" + value.replace("'", "''") + "'"


def graph_datetime(value: datetime) -> str:
    """UTC timestamp for query parameters such as ``startDateTime`` (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


class GraphUrls:
    """Turns paths and server-sent links into absolute URLs under one Graph root."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self._origin = _origin(self.base)
        self._base_path = urlsplit(self.base).path.rstrip("/")

    def absolute(self, url_or_path: str) -> str:
        """A path relative to the Graph root, or an absolute link that must point at the same origin."""
        if "://" in url_or_path:
            if _origin(url_or_path) != self._origin:
                # Server links (nextLink, deltaLink) come from hostile input: never follow them elsewhere.
                raise ValueError("link does not point at the configured Graph root")
            return url_or_path
        return f"{self.base}/{url_or_path.lstrip('/')}"

    def relative(self, url_or_path: str) -> str:
        """A batch item URL: relative to the version root, with a leading ``/``."""
        if "://" in url_or_path:
            absolute = self.absolute(url_or_path)
            parts = urlsplit(absolute)
            path = parts.path
            if not path.startswith(self._base_path + "/"):
                raise ValueError("batch URL is outside the configured Graph root")
            path = path[len(self._base_path) :]
            return f"{path}?{parts.query}" if parts.query else path
        return "/" + url_or_path.lstrip("/")
