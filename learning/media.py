"""Card media: what may be uploaded, checked by content, not by name.

A file's extension and the browser's Content-Type are whatever the uploader
says; the first bytes are what the file is. `filetype` reads those magic
numbers, so a script renamed to `cat.png` is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

import filetype
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from lms.errors import ServiceError, TooLarge

# Sniffed MIME type -> (stored extension, type we serve it with).
IMAGE_TYPES = {
    "image/png": ("png", "image/png"),
    "image/apng": ("png", "image/png"),
    "image/jpeg": ("jpg", "image/jpeg"),
    "image/gif": ("gif", "image/gif"),
    "image/webp": ("webp", "image/webp"),
}
AUDIO_TYPES = {
    "audio/mpeg": ("mp3", "audio/mpeg"),
    "audio/ogg": ("ogg", "audio/ogg"),
    "audio/x-wav": ("wav", "audio/wav"),
    "audio/mp4": ("m4a", "audio/mp4"),
}
KINDS = {"image": IMAGE_TYPES, "audio": AUDIO_TYPES}
LABELS = {"image": "PNG, JPEG, GIF or WebP", "audio": "MP3, OGG, WAV or M4A"}
SERVE_TYPES = {ext: mime for table in KINDS.values() for ext, mime in table.values()}
_HEAD_BYTES = 8192


@dataclass(frozen=True)
class MediaInfo:
    kind: str
    mime: str
    extension: str


class InvalidMedia(ServiceError):
    code = "invalid_media"


def sniff(stream: IO[bytes]) -> str | None:
    """The MIME type the file's first bytes say it has (None if unknown)."""
    position = stream.tell() if hasattr(stream, "tell") else 0
    head = stream.read(_HEAD_BYTES)
    stream.seek(position)
    guess = filetype.guess(head)
    return guess.mime if guess else None


def validate_media(upload: UploadedFile, *, kind: str, field: str | None = None) -> MediaInfo:
    """Raise TooLarge (413) or InvalidMedia (400) unless `upload` is an allowed
    file of `kind` ("image" or "audio") within settings.MAX_MEDIA_BYTES."""
    field = field or kind
    limit = settings.MAX_MEDIA_BYTES
    if upload.size is not None and upload.size > limit:
        raise TooLarge(
            f"The {kind} file is {upload.size / 1_048_576:.1f} MB; the limit is {limit / 1_048_576:.0f} MB.",
            details={field: [f"At most {limit} bytes."]},
        )
    if not upload.size:
        raise InvalidMedia(f"The {kind} file is empty.", details={field: ["Empty file."]})
    mime = sniff(upload.file if hasattr(upload, "file") else upload)
    allowed = KINDS[kind]
    if mime not in allowed:
        seen = mime or "an unrecognised type"
        raise InvalidMedia(
            f"That file is {seen}, not an allowed {kind} ({LABELS[kind]}).",
            details={field: [f"Allowed: {LABELS[kind]}; the content looks like {seen}."]},
        )
    extension, served = allowed[mime]
    return MediaInfo(kind=kind, mime=served, extension=extension)


def rename_for(upload: UploadedFile, info: MediaInfo) -> UploadedFile:
    """Store under the extension the content proved, whatever the upload was called."""
    upload.name = f"{info.kind}.{info.extension}"
    return upload


def content_type_for(name: str) -> str:
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return SERVE_TYPES.get(extension, "application/octet-stream")


# --- content-addressed media (imports) ----------------------------------------------

MEDIA_DIR = "cards/media"


def kind_of(content: bytes) -> MediaInfo | None:
    """What a media file's bytes are, if they are an allowed image or sound."""
    guess = filetype.guess(content[:_HEAD_BYTES])
    mime = guess.mime if guess else None
    for kind, table in KINDS.items():
        if mime in table:
            extension, served = table[mime]
            return MediaInfo(kind=kind, mime=served, extension=extension)
    return None


def blob_name(sha256: str, extension: str) -> str:
    return f"{MEDIA_DIR}/{sha256[:2]}/{sha256}.{extension}"
