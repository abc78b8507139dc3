"""CSV cells that a spreadsheet will not run.

A spreadsheet treats a cell that starts with `=`, `+`, `-`, `@` (or a tab or
carriage return before one) as a formula: a student who names an event or
writes a card `=HYPERLINK(...)` would otherwise run code on the computer of the
staff member who opens the download (CSV injection). Every CSV we write goes
through `spreadsheet_safe`, which prefixes such text with an apostrophe —
spreadsheets hide it, and our own deck import strips it again.
"""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """Text that would start a formula, quoted; numbers and everything else as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return f"'{value}"
    return value


def from_spreadsheet(value: str) -> str:
    """The inverse of `spreadsheet_safe` for text read back from our own exports."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_START) else value
