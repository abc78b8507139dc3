"""Anki's card templates, rendered the way Anki renders them.

Supports what real decks use: `{{Field}}`, `{{FrontSide}}`, conditional
sections `{{#Field}}…{{/Field}}` and `{{^Field}}…{{/Field}}`, filters
(`text:`, `type:`, `cloze:`, `hint:`; unknown ones pass the text through), the
special fields `Tags`, `Deck`, `Subdeck`, `Card`, `Type`, and cloze deletions
(nested ones included) with hints. A card's back is what Anki shows below the
answer line: our cards show the front and the back side by side, so the
question is not repeated.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from learning.sanitize import SHOWN_RE

_TAG_RE = re.compile(r"<[^>]*>")
_ANSWER_LINE_RE = re.compile(r"<hr[^>]*\bid\s*=\s*[\"']?answer[\"']?[^>]*>", re.IGNORECASE)
_CLOZE_OPEN_RE = re.compile(r"\{\{c(\d+)::")
_MEDIA_RE = re.compile(r"<img\b|\[sound:", re.IGNORECASE)
_EDGE_BREAKS_RE = re.compile(r"^(\s*<br\s*/?>)+|(<br\s*/?>\s*)+$", re.IGNORECASE)
_FRONT_SIDE = "\x00front-side\x00"
CLOZE_STYLE = "font-weight: bold; color: #0a58ca"


@dataclass(frozen=True)
class NoteType:
    name: str
    fields: tuple[str, ...]
    templates: tuple[tuple[str, str, str], ...]  # (name, question format, answer format)
    is_cloze: bool = False


class RenderedCard(NamedTuple):  # a tuple: a big import makes 20,000 of them
    ord: int
    front: str
    back: str


class TemplateError(ValueError):
    pass


def is_empty(text: str) -> bool:
    """Anki's test for an empty field or side: no text once tags and
    whitespace are gone, and no picture or sound."""
    if "<" not in text and "&" not in text and "[" not in text:  # no tag, entity or sound to look at
        return not text.replace("\xa0", " ").strip()
    if "&" not in text and SHOWN_RE.search(text):
        # A character outside every tag that survives stripping them (`_TAG_RE`
        # ends a tag at its first `>`; with no entity in the text, unescaping
        # changes nothing): one search.
        return False
    if _MEDIA_RE.search(text):
        return False
    return not html.unescape(_TAG_RE.sub("", text)).replace("\xa0", " ").strip()


# --- templates --------------------------------------------------------------------

_TOKEN_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


@functools.lru_cache(maxsize=256)
def _parse(template: str) -> list:
    """A template as a tree: str | ("field", name) | ("section", name, inverted, children)."""
    root: list = []
    stack: list[tuple[str, list]] = [("", root)]
    pos = 0
    for match in _TOKEN_RE.finditer(template):
        stack[-1][1].append(template[pos : match.start()])
        pos = match.end()
        tag = match.group(1).strip()
        if tag[:1] in "#^" and len(tag) > 1:
            children: list = []
            stack[-1][1].append(("section", tag[1:].strip(), tag[0] == "^", children))
            stack.append((tag[1:].strip(), children))
        elif tag[:1] == "/":
            if len(stack) == 1 or stack[-1][0] != tag[1:].strip():
                raise TemplateError(f"Section {tag[1:].strip()!r} is closed but was not opened.")
            stack.pop()
        elif tag and tag[0] != "!":
            stack[-1][1].append(("field", tag))
    stack[-1][1].append(template[pos:])
    if len(stack) > 1:
        raise TemplateError(f"Section {stack[-1][0]!r} is never closed.")
    return root


def _strip_html(text: str) -> str:
    return html.unescape(_TAG_RE.sub("", text))


def _apply(filters: list[str], text: str, *, field: str, context: _Context) -> str:
    for name in reversed(filters):
        name = name.strip()
        if name == "text":
            text = html.escape(_strip_html(text), quote=False)
        elif name == "type":
            # A type-in answer: asked for on the front, shown on the back.
            return "" if context.question else text
        elif name == "cloze":
            text = cloze_text(text, context.ordinal + 1, question=context.question)
        elif name == "hint":
            text = f"<i>{text}</i>" if text else ""
        elif name.startswith("tts") or name == "cloze-only":
            return ""
        # furigana/kana/kanji and unknown filters leave the text as it is.
    return text


class _Context:
    def __init__(self, fields: dict[str, str], ordinal: int, question: bool, front: str, extra: dict[str, str]) -> None:
        self.fields = fields
        self.ordinal = ordinal
        self.question = question
        self.front = front
        self.extra = extra

    def value(self, name: str) -> str | None:
        if name == "FrontSide":
            return self.front
        if name in self.fields:
            return self.fields[name]
        return self.extra.get(name)


def _render_nodes(nodes: list, context: _Context) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif node[0] == "field":
            *filters, name = node[1].split(":")
            value = context.value(name.strip())
            if value is None:
                continue  # Anki shows an error for an unknown field; a blank is kinder
            out.append(_apply(filters, value, field=name, context=context) if filters else value)
        else:
            _, name, inverted, children = node
            *filters, field = name.split(":")
            value = context.value(field.strip()) or ""
            if filters and filters[-1].strip() == "cloze":
                present = context.ordinal + 1 in cloze_numbers(value)
            else:
                present = not is_empty(value)
            if present != inverted:
                out.append(_render_nodes(children, context))
    return "".join(out)


def _back_side(answer: str) -> str:
    """What Anki shows below the answer line, or the whole answer without the
    repeated question when the template has no line."""
    line = _ANSWER_LINE_RE.search(answer)
    if line:
        answer = answer[line.end() :]
    return _trim_breaks(answer.replace(_FRONT_SIDE, "").strip())


def _trim_breaks(text: str) -> str:
    """`text` (stripped) without line breaks at either end. The expression can
    only match a text that starts with `<br` or ends with `>`."""
    if text[:3].lower() == "<br" or text.endswith(">"):
        return _EDGE_BREAKS_RE.sub("", text).strip()
    return text


def _answer_tail(parts: tuple | None) -> tuple | None:
    """The parts after the answer line, when the line is in the text that
    starts the answer template (before any field but FrontSide): every note's
    line is then at the same place, and the first one Anki's search would
    find, since no match can reach past the `>` that ends this one."""
    if parts is None:
        return None
    prefix = []
    index = len(parts)
    for position, part in enumerate(parts):
        if type(part) is str:
            prefix.append(part)
        elif part is _FRONT_PART:
            prefix.append(_FRONT_SIDE)
        else:
            index = position
            break
    fixed = "".join(prefix)
    line = _ANSWER_LINE_RE.search(fixed)
    if line is None:
        return None
    rest = fixed[line.end() :]
    return ((rest,) if rest else ()) + parts[index:]


# A side that is only text and plain fields (`{{Front}}`, `{{FrontSide}}`,
# `{{Tags}}`) is compiled to its parts: literal text, a field's index, the
# front side, or a special field's name. Anything else (sections, filters)
# keeps the general renderer.
_FRONT_PART = object()


def _compile_side(template: str, field_index: dict[str, int]) -> tuple | None:
    try:
        nodes = _parse(template)
    except TemplateError:
        return None  # raised by the general renderer if a note ever uses this template
    parts: list = []
    for node in nodes:
        if isinstance(node, str):
            if node:
                parts.append(node)
        elif node[0] == "field" and ":" not in node[1]:
            name = node[1].strip()
            if name == "FrontSide":
                parts.append(_FRONT_PART)
            elif name in field_index:
                parts.append(field_index[name])
            else:
                parts.append((name,))
        else:
            return None
    return tuple(parts)


def _join(parts: tuple, values: list[str], extra: dict[str, str], front: str) -> str:
    out: list[str] = []
    for part in parts:
        kind = type(part)
        if kind is str:
            out.append(part)
        elif kind is int:
            out.append(values[part])
        elif part is _FRONT_PART:
            out.append(front)
        else:
            value = extra.get(part[0])
            if value is not None:
                out.append(value)
    return "".join(out)


Joiner = Callable[[list[str], dict[str, str], str], str]


def _joiner(parts: tuple | None) -> Joiner | None:
    """`parts` as one function of (values, extra, front): a single field is
    that value; text, fields and the front side are one `str.format` call
    (a field's value is an argument, never part of the format); special
    fields (`{{Tags}}`) keep `_join`. About a third of `_join`'s time."""
    if parts is None:
        return None
    if len(parts) == 1 and type(parts[0]) is int:
        index = parts[0]
        return lambda values, extra, front: values[index]
    if any(type(part) is tuple for part in parts):
        return lambda values, extra, front: _join(parts, values, extra, front)
    pieces = []
    for part in parts:
        if type(part) is str:
            pieces.append(part.replace("{", "{{").replace("}", "}}"))
        elif type(part) is int:
            pieces.append(f"{{{part}}}")
        else:  # the front side
            pieces.append("{front}")
    fmt = "".join(pieces).format
    return lambda values, extra, front: fmt(*values, front=front)


class RenderPlan:
    """A note type's templates parsed and compiled once, for every note of it
    (a 10,000-note package renders 20,000 sides from two templates)."""

    def __init__(self, note_type: NoteType) -> None:
        self.note_type = note_type
        # The last field of a name wins, as in dict(zip(fields, values)).
        field_index = {name: index for index, name in enumerate(note_type.fields)}
        self.sides = [
            (name, _compile_side(question, field_index), _compile_side(answer, field_index))
            for name, question, answer in note_type.templates
        ]
        self.tails = [_answer_tail(answer) for _, _, answer in self.sides]
        self.joiners = [
            (_joiner(question), _joiner(tail), _joiner(answer))
            for (_, question, answer), tail in zip(self.sides, self.tails, strict=True)
        ]
        # Whether some side needs the general renderer (and so the fields by name).
        self.general = note_type.is_cloze or any(part is None for _, *sides in self.sides for part in sides)
        question = note_type.templates[0][1] if note_type.templates else ""
        self.cloze_fields = _cloze_fields(question) if note_type.is_cloze else []
        self.fast = None if self.general else self._fast_sides()

    def _fast_sides(self) -> list[tuple[Callable[[list[str]], str], Callable[[list[str]], str]]] | None:
        """Each template's front and back as functions of the note's values
        alone, when no side names a special field (`{{Tags}}`, `{{Card}}`):
        Basic and its reversed kinds then render with no dictionary of extras
        and no per-card bookkeeping (half of `render`'s time)."""
        fast = []
        for (_, question, answer), tail, (question_join, tail_join, answer_join) in zip(
            self.sides, self.tails, self.joiners, strict=True
        ):
            if any(type(part) is tuple for part in (*question, *(tail if tail is not None else answer))):
                return None

            def front(values: list[str], join: Joiner = question_join) -> str:
                return join(values, {}, "").strip()

            if tail_join is not None:

                def back(values: list[str], join: Joiner = tail_join) -> str:
                    return _trim_breaks(join(values, {}, _FRONT_SIDE).replace(_FRONT_SIDE, "").strip())

            else:

                def back(values: list[str], join: Joiner = answer_join) -> str:  # type: ignore[assignment]
                    return _back_side(join(values, {}, _FRONT_SIDE))

            fast.append((front, back))
        return fast

    def render(
        self, values: list[str], ordinals: list[int] | None = None, extra: dict[str, str] | None = None
    ) -> list[RenderedCard]:
        note_type = self.note_type
        count = len(note_type.fields)
        if len(values) < count:
            values = values + [""] * (count - len(values))
        fast = self.fast
        if fast is not None:
            cards = []
            for ordinal in range(len(fast)) if ordinals is None else ordinals:
                if 0 <= ordinal < len(fast):
                    front_of, back_of = fast[ordinal]
                    front = front_of(values)
                    if not is_empty(front):
                        cards.append(RenderedCard(ordinal, front, back_of(values)))
            return cards
        extra = dict(extra or {})
        templates = note_type.templates
        fields: dict[str, str] = {}  # filled for the general renderer only
        if self.general:
            fields = dict(zip(note_type.fields, values, strict=False))
        if note_type.is_cloze:
            question, answer = templates[0][1:] if templates else ("", "")
            numbers = sorted({n for name in self.cloze_fields for n in cloze_numbers(fields.get(name, ""))})
            wanted = [n - 1 for n in numbers] if ordinals is None else ordinals
            cards = []
            for ordinal in wanted:
                extra["Card"] = templates[min(ordinal, len(templates) - 1)][0] if templates else ""
                front = _render_nodes(_parse(question), _Context(fields, ordinal, True, "", extra)).strip()
                if is_empty(front):
                    continue
                back = _render_nodes(_parse(answer), _Context(fields, ordinal, False, _FRONT_SIDE, extra))
                cards.append(RenderedCard(ord=ordinal, front=front, back=_back_side(back)))
            return cards
        wanted = list(range(len(templates))) if ordinals is None else [o for o in ordinals if 0 <= o < len(templates)]
        cards = []
        for ordinal in wanted:
            name = self.sides[ordinal][0]
            question_join, tail_join, answer_join = self.joiners[ordinal]
            extra["Card"] = name
            if question_join is not None:
                front = question_join(values, extra, "").strip()
            else:
                front = _render_nodes(_parse(templates[ordinal][1]), _Context(fields, ordinal, True, "", extra)).strip()
            if is_empty(front):
                continue
            if tail_join is not None:
                back = _trim_breaks(tail_join(values, extra, _FRONT_SIDE).replace(_FRONT_SIDE, "").strip())
            elif answer_join is not None:
                back = _back_side(answer_join(values, extra, _FRONT_SIDE))
            else:
                back = _back_side(
                    _render_nodes(_parse(templates[ordinal][2]), _Context(fields, ordinal, False, _FRONT_SIDE, extra))
                )
            cards.append(RenderedCard(ord=ordinal, front=front, back=back))
        return cards


@functools.lru_cache(maxsize=256)
def render_plan(note_type: NoteType) -> RenderPlan:
    return RenderPlan(note_type)


def render_note(
    note_type: NoteType, values: list[str], ordinals: list[int] | None = None, extra: dict[str, str] | None = None
) -> list[RenderedCard]:
    """The cards of one note: those `ordinals` (from the package's cards
    table) or, without them, every card Anki would generate (a normal template
    whose front is not empty; a cloze number present in the text)."""
    return render_plan(note_type).render(values, ordinals, extra)


def _cloze_fields(template: str) -> list[str]:
    names = []
    for match in _TOKEN_RE.finditer(template):
        parts = match.group(1).strip().lstrip("#^").split(":")
        if len(parts) > 1 and "cloze" in (p.strip() for p in parts[:-1]):
            names.append(parts[-1].strip())
    return names


# --- cloze --------------------------------------------------------------------------


def _cloze_tree(text: str) -> list:
    """str | (number, children) nodes; an unclosed `{{c1::` stays text."""
    root: list = []
    stack: list[tuple[int, list]] = [(0, root)]
    pos = 0
    while pos < len(text):
        opening = _CLOZE_OPEN_RE.match(text, pos)
        if opening:
            children: list = []
            stack.append((int(opening.group(1)), children))
            pos = opening.end()
        elif text.startswith("}}", pos) and len(stack) > 1:
            number, children = stack.pop()
            stack[-1][1].append((number, children))
            pos += 2
        else:
            nxt = min((i for i in (text.find("{{c", pos + 1), text.find("}}", pos + 1)) if i != -1), default=len(text))
            stack[-1][1].append(text[pos:nxt])
            pos = nxt
    while len(stack) > 1:  # unclosed: give back the text as written
        number, children = stack.pop()
        stack[-1][1].append(f"{{{{c{number}::")
        stack[-1][1].extend(children)
    return root


def cloze_numbers(text: str) -> set[int]:
    found: set[int] = set()

    def walk(nodes: list) -> None:
        for node in nodes:
            if not isinstance(node, str):
                found.add(node[0])
                walk(node[1])

    walk(_cloze_tree(text or ""))
    return {n for n in found if n > 0}


def _split_hint(children: list) -> tuple[list, str | None]:
    """The answer nodes and the hint after the last top-level `::`."""
    for index in range(len(children) - 1, -1, -1):
        node = children[index]
        if isinstance(node, str) and "::" in node:
            before, hint = node.rsplit("::", 1)
            rest = children[index + 1 :]
            if all(isinstance(n, str) for n in rest):
                return [*children[:index], before], hint + "".join(rest)
    return children, None


def cloze_text(text: str, number: int, *, question: bool) -> str:
    """The field as card `number` shows it: that deletion hidden on the front
    (`[...]` or `[hint]`) and highlighted on the back, the others as plain text."""

    def walk(nodes: list) -> str:
        out = []
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
                continue
            answer, hint = _split_hint(node[1])
            if node[0] == number:
                shown = f"[{hint or '...'}]" if question else walk(answer)
                out.append(f'<span style="{CLOZE_STYLE}">{shown}</span>')
            else:
                out.append(walk(answer))
        return "".join(out)

    return walk(_cloze_tree(text or ""))
