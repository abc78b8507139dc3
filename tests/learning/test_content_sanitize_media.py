from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from learning.media import InvalidMedia, validate_media
from learning.sanitize import clean_card_html, plain_text, render_markdown
from lms.errors import TooLarge
from tests.learning.content_world import png_bytes, wav_bytes


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<b>bold</b> <i>it</i> <u>u</u>", "<b>bold</b> <i>it</i> <u>u</u>"),
        ("H<sub>2</sub>O x<sup>2</sup> <code>x</code>", "H<sub>2</sub>O x<sup>2</sup> <code>x</code>"),
        ("<ul><li>a</li></ul>line<br>break", "<ul><li>a</li></ul>line<br>break"),
        ("<script>alert(1)</script>safe", "safe"),
        ('<img src=x onerror="alert(1)">', ""),
        ('<b onclick="alert(1)">x</b>', "<b>x</b>"),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        ('<a href="data:text/html,hi">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        ('<iframe src="https://evil"></iframe>ok', "ok"),
        ('<style>body{display:none}</style><div style="x">d</div>', "<div>d</div>"),
        ("<svg onload=alert(1)><circle/></svg>", ""),
    ],
)
def test_card_html_keeps_the_small_safe_subset(dirty, clean):
    assert clean_card_html(dirty) == clean


def test_links_keep_http_and_https_only():
    out = clean_card_html('<a href="https://a.org">a</a><a href="http://b.org">b</a><a href="ftp://c">c</a>')
    assert 'href="https://a.org"' in out and 'href="http://b.org"' in out and "ftp" not in out


def test_markdown_is_rendered_then_sanitized():
    html = render_markdown("# Title\n\n**b** <script>alert(1)</script> [x](javascript:alert(1))\n\n- one\n- two")
    assert "<strong>b</strong>" in html and "<li>one</li>" in html and "<h1>Title</h1>" in html
    assert "script" not in html and "javascript" not in html


def test_plain_text():
    assert plain_text("<b>Na</b><sup>+</sup> &amp; K") == "Na+ & K"


def upload(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def _jpeg() -> bytes:
    return png_bytes(fmt="JPEG")


def _gif() -> bytes:
    return png_bytes(fmt="GIF")


def _webp() -> bytes:
    return png_bytes(fmt="WEBP")


@pytest.mark.parametrize(("make", "extension"), [(png_bytes, "png"), (_jpeg, "jpg"), (_gif, "gif"), (_webp, "webp")])
def test_images_are_recognised_by_content(make, extension):
    info = validate_media(upload("whatever.bin", make()), kind="image")
    assert info.extension == extension


def test_audio_is_recognised_by_content():
    assert validate_media(upload("a.wav", wav_bytes()), kind="audio").extension == "wav"
    ogg = b"OggS\x00\x02" + b"\x00" * 100
    assert validate_media(upload("a.ogg", ogg), kind="audio").extension == "ogg"
    mp3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x00" * 100
    assert validate_media(upload("a.mp3", mp3), kind="audio").extension == "mp3"
    m4a = b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom" + b"\x00" * 100
    assert validate_media(upload("a.m4a", m4a), kind="audio").extension == "m4a"


def test_a_script_named_png_is_refused():
    with pytest.raises(InvalidMedia) as exc:
        validate_media(upload("cat.png", b"<script>alert(1)</script>", "image/png"), kind="image")
    assert exc.value.status == 400
    assert "PNG, JPEG, GIF or WebP" in exc.value.message


def test_an_image_is_not_audio_and_empty_is_refused():
    with pytest.raises(InvalidMedia):
        validate_media(upload("a.mp3", png_bytes()), kind="audio")
    with pytest.raises(InvalidMedia):
        validate_media(upload("a.png", b""), kind="image")


def test_files_over_the_limit_are_413(settings):
    settings.MAX_MEDIA_BYTES = 1000
    big = png_bytes() + b"\x00" * 2000
    with pytest.raises(TooLarge) as exc:
        validate_media(upload("big.png", big), kind="image")
    assert exc.value.status == 413
    assert "limit" in exc.value.message


def test_sniffing_leaves_the_stream_where_it_was():
    data = png_bytes()
    f = upload("a.png", data)
    validate_media(f, kind="image")
    assert f.read() == data
    assert isinstance(f.file, io.BytesIO)


def test_has_text_answers_as_stripping_every_tag_would():
    """The quick look for a shown character (`SHOWN_RE`) never disagrees
    with the definition: tags stripped, entities decoded, something left."""
    import html
    import random

    from learning import sanitize

    def defined(text: str) -> bool:
        return bool(html.unescape(sanitize._TAG_RE.sub("", text)).strip())

    rng = random.Random(7)
    pieces = ["<b>", "</b>", "<br>", " ", "\xa0", "&nbsp;", "&amp;", "x", ">", "<", '<a title="x>y">', "\n", "&#32;"]
    pieces += ["&", '<img src="/media/cards/a.png">', "é", "\u2003"]
    shown = 0
    for _ in range(50_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert sanitize.has_text(text) == defined(text), repr(text)
        shown += sanitize.has_text(text)
    assert 10_000 < shown < 40_000
