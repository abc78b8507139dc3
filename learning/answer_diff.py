"""Typed answers against the expected one, character by character (no Django).

`edit_distance` is the optimal-string-alignment distance (insertions,
deletions, substitutions and swaps of two neighbours each cost one), so
"flourine" is one edit from "fluorine" and "lithum" one from "lithium".
`allowed_edits` scales the tolerance with the answer's length: short answers
must be exact (one letter turns "cat" into "cut"). `char_diff` gives the
segments a page shows, as Anki's type-in answer does: what was typed, with the
wrong characters marked, and what was expected, with the missing ones marked.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from math import floor


def edit_distance(a: str, b: str, *, limit: int | None = None) -> int:
    """Optimal string alignment distance; stops early (returning limit + 1)
    once every path is longer than `limit`."""
    if a == b:
        return 0
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if limit is not None and min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def allowed_edits(expected: str, per_character: float) -> int:
    """How many edits an answer of this length may carry and still count:
    `per_character` × its length, rounded down (0.15: one typo from 7
    characters, two from 14; none below 7)."""
    if per_character <= 0:
        return 0
    return floor(len(expected) * per_character + 1e-9)


def near_enough(typed: str, expected: str, per_character: float) -> bool:
    """Within the allowed edits (both already normalised), but not equal."""
    allowed = allowed_edits(expected, per_character)
    if not allowed or not typed or typed == expected:
        return False
    return edit_distance(typed, expected, limit=allowed) <= allowed


@dataclass(frozen=True)
class Segment:
    text: str
    kind: str  # "same", "wrong" (typed, not expected) or "missing" (expected, not typed)


def char_diff(typed: str, expected: str) -> tuple[list[Segment], list[Segment]]:
    """(typed line, expected line): the same characters plain, the typed
    ones that differ as "wrong", the expected ones not typed as "missing".
    Case is ignored for matching (grading ignores it too)."""
    matcher = SequenceMatcher(None, typed.casefold(), expected.casefold(), autojunk=False)
    typed_line: list[Segment] = []
    expected_line: list[Segment] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            typed_line.append(Segment(typed[a0:a1], "same"))
            expected_line.append(Segment(expected[b0:b1], "same"))
            continue
        if a1 > a0:
            typed_line.append(Segment(typed[a0:a1], "wrong"))
        if b1 > b0:
            expected_line.append(Segment(expected[b0:b1], "missing"))
    return typed_line, expected_line
