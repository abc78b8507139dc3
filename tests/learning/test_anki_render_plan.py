"""The compiled render plan gives exactly what the general template renderer
gives: every note type is checked both ways, on values chosen to hit the
edges (missing and extra fields, duplicate names, a field called FrontSide,
special fields, an answer line inside a field, empty and blank fronts)."""

from __future__ import annotations

import itertools

import pytest

from learning.anki import render
from learning.anki.render import NoteType, RenderPlan, TemplateError

FIELDS = ("Front", "Back", "Extra")
TEMPLATES = [
    ("{{Front}}", '{{FrontSide}}<hr id="answer">{{Back}}'),
    ("{{Back}}", "{{FrontSide}}\n\n<hr id=answer>\n\n{{Front}}<br>"),
    ("<div>{{Front}}</div> {{Tags}} {{Type}} {{Card}} {{Nope}}", "{{Back}}{{FrontSide}}"),
    ("  {{ Front }}  ", "<hr id='answer'>{{Extra}}<br><br>"),
    ("{{Front}}{{#Extra}}+{{Extra}}{{/Extra}}", "{{FrontSide}}<hr id=answer>{{text:Back}}"),
    ("{{^Extra}}{{Front}}{{/Extra}}", "{{type:Back}}{{Back}}"),
    ("{{!a comment}}{{Front}}", "{{Back}}"),
    ("{{Front}}", "no line here {{Back}} {{FrontSide}}"),
    ("{{Front}}", "{{FrontSide}}<HR ID=answer>{{Back}}<hr id=answer>x<BR/> "),
    ("{{Front}}", "<hr {{Back}} id=answer>{{Back}}<br>"),
    ("{{Front}}", "{{FrontSide}}<hr class=x id=answer>"),
    ("{{Front}}", "{{FrontSide}}<hr id=answer>Answer: {{Back}}"),
    ("{{Front}}", "{{Back}}<hr id=answer>{{Extra}}{{FrontSide}}"),
    ("{0} {front} {{Front}} }{", "{{FrontSide}}<hr id=answer>{1}{{Back}}{ {{Extra}} }"),
]
VALUES = [
    ["word", '<span style="color: red">meaning</span>', ""],
    ["", "only a back", "x"],
    ["&nbsp;", "b", ""],
    [" <br> ", "b", "e"],
    ['<img src="a b.png">', "[sound:x.mp3]", ""],
    ["a", 'x<hr id="answer">y', "z"],
    ["short"],
    ["a", "b", "c", "d", "e"],
    ["\xa0", "b", ""],
    ["[", "&amp;", "<"],
    ["<br>f<br/>", "<BR> b <br>", "<br>"],
    ["f", "\x00front-side\x00b", "x<hr id=answer>y"],
    ["{0}", "{front}", "{{Back}}"],
    ["&#<b>32;</b>", "<b></b>&nbsp;", "<b>x"],
    ["a > b", "<a title='>x'>", "<!-- c > -->"],
    ["<i> </i>", "\u2003<br>", "<b>\xa0</b>y"],
]


def _general(note_type, values, ordinals=None, extra=None):
    """The same note rendered with every side on the general renderer, and
    the breaks at the ends of the back trimmed by the expression alone."""
    plan = RenderPlan(note_type)
    plan.sides = [(name, None, None) for name, _, _ in plan.sides]
    plan.tails = [None] * len(plan.sides)
    plan.joiners = [(None, None, None)] * len(plan.sides)
    plan.general = True
    plan.fast = None
    trim = render._trim_breaks
    render._trim_breaks = lambda text: render._EDGE_BREAKS_RE.sub("", text).strip()
    try:
        return plan.render(values, ordinals, extra)
    finally:
        render._trim_breaks = trim


def _note_types():
    for count in (1, 2):
        for chosen in itertools.combinations(TEMPLATES, count):
            yield NoteType(
                name="T", fields=FIELDS, templates=tuple((f"Card {i + 1}", q, a) for i, (q, a) in enumerate(chosen))
            )
    yield NoteType(name="Dup", fields=("Front", "Front", "Back"), templates=(("C", "{{Front}}", "{{Back}}"),))
    yield NoteType(
        name="Odd", fields=("FrontSide", "Back"), templates=(("C", "{{FrontSide}}x{{Back}}", "{{FrontSide}}|{{Back}}"),)
    )


