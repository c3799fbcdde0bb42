"""What the speech server sends: the response formats (encoders) and ``speed`` (a time stretch that keeps the pitch).

Formats, as OpenAI names them: ``pcm`` (raw 16-bit little-endian mono at 24 kHz), ``wav`` (16-bit; when
streamed, its header says "length unknown", as OpenAI's does), ``flac``, ``mp3`` and ``opus`` (Ogg Opus) through
libsndfile (soundfile, a core dependency), ``aac`` (ADTS) through PyAV when it is installed. ``pcm`` and ``wav``
stream sentence by sentence; the others are encoded once the whole text is spoken.
"""
from __future__ import annotations

import io
import struct

import numpy as np

PCM_RATE = 24000  # OpenAI's pcm: 24 kHz
MEDIA_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac", "wav": "audio/wav",
               "pcm": "audio/pcm"}
STREAMED = ("pcm", "wav")  # formats sent sentence by sentence
_SOUNDFILE = {"flac": ("FLAC", "PCM_16"), "mp3": ("MP3", "MPEG_LAYER_III"), "opus": ("OGG", "OPUS")}
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def format_problem(fmt: str) -> str | None:
    """None when ``fmt`` can be sent here, else why not (one line)."""
    if fmt not in MEDIA_TYPES:
        return f"unknown response_format {fmt!r}: one of {', '.join(MEDIA_TYPES)}"
    if fmt in _SOUNDFILE:
        import soundfile as sf

        major, sub = _SOUNDFILE[fmt]
        if major not in sf.available_formats() or sub not in sf.available_subtypes(major):
            return f"response_format {fmt!r}: this server's libsndfile ({sf.__libsndfile_version__}) cannot write it; use wav, flac or pcm"
    if fmt == "aac":
        try:
            import av  # noqa: F401
        except ImportError:
            return "response_format 'aac' needs PyAV on the server (pip install av); use mp3, opus, wav, flac or pcm"
    return None


def available_formats() -> list[str]:
    return [f for f in MEDIA_TYPES if format_problem(f) is None]


def resample(wav: np.ndarray, sr: int, to: int) -> np.ndarray:
    if sr == to or wav.size == 0:
        return wav
    import soxr

    return soxr.resample(wav, sr, to).astype(np.float32)


def pcm16(wav: np.ndarray) -> bytes:
    return (np.clip(wav, -1.0, 1.0) * 32767).round().astype("<i2").tobytes()


def wav_header(sample_rate: int, frames: int | None = None) -> bytes:
    """A 16-bit mono RIFF/WAVE header; ``frames`` None: lengths 0xFFFFFFFF ("until the stream ends")."""
    data = 0xFFFFFFFF if frames is None else 2 * frames
    riff = 0xFFFFFFFF if frames is None else 36 + data
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, 2 * sample_rate, 2, 16)
            + b"data" + struct.pack("<I", data))


def encode(wav: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """A whole float32 mono clip -> the bytes of ``fmt``."""
    if fmt == "pcm":
        return pcm16(resample(wav, sample_rate, PCM_RATE))
    if fmt == "wav":
        return wav_header(sample_rate, len(wav)) + pcm16(wav)
    if fmt == "aac":
        return _aac(wav, sample_rate)
    import soundfile as sf

    if fmt == "opus" and sample_rate not in _OPUS_RATES:
        wav, sample_rate = resample(wav, sample_rate, PCM_RATE), PCM_RATE
    major, sub = _SOUNDFILE[fmt]
    buf = io.BytesIO()
    sf.write(buf, np.clip(wav, -1.0, 1.0), sample_rate, format=major, subtype=sub)
    return buf.getvalue()


def _aac(wav: np.ndarray, sample_rate: int) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="adts") as out:
        stream = out.add_stream("aac", rate=sample_rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.clip(wav, -1.0, 1.0), dtype=np.float32)[None],
                                           format="fltp", layout="mono")
        frame.sample_rate = sample_rate
        for packet in list(stream.encode(frame)) + list(stream.encode(None)):
            out.mux(packet)
    return buf.getvalue()


class Encoder:
    """Audio chunks in, response bytes out: ``add(chunk)`` as each sentence is ready (bytes to send now; the
    formats that do not stream keep the audio), ``finish()`` at the end (what is left)."""

    def __init__(self, fmt: str, sample_rate: int):
        self.fmt, self.sample_rate = fmt, sample_rate
        self.samples = 0
        self._kept: list[np.ndarray] = []

    def add(self, wav: np.ndarray) -> bytes:
        first = self.samples == 0
        self.samples += len(wav)
        if self.fmt == "pcm":
            return pcm16(resample(wav, self.sample_rate, PCM_RATE))
        if self.fmt == "wav":
            return (wav_header(self.sample_rate) if first else b"") + pcm16(wav)
        self._kept.append(wav)
        return b""

    def finish(self) -> bytes:
        if self.fmt in STREAMED or not self._kept:
            return b""
        wav, self._kept = np.concatenate(self._kept), []
        return encode(wav, self.sample_rate, self.fmt)


def time_stretch(wav: np.ndarray, speed: float, sample_rate: int) -> np.ndarray:
    """``speed`` times faster (2: half the duration, 0.5: twice) at the same pitch, by WSOLA (waveform-similarity
    overlap-add): 40 ms Hann frames written every 20 ms, each read near ``speed`` x its output position, shifted by
    up to 12.5 ms (a pitch period of a low voice) to where it best continues the frame before it."""
    if speed == 1.0 or wav.size == 0:
        return wav
    n = int(0.04 * sample_rate) // 2 * 2
    hop, tol = n // 2, int(0.0125 * sample_rate)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)  # periodic Hann: sums to 1 at hop n/2
    out_len = int(round(len(wav) / speed))
    pad = int(np.ceil(hop * speed)) + tol
    x = np.concatenate([np.zeros(pad + 3, np.float32), wav.astype(np.float32), np.zeros(pad + 2 * n + tol + 3, np.float32)])
    frames = (out_len + hop) // hop + 1
    y = np.zeros(frames * hop + n, np.float32)
    prev = None
    for k in range(frames):  # frame k covers output samples (k - 1) * hop ... + n (y is offset by one hop)
        pos = pad + 3 + int(round((k - 1) * hop * speed))
        if prev is not None:
            target = x[prev + hop: prev + hop + n]  # how the previous frame goes on in the input
            coarse = np.correlate(x[pos - tol: pos + tol + n: 4], target[::4], mode="valid")  # every 4th sample first,
            best = pos - tol + 4 * int(np.argmax(coarse))  # then the 7 shifts around the best one
            fine = np.correlate(x[best - 3: best + 3 + n], target, mode="valid")
            pos = best - 3 + int(np.argmax(fine))
        y[k * hop: k * hop + n] += window * x[pos: pos + n]
        prev = pos
    return y[hop: hop + out_len]
