"""F&O-shaped OData errors: one exception type that the app turns into the service's JSON error body."""

from __future__ import annotations

from typing import Any

# The top-level message F&O puts on URI parsing failures; the detail goes into innererror.
QUERY_NOT_VALID = "The query specified in the URI is not valid."


class ODataError(ValueError):
    """An error the stand-in answers with; a ValueError so seeding code can catch it plainly."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        detail: str | None = None,
        error_type: str = "Microsoft.OData.ODataException",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message if detail is None else f"{message} {detail}")
        self.status = status
        self.message = message
        self.detail = detail if detail is not None else message
        self.error_type = error_type
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": "",
                "message": self.message,
                "innererror": {"message": self.detail, "type": self.error_type, "stacktrace": ""},
            }
        }


def bad_query(detail: str) -> ODataError:
    return ODataError(400, f"{QUERY_NOT_VALID} {detail}", detail=detail)


def bad_request(detail: str, *, error_type: str = "Microsoft.OData.ODataException") -> ODataError:
    return ODataError(400, "An error has occurred.", detail=detail, error_type=error_type)


def not_found(detail: str = "No HTTP resource was found that matches the request URI.") -> ODataError:
    return ODataError(404, "No HTTP resource was found that matches the request URI.", detail=detail)
