"""Audio I/O and validation: load (wav/flac/ogg/mp3), mono, resample (soxr), normalize, save atomically.

Waveforms are float32 numpy arrays ``wav: [T]`` in [-1, 1] (mono) unless stated otherwise.
Every problem with an input file raises :class:`AudioError` whose message is one line naming the
file and the problem, e.g. ``AudioError: clip.wav: sample rate 16000 Hz, expected 24000 Hz``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from dualtts.data.atomic import atomic_path


class AudioError(ValueError):
    """Bad audio input. ``str(err)`` is one line: ``<file>: <problem>``."""

    def __init__(self, source: str | os.PathLike | None, problem: str):
        self.source = str(source) if source is not None else "<array>"
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


def to_mono(wav: np.ndarray) -> np.ndarray:
    """Average channels. ``wav: [T]`` or ``[T, C]`` (soundfile layout) -> ``[T]``."""
    wav = np.asarray(wav, dtype=np.float32)
    return wav.mean(axis=1) if wav.ndim == 2 else wav


def resample(wav: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample ``wav: [T]`` from ``sr_in`` to ``sr_out`` with soxr (high quality)."""
    if sr_in == sr_out:
        return np.asarray(wav, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(wav, dtype=np.float32), sr_in, sr_out, quality="HQ").astype(np.float32)


