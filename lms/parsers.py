"""DRF's JSON parser, made safe against nesting.

DRF catches only ValueError while parsing; `[` × 100,000 is a RecursionError
and would be a 500. InputGuardMiddleware refuses such bodies before any view
runs (with the depth limit INPUT_MAX_JSON_DEPTH); this parser is the second
line for a request that reached DRF some other way (a test client, a view
called directly)."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
