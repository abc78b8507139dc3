"""Just enough protocol-buffer decoding for the few small messages an Anki
package holds (the media map, note type, template and deck configs).

A message is decoded into {field number: [values]}: varints as ints,
length-delimited fields as bytes (the caller knows which are strings or nested
messages). Anything malformed raises ValueError.
"""

from __future__ import annotations


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def decode(data: bytes) -> dict[int, list[int | bytes]]:
    fields: dict[int, list[int | bytes]] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            value, pos = data[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == 5:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(data) or number == 0:
            raise ValueError("truncated message")
        fields.setdefault(number, []).append(value)
    return fields


def first_int(fields: dict[int, list[int | bytes]], number: int, default: int = 0) -> int:
    values = fields.get(number)
    return values[0] if values and isinstance(values[0], int) else default


def first_str(fields: dict[int, list[int | bytes]], number: int, default: str = "") -> str:
    values = fields.get(number)
    if not values or not isinstance(values[0], bytes):
        return default
    return values[0].decode("utf-8")
