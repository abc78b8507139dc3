"""Card HTML cleaned through its skeleton (learning/sanitize.py, "the same
markup, cleaned once") is exactly what nh3 makes of the whole text: on fuzzed
markup built from the pieces that make parsers disagree, and on hostile
cases one by one."""

from __future__ import annotations

import random

import pytest

from learning import sanitize


def whole(text: str) -> str:
    """The reference: nh3 on the whole text, no skeleton."""
    return sanitize._CARD_CLEANER.clean(text)


MEDIA = "/media/cards/media/ab/" + "c" * 64 + ".png"

# Tags and attributes, allowed and not, well formed or not, with values that
# hold quotes, `>` and schemes.
TAGS = [
    "<b>", "</b>", "<i>", "</i>", "<span>", "</span>", "<br>", "<br/>", "<br />", "<p>", "</p>", "<div>", "</div>",
    '<span style="color: red">', "<span style='color:blue; position: fixed'>", '<span style="background-color:#ff0">',
    '<font color="red">', "</font>", '<a href="https://example.org">', '<a href="javascript:alert(1)">',
    "<a href=javascript:alert(1)>", '<a title="x>y">', "<a title='x\"y'>", '<a href="x" title=\'"\'>', "</a>",
    f'<img src="{MEDIA}">', '<img src="https://tracker.example/p.gif">', f'<img src="{MEDIA}" width="20" height="x">',
    '<img src=x onerror="alert(1)">', "<img/src=x>", "<audio controls src=\"/media/cards/a.mp3\">", "</audio>",
    "<script>", "</script>", "<style>", "</style>", "<textarea>", "</textarea>", "<title>", "</title>",
    "<pre>", "</pre>", "<table>", "</table>", "<tr>", "<td>", "<colgroup>", "<col>", "<select>", "<option>",
    "<frameset>", "<svg>", "</svg>", "<math>", "<mtext>", "<template>", "</template>", "<xmp>", "</xmp>",
    "<plaintext>", "<noscript>", "<iframe>", "</iframe>", "<ul>", "<li>", "<code>", "<sub>", "<sup>",
    "<!-- c -->", "<!--", "-->", "<![CDATA[x]]>", "<?xml?>", "<!DOCTYPE html>", "</ b>", "</>", "<", ">", "<a",
    "< b>", "<b x=>", '<b x="">', "<B STYLE=\"COLOR:RED\">", "</B>", "<b\tclass=c>", "<b\n>", '<div style="">',
]
TEXT = [
    "word", "two words", "meaning", "1", "&amp;", "&lt;b&gt;", "&#x3c;script&#x3e;", "&nbsp", "&", "a&b", '"', "'",
    "=", "/", "javascript:alert(1)", "x--", "-->", "--", "\n", "\r\n", "\t", " ", "  ", "\x0c", "\xa0", "\u2003",
    "\x00", "\ufeff", "é", "日本", "😀", "\x1f", "a>b", "{{c1::x}}", "[sound:a.mp3]", "\ue000", "\ue0010\ue001",
]


def fuzzed(rng: random.Random) -> str:
    pieces = rng.choices([TAGS, TEXT], weights=[2, 3], k=rng.randint(1, 12))
    return "".join(rng.choice(group) for group in pieces)


def test_the_skeleton_gives_what_nh3_gives_the_whole_text():
    rng = random.Random(20261207)
    by_skeleton = 0
    for _ in range(30_000):
        text = fuzzed(rng)
        assert sanitize._clean_markup(text) == whole(text), repr(text)
        # (and the stored form, which strips and post-processes the same way)
        if sanitize._NEEDS_CLEANING_RE.search(text):
            by_skeleton += _takes_skeleton(text)
    assert by_skeleton > 3_000  # the fast path is taken, not only the fallback


def _takes_skeleton(text: str) -> bool:
    before = sanitize._clean_skeleton.cache_info()
    sanitize._clean_markup(text)
    after = sanitize._clean_skeleton.cache_info()
    return (after.hits + after.misses) > (before.hits + before.misses)


@pytest.mark.parametrize(
    "text",
    [
        '<span style="color: red">meaning</span> 12',
        '<a title="x>javascript:alert(1)<">y</a>',  # `>` inside a quoted value: the whole text goes to nh3
        '<a href="x>javascript:alert(1)">y</a>',
        "<a title='>'>javascript:alert(1)</a>",
        '<span style="color:red>position:fixed">x</span>',
        "<textarea><b title=\"</textarea><img src=x onerror=alert(1)>\">",
        "<script>alert(1)</script>after",
        "<style>b{}</style>text",
        "<title>a <b> c</title>d",
        "<table>words in a table<tr><td>cell</td></tr></table>",
        "<table>  <tr><td>x</td></tr></table>",
        "<pre>\nfirst line</pre>",
        "<colgroup> x y",
        "<select>a<option>b</select>",
        "<svg><style>x</style>y</svg>",
        "<math><mtext>a</mtext></math>b",
        "<plaintext><b>x</b>",
        "a<br>b&amp;c<br/>d",
        "\ufeffword <b>x</b>",
        "x\r\ny <b>z</b>",
        "<b>\xa0nbsp\xa0</b>",
        "<i>x\x00y</i>",
        "<b>\ue0000\ue001</b>",
        "<b onclick=alert(1)>x</b>",
        '<img src="' + MEDIA + '" onerror="alert(1)"> caption',
    ],
)
def test_hostile_and_odd_markup_is_cleaned_exactly_as_nh3_cleans_it(text):
    assert sanitize._clean_markup(text) == whole(text)
    assert "javascript" not in sanitize.clean_card_html(text) or "javascript" in whole(text)


def test_a_deck_of_one_markup_is_parsed_once():
    sanitize._clean_skeleton.cache_clear()
    backs = [f'<span style="color: red">meaning</span> {i}' for i in range(500)]
    assert [sanitize.clean_card_html(text) for text in backs] == [whole(text).strip() for text in backs]
    info = sanitize._clean_skeleton.cache_info()
    assert (info.misses, info.hits) == (1, 499)


def test_a_placeholder_that_would_come_out_inside_a_tag_is_never_trusted(monkeypatch):
    # nh3 is never expected to move text into an attribute; if a cleaner ever
    # did, the skeleton is refused and the text is cleaned whole.
    real = sanitize._CARD_CLEANER

    class Moving:
        def clean(self, text: str) -> str:
            return '<span title="\ue0000\ue001"></span>' if "\ue000" in text else real.clean(text)

    sanitize._clean_skeleton.cache_clear()
    monkeypatch.setattr(sanitize, "_CARD_CLEANER", Moving())
    assert sanitize._clean_skeleton("<b>\ue0000\ue001</b>") is None
    assert sanitize._clean_markup("<b>word</b>") == real.clean("<b>word</b>") == "<b>word</b>"
    sanitize._clean_skeleton.cache_clear()