def rms_dbfs(wav: np.ndarray) -> float:
    """Root-mean-square level in dBFS (``-inf`` for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if wav.size else 0.0
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def loudness_normalize(wav: np.ndarray, target_dbfs: float = -23.0, max_peak: float = 0.99) -> np.ndarray:
    """Scale to an RMS level of ``target_dbfs``, then limit the peak to ``max_peak``."""
    level = rms_dbfs(wav)
    if not np.isfinite(level):
        return wav
    out = wav * (10.0 ** ((target_dbfs - level) / 20.0))
    peak = float(np.max(np.abs(out)))
    if peak > max_peak:
        out = out * (max_peak / peak)
    return out.astype(np.float32)


def trim_silence(wav: np.ndarray, sr: int, threshold_db: float = -45.0, pad_s: float = 0.1) -> np.ndarray:
    """``wav: [T]`` less its leading and trailing frames (10 ms) more than ``-threshold_db`` below the loudest, keeping
    ``pad_s`` around the speech."""
    frame = int(0.01 * sr)
    n = len(wav) // frame
    if n == 0:
        return wav
    e = 10 * np.log10(np.mean(wav[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    active = np.flatnonzero(e > e.max() + threshold_db)
    if active.size == 0:
        return wav
    pad = int(pad_s * sr)
    return wav[max(0, active[0] * frame - pad): min(len(wav), (active[-1] + 1) * frame + pad)]


def normalize_prompt(wav: np.ndarray, sr: int, band_hz: float | None = 8000.0, target_dbfs: float = -23.0) -> np.ndarray:
    """A voice prompt made to look like the training audio of the mini corpus: silence trimmed, band-limited to
    ``band_hz`` (most engine voices are 16 kHz recordings; None: full band), RMS ``target_dbfs`` (the corpus level)."""
    wav = trim_silence(np.asarray(wav, dtype=np.float32), sr)
    if band_hz is not None and 2 * band_hz < sr:
        n = len(wav)
        wav = resample(resample(wav, sr, int(2 * band_hz)), int(2 * band_hz), sr)[:n]
    return loudness_normalize(wav, target_dbfs)


def validate(
    wav: np.ndarray,
    sr: int,
    source: str | os.PathLike | None = None,
    *,
    min_seconds: float = 0.0,
    max_seconds: float | None = None,
    require_speech: bool = False,
    silence_dbfs: float = -60.0,
) -> None:
    """Raise :class:`AudioError` if ``wav: [T]`` is empty, non-finite, too short/long or silent."""
    if wav.size == 0:
        raise AudioError(source, "empty audio (0 samples)")
    if not np.all(np.isfinite(wav)):
        bad = int(np.size(wav) - np.count_nonzero(np.isfinite(wav)))
        raise AudioError(source, f"audio contains {bad} NaN/Inf samples")
    seconds = wav.shape[-1] / sr
    if seconds < min_seconds:
        raise AudioError(source, f"too short: {seconds:.3f} s, need at least {min_seconds:g} s")
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(source, f"too long: {seconds:.1f} s, at most {max_seconds:g} s allowed")
    if require_speech:
        level = rms_dbfs(wav)
        if level < silence_dbfs:
            shown = "digital silence" if not np.isfinite(level) else f"{level:.1f} dBFS"
            raise AudioError(source, f"no speech: the audio is silent ({shown}, threshold {silence_dbfs:g} dBFS)")


def audio_info(path: str | os.PathLike) -> tuple[int, int, int]:
    """``(sample_rate, frames, channels)`` from the header, without decoding. Raises AudioError."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found")
    try:
        info = sf.info(str(path))
    except Exception as e:  # soundfile raises LibsndfileError/RuntimeError with multi-line text
        raise AudioError(path, f"cannot read audio ({_one_line(e)})") from None
    return int(info.samplerate), int(info.frames), int(info.channels)


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    *,
    mono: bool = True,
    allow_resample: bool = True,
    min_seconds: float = 0.0,
    max_seconds: float | None = None,
    require_speech: bool = False,
) -> tuple[np.ndarray, int]:
    """Load an audio file as float32.

    Args:
        path: wav/flac/ogg/mp3 (anything libsndfile reads).
        sample_rate: target rate; ``None`` keeps the file's rate.
        mono: mix channels down (``wav: [T]``); otherwise multi-channel files raise AudioError.
        allow_resample: if False, a file whose rate differs from ``sample_rate`` raises AudioError.
        min_seconds / max_seconds / require_speech: see :func:`validate`.

    Returns:
        ``(wav [T], sample_rate)``.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found" if not path.exists() else "not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    if max_seconds is not None:  # refuse an over-long file before reading it (bounded memory)
        try:
            info = sf.info(str(path))
        except Exception as e:
            raise AudioError(path, f"corrupt or unsupported audio ({_one_line(e)})") from None
        if info.frames / max(info.samplerate, 1) > max_seconds:
            raise AudioError(path, f"too long: {info.frames / info.samplerate:.1f} s, at most {max_seconds:g} s allowed")
    try:
        wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioError(path, f"corrupt or unsupported audio ({_one_line(e)})") from None
    if wav.shape[1] > 1 and not mono:
        raise AudioError(path, f"{wav.shape[1]} channels, expected mono")
    wav = to_mono(wav)
    if sample_rate is not None and sr != sample_rate:
        if not allow_resample:
            raise AudioError(path, f"sample rate {sr} Hz, expected {sample_rate} Hz")
        validate(wav, sr, path)  # never resample NaNs or empty arrays
        wav, sr = resample(wav, sr, sample_rate), sample_rate
    validate(wav, sr, path, min_seconds=min_seconds, max_seconds=max_seconds, require_speech=require_speech)
    return wav, sr


def save_audio(path: str | os.PathLike, wav: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Save ``wav: [T]`` (or ``[1, T]``) atomically; the format follows the extension.

    Values are clipped to [-1, 1] for integer subtypes. Non-finite audio raises AudioError and
    writes nothing.
    """
    path = Path(path)
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 2 and wav.shape[0] == 1:
        wav = wav[0]
    if wav.ndim != 1:
        raise AudioError(path, f"expected mono audio [T], got shape {tuple(wav.shape)}")
    validate(wav, sample_rate, path)
    if subtype.startswith("PCM"):
        wav = np.clip(wav, -1.0, 1.0)
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}.get(path.suffix.lower())
    if fmt is None:
        raise AudioError(path, f"unsupported output format {path.suffix!r} (use .wav, .flac, .ogg or .mp3)")
    if fmt in ("OGG", "MP3"):
        subtype = {"OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}[fmt]
    with atomic_path(path) as tmp:
        sf.write(str(tmp), wav, sample_rate, subtype=subtype, format=fmt)
    return path


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__
