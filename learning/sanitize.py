"""User-written HTML, made safe.

Card text keeps a small subset of HTML (bold, italic, lists, line breaks, code,
sub/sup and http(s) links); lesson bodies are Markdown rendered to HTML and then
put through the same kind of filter. nh3 (a binding to the Rust `ammonia`
sanitizer) does the work: it parses like a browser does, so tricks that fool
regular expressions do not get through.
"""

from __future__ import annotations

import html as html_lib

import markdown
import nh3

CARD_TAGS = frozenset({"b", "strong", "i", "em", "u", "ul", "ol", "li", "br", "p", "code", "pre", "sub", "sup", "a"})
CARD_ATTRIBUTES = {"a": {"href", "title"}}
# Lessons are longer documents: headings, quotes and tables are welcome too.
LESSON_TAGS = CARD_TAGS | {"h1", "h2", "h3", "h4", "blockquote", "hr", "table", "thead", "tbody", "tr", "th", "td"}
URL_SCHEMES = frozenset({"http", "https"})
# Tags whose *content* is dropped too, not just the tag: a stripped <script>
# must not leave its source code behind as visible text.
DROP_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template", "noscript", "textarea"})


def clean_card_html(html: str) -> str:
    """The stored and displayed form of card text."""
    return nh3.clean(
        html or "",
        tags=set(CARD_TAGS),
        clean_content_tags=set(DROP_CONTENT),
        attributes={k: set(v) for k, v in CARD_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
    ).strip()


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
    return html_lib.unescape(nh3.clean(html or "", tags=set(), clean_content_tags=set(DROP_CONTENT))).strip()
