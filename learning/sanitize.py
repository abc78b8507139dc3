"""User-written HTML, made safe.

Card text keeps a small subset of HTML (bold, italic, lists, line breaks, code,
sub/sup and http(s) links); lesson bodies are Markdown rendered to HTML and then
put through the same kind of filter. nh3 (a binding to the Rust `ammonia`
sanitizer) does the work: it parses like a browser does, so tricks that fool
regular expressions do not get through.
"""

from __future__ import annotations

import functools
import html as html_lib
import re

import markdown
import nh3

CARD_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ul", "ol", "li", "br", "p", "code", "pre", "sub", "sup", "a"}
    | {"span", "div", "font", "img", "audio"}
)
CARD_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "audio": {"src", "controls"},
    "*": {"style"},
}
# Inline CSS a real deck colours its words with (a quarter of a teacher's deck
# had coloured spans); every other property is dropped by nh3.
STYLE_PROPERTIES = frozenset(
    {"color", "background-color", "font-weight", "font-style", "text-decoration", "text-align"}
)
# Pictures and sounds only from our own stored media: no tracking pixels, no
# file:// or javascript: sources.
MEDIA_SOURCE_PREFIX = "/media/cards/"
# Lessons are longer documents: headings, quotes and tables are welcome too.
LESSON_TAGS = CARD_TAGS | {"h1", "h2", "h3", "h4", "blockquote", "hr", "table", "thead", "tbody", "tr", "th", "td"}
URL_SCHEMES = frozenset({"http", "https"})
# Tags whose *content* is dropped too, not just the tag: a stripped <script>
# must not leave its source code behind as visible text.
DROP_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template", "noscript", "textarea"})


def _card_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "src":
        return value if value.startswith(MEDIA_SOURCE_PREFIX) and ".." not in value else None
    if attribute in ("width", "height"):
        return value if value.isdigit() else None
    return value


_SOURCELESS_RE = re.compile(r"<(?:img|audio)\b(?![^>]*\ssrc=)[^>]*>(?:</audio>)?")
_EMPTY_STYLE_RE = re.compile(r'\sstyle=""')


# Built once: a Cleaner holds nh3's compiled settings, four times faster than
# passing them on every call (a 20,000-card import cleans 40,000 sides).
_CARD_CLEANER = nh3.Cleaner(
    tags=set(CARD_TAGS),
    clean_content_tags=set(DROP_CONTENT),
    attributes={k: set(v) for k, v in CARD_ATTRIBUTES.items()},
    attribute_filter=_card_attribute,
    filter_style_properties=set(STYLE_PROPERTIES),
    url_schemes=set(URL_SCHEMES),
    link_rel="noopener noreferrer nofollow",
)
_PLAIN_CLEANER = nh3.Cleaner(tags=set(), clean_content_tags=set(DROP_CONTENT))


# Text without these characters has no markup and nothing nh3 rewrites (it
# escapes `>` and `&`, turns `\r` into `\n` and U+00A0 into `&nbsp;`, drops
# NUL and a leading byte-order mark): nh3 would give it back unchanged, so it
# is not parsed (half the sides of a typical deck; fuzz-tested against nh3).
_NEEDS_CLEANING_RE = re.compile("[<>&\r\x00\ufeff\xa0]")


def is_plain_text(text: str) -> bool:
    """Whether `clean_card_html(text)` is `text.strip()`: no markup and
    nothing nh3 or the clean-up after it rewrites."""
    return _NEEDS_CLEANING_RE.search(text) is None and 'style=""' not in text