def test_the_plan_renders_like_the_general_renderer():
    compared = fast_types = 0
    for note_type in _note_types():
        fast_types += RenderPlan(note_type).fast is not None
        for values in VALUES:
            for ordinals in (None, [0], [1, 0], [5]):
                for extra in (None, {"Tags": "a::b", "Type": "T"}):
                    fast = RenderPlan(note_type).render(list(values), ordinals, extra)
                    assert fast == _general(note_type, list(values), ordinals, extra), (note_type, values, ordinals)
                    compared += 1
    assert compared > 1000
    assert fast_types > 20  # the note types whose sides are functions of the values alone


def test_is_empty_answers_as_stripping_the_tags_would():
    """Its one-search shortcut for text with a shown character agrees with
    Anki's definition on hostile text: entities split by tags, `>` outside
    tags, unclosed tags and comments, Unicode spaces."""
    import html
    import random

    def definition(text):
        if render._MEDIA_RE.search(text):
            return False
        return not html.unescape(render._TAG_RE.sub("", text)).replace("\xa0", " ").strip()

    pieces = ["<b>", "</b>", "<", ">", "&", "#", "32;", "nbsp;", "amp;", "x", "<br>", "<img src=a>", "[sound:"]
    pieces += ["<!--", "-->", "'", '"', "=", "<a title='", "é", " ", "\xa0", "\u2003", "\n"]
    rng = random.Random(15)
    for _ in range(50_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert render.is_empty(text) == definition(text), repr(text)


def test_simple_sides_are_compiled_and_others_are_not():
    templates = (("A", *TEMPLATES[0]), ("B", *TEMPLATES[4]))
    plan = RenderPlan(NoteType(name="T", fields=FIELDS, templates=templates))
    assert plan.sides[0][1] is not None and plan.sides[0][2] is not None
    assert plan.sides[1][1] is None and plan.sides[1][2] is None  # a section, a filter
    assert plan.general
    assert not RenderPlan(NoteType(name="T", fields=FIELDS, templates=(("A", *TEMPLATES[0]),))).general


def test_a_broken_template_fails_only_the_notes_that_use_it():
    note_type = NoteType(
        name="T", fields=FIELDS, templates=(("A", "{{Front}}", "{{Back}}"), ("B", "{{#Front}}", "{{Back}}"))
    )
    plan = RenderPlan(note_type)
    assert [c.front for c in plan.render(["f", "b"], [0])] == ["f"]
    with pytest.raises(TemplateError):
        plan.render(["f", "b"], [0, 1])
    assert render.render_note(note_type, ["f", "b"], [0])[0].back == "b"


def test_text_the_sanitiser_skips_is_text_nh3_gives_back_unchanged():
    import random

    from learning import sanitize

    rng = random.Random(11)
    skipped = "<>&\r\x00\ufeff\xa0"
    alphabet = [chr(c) for c in [*range(0x250), *range(0x2000, 0x2070), 0xFEFF, 0xFFFD, 0xFFFF, 0x1F600, 0x10FFFF]]
    plain = [c for c in alphabet if c not in skipped]
    checked = 0
    for _ in range(20_000):
        text = "".join(rng.choice(plain) for _ in range(rng.randint(1, 12)))
        assert not sanitize._NEEDS_CLEANING_RE.search(text)
        assert sanitize._CARD_CLEANER.clean(text) == text, repr(text)
        checked += 1
    # and each character it does send to nh3 is one nh3 changes
    for char in skipped:
        assert sanitize._NEEDS_CLEANING_RE.search(f"a{char}b")
        assert sanitize._CARD_CLEANER.clean(f"{char}a{char}b{char}") != f"{char}a{char}b{char}", repr(char)
    assert sanitize.clean_card_html("a\rb") == "a\nb" and sanitize.clean_card_html(" word 1 ") == "word 1"
    assert checked == 20_000


def test_text_the_import_takes_as_plain_is_what_the_sanitiser_gives_back():
    import random

    from learning import sanitize

    rng = random.Random(12)
    alphabet = [*"ab =\"'\t\n sty", 'style=""', "<", "&", "\xa0", "\r"]
    seen = 0
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10)))
        if sanitize.is_plain_text(text):
            assert sanitize.clean_card_html(text) == text.strip(), repr(text)
            seen += 1
    assert not sanitize.is_plain_text('a style="" b')  # the clean-up after nh3 removes that from any text
    assert seen > 1000
