"""Small real audio clips for the demo deck, made offline at seed time.

If Debian's `espeak-ng` is on the PATH the term is spoken; otherwise (or if it
fails or is slow) a short chime is synthesised with the standard library, a
different little melody per term so the players are visibly distinct. Either
way the result is a mono 16-bit PCM WAV that browsers play and that
learning.media accepts by its content.
"""

from __future__ import annotations

import hashlib
import io
import math
import shutil
import struct
import subprocess
import tempfile
import wave
from pathlib import Path

SAMPLE_RATE = 16_000
_ESPEAK_TIMEOUT_S = 3
# A pentatonic scale (C D E G A, two octaves) always sounds consonant.
_SCALE_HZ = [261.63, 293.66, 329.63, 392.00, 440.00, 523.25, 587.33, 659.25, 783.99, 880.00]


def tone_wav(seed_text: str, *, notes: int = 3, note_s: float = 0.22, gap_s: float = 0.04) -> bytes:
    """A short chime: `notes` soft sine notes picked from `seed_text`'s hash."""
    digest = hashlib.sha256(seed_text.encode()).digest()
    frames = bytearray()
    per_note = int(note_s * SAMPLE_RATE)
    silence = b"\x00\x00" * int(gap_s * SAMPLE_RATE)
    for index in range(notes):
        frequency = _SCALE_HZ[digest[index] % len(_SCALE_HZ)]
        for n in range(per_note):
            # 10 ms attack, exponential decay: a bell, not a click.
            attack = min(1.0, n / (0.01 * SAMPLE_RATE))
            envelope = attack * math.exp(-4.0 * n / per_note)
            sample = 0.45 * envelope * math.sin(2 * math.pi * frequency * n / SAMPLE_RATE)
            frames += struct.pack("<h", int(sample * 32767))
        frames += silence
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(bytes(frames))
    return out.getvalue()


def spoken_wav(text: str) -> bytes | None:
    """`text` spoken by espeak-ng as WAV bytes, or None when it is not installed
    or does not answer in time (the demo must never depend on it)."""
    program = shutil.which("espeak-ng") or shutil.which("espeak")
    if program is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "speech.wav"
        try:
            subprocess.run(  # noqa: S603 - fixed program; the demo's own text as one argument
                [program, "-s", "140", "-w", str(target), text],
                check=True,
                capture_output=True,
                timeout=_ESPEAK_TIMEOUT_S,
            )
            data = target.read_bytes()
        except (OSError, subprocess.SubprocessError):
            return None
    return data if data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) > 44 else None


def term_audio(text: str) -> bytes:
    """The term spoken when possible, else its chime."""
    return spoken_wav(text) or tone_wav(text)