# --- the same markup, cleaned once ---------------------------------------------------
#
# The cards of a deck repeat their markup around other words: `<span
# style="color: red">…</span>` on every back of a note type. nh3's result for
# such a text is its result for the text's *skeleton* — each word (a run of
# non-space characters between tags) replaced by a numbered placeholder — with
# the words put back, provided that
#
# - every `<` opens a tag that ends at the next `>` and is strictly well formed
#   (`_STRICT_TAG_RE`: a name, attributes whose quoted values hold no `<`, `>`
#   or their own quote), so the HTML tokenizer ends each tag exactly there, in
#   whatever state it is, and every word is text, never part of a tag or of
#   an attribute;
# - a word holds nothing the tokenizer or the serializer treats apart from
#   other text (`&`, `>`, NUL, a byte-order mark, a lone surrogate, our
#   placeholder characters): it is then copied through unchanged, or dropped
#   with its element (a <script>'s content), exactly as its placeholder is;
# - spaces stay literal, since tree building treats whitespace apart (in a
#   table, after `<pre>`).
#
# A text that breaks a rule is cleaned whole, as before; a placeholder found
# anywhere but in text after cleaning sends that skeleton to the whole-text
# path too. Tested against nh3 on fuzzed and hostile markup
# (tests/learning/test_sanitize_skeleton.py). A 20,000-card import cleans a
# handful of skeletons instead of 20,000 texts, and nh3 — which releases the
# GIL on every call and must win it back — no longer stalls behind the
# import's writer thread.
_PIECES_RE = re.compile(r"(<[^<>]*>)")
_ATTRIBUTE = r"""\s+[A-Za-z_:][-A-Za-z0-9_:.]*(?:\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'=<>`]+))?"""
_STRICT_TAG_RE = re.compile(rf"<(?:[A-Za-z][A-Za-z0-9]*(?:{_ATTRIBUTE})*\s*/?|/[A-Za-z][A-Za-z0-9]*\s*)>")
_WORD_RE = re.compile(r"\S+")
_LITERAL_WORD_RE = re.compile("[&>\x00\ufeff\ue000\ue001\ud800-\udfff]")
_SLOT_RE = re.compile("\ue000(\\d+)\ue001")
_MAX_SKELETON = 2_000


@functools.lru_cache(maxsize=1024)
def _clean_skeleton(skeleton: str) -> str | None:
    """nh3's cleaning of a skeleton, or None if a placeholder came out
    anywhere but in text (inside a tag) or twice: never expected, and then
    never trusted."""
    cleaned = _CARD_CLEANER.clean(skeleton)
    slots = [int(m[1]) for piece in _PIECES_RE.split(cleaned)[::2] for m in _SLOT_RE.finditer(piece)]
    if len(slots) != len(set(slots)) or not cleaned.count("\ue000") == cleaned.count("\ue001") == len(slots):
        return None
    return cleaned


def _clean_markup(html: str) -> str:
    """nh3's cleaning of `html`, through its skeleton when it has one."""
    if "\ue000" in html or "\ue001" in html:
        return _CARD_CLEANER.clean(html)
    pieces = _PIECES_RE.split(html)
    words: list[str] = []

    def slot(match: re.Match[str]) -> str:
        word = match[0]
        if _LITERAL_WORD_RE.search(word):
            return word
        words.append(word)
        return f"\ue000{len(words) - 1}\ue001"

    for index, piece in enumerate(pieces):
        if index % 2:
            if not _STRICT_TAG_RE.fullmatch(piece):
                return _CARD_CLEANER.clean(html)
        elif "<" in piece:
            return _CARD_CLEANER.clean(html)
        elif piece:
            pieces[index] = _WORD_RE.sub(slot, piece)
    skeleton = "".join(pieces)
    if len(skeleton) > _MAX_SKELETON:
        return _CARD_CLEANER.clean(html)
    cleaned = _clean_skeleton(skeleton)
    if cleaned is None:
        return _CARD_CLEANER.clean(html)
    return _SLOT_RE.sub(lambda m: words[int(m[1])], cleaned) if words else cleaned


def clean_card_html(html: str) -> str:
    """The stored and displayed form of card text."""
    html = html or ""
    cleaned = _clean_markup(html) if _NEEDS_CLEANING_RE.search(html) else html
    # A picture or sound whose source was refused is nothing at all. (The
    # substring tests skip the regular expressions on the text of most cards.)
    if "<img" in cleaned or "<audio" in cleaned:
        cleaned = _SOURCELESS_RE.sub("", cleaned)
    if 'style=""' in cleaned:
        cleaned = _EMPTY_STYLE_RE.sub("", cleaned)
    return cleaned.strip()


def render_markdown(text: str) -> str:
    """Lesson Markdown as sanitized HTML. Raw HTML inside the Markdown goes
    through the same filter as everything else."""
    html = markdown.markdown(text or "", extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=set(LESSON_TAGS),
        clean_content_tags=set(DROP_CONTENT),
        attributes={k: set(v) for k, v in CARD_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
    )


def plain_text(html: str) -> str:
    """Card text without any tags, for titles, admin lists and search previews."""
    return html_lib.unescape(_PLAIN_CLEANER.clean(html or "")).strip()


_TAG_RE = re.compile(r"<[^>]*>")


def has_text(cleaned: str) -> bool:
    """Whether already-sanitised HTML shows any text: its tags are well formed
    by then, so stripping them needs no second parse."""
    if "<" not in cleaned and "&" not in cleaned:
        return bool(cleaned.strip())
    return bool(html_lib.unescape(_TAG_RE.sub("", cleaned)).strip())
