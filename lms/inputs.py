"""What input the database can store, checked in one place for every request.

PostgreSQL refuses a NUL character in text and jsonb (and psycopg cannot
encode a lone UTF-16 surrogate such as JSON's "\\ud800"): left to the query,
either is a 500. Python's JSON parser recurses once per nesting level, so
`[` × 100,000 is a RecursionError, another 500. `InputGuardMiddleware` refuses
all of these with a 400 before any view, form, serializer, django-axes or the
analytics tracker sees them, whichever path the input took: the URL path, a
query parameter, a form field (or its name), an uploaded file's name, or any
string (or key) anywhere in a JSON body. It also caps every single string at
INPUT_MAX_STRING_CHARS, a backstop under the per-field limits of forms and
serializers.

The checks are pure functions here so the DRF parser (`lms.parsers`) uses the
same ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from itertools import accumulate
from typing import Any

# NUL and lone surrogates: the characters PostgreSQL (UTF-8) cannot store.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# A JSON escape that decodes to one of them (only then is the body parsed here).
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_WEIGHT = {"[": 1, "{": 1, "]": -1, "}": -1}


class BadInput(ValueError):
    """Input the application refuses to store; `where` names the field for the error details."""

    def __init__(self, message: str, *, where: str, code: str = "invalid_characters") -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.code = code


def unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def storable(text: str) -> str:
    """The text without the characters the database cannot store (for names taken from files)."""
    return _UNSTORABLE.sub("", text)


def check_text(text: str, *, where: str, max_chars: int) -> None:
    if unstorable(text):
        raise BadInput(f"{where} contains a character that cannot be stored (NUL or a lone surrogate).", where=where)
    if len(text) > max_chars:
        raise BadInput(f"{where} is longer than {max_chars} characters.", where=where, code="too_long")


def check_pairs(pairs: Iterable[tuple[str, str]], *, kind: str, max_chars: int) -> None:
    for key, value in pairs:
        check_text(key, where=f"{kind} name", max_chars=max_chars)
        check_text(value, where=key, max_chars=max_chars)


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in a JSON text, without parsing
    it (and so without recursion). Brackets inside strings do not count; an
    unbalanced text gets a depth too, and the parser rejects it afterwards."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    if not brackets:
        return 0
    return max(0, max(accumulate(_BRACKET_WEIGHT[c] for c in brackets)))


def _strings(value: Any) -> Iterator[str]:
    """Every string (keys included) in a parsed JSON value, iteratively."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_json_text(text: str, *, max_depth: int, max_chars: int) -> Any | None:
    """Refuse a JSON body nested deeper than `max_depth`, or holding a string that
    cannot be stored or is too long. Returns the parsed value when it had to parse
    (None otherwise); a malformed body is left for the parser to report."""
    if json_depth(text) > max_depth:
        raise BadInput(f"The JSON body is nested deeper than {max_depth} levels.", where="body", code="too_deep")
    if "\x00" in text:
        raise BadInput("The JSON body contains a NUL character.", where="body")
    if not _UNSTORABLE_ESCAPE.search(text) and len(text) <= max_chars:
        return None  # no escape that could decode to NUL or a surrogate, and no string can be too long
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    for string in _strings(value):
        check_text(string, where="body", max_chars=max_chars)
    return value
