"""OpenAPI post-processing: every operation documents the error bodies it can return.

Every API error has one shape (DESIGN.md): `{"error": {"code", "message",
"details"}}`. Rather than repeat ten responses on every view, this hook adds
the shape as the `Error` component and, to each operation, the error statuses
any of our endpoints can answer (a bad field, no or a wrong credential, a
refusal, a hidden or missing object, a conflict, a body too large or of the
wrong type, a rule the data breaks, a rate limit, a service unavailable) that
the view did not document itself. Wired in SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"].
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
            "required": ["code", "message", "details"],
        }
    },
    "required": ["error"],
}

ERROR_STATUSES: dict[str, str] = {
    "400": "Invalid input (validation_error with each field in details, or unreadable input)",
    "401": "Not authenticated",
    "403": "Not allowed",
    "404": "Not found, or not visible to you",
    "409": "Conflicts with the current state",
    "413": "Request body too large",
    "415": "Unsupported media type",
    "422": "Well-formed but cannot be carried out",
    "429": "Rate-limited or locked out (details.retry_after in seconds)",
    "503": "The database or the task queue cannot take the request now: try again (Retry-After, details.retry_after)",
}
METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                documented = responses.setdefault(status, {"description": description})
                # A view's own description is kept; its body is the shared shape.
                documented["content"] = {"application/json": {"schema": reference}}
    return result
