"""Speaker similarity: cosine between speaker embeddings.

Default encoder: resemblyzer's GE2E model (weights ship inside the package; same speaker
≈0.82–0.93, different ≈0.55–0.70 on our corpus). Any callable ``wav16k -> embedding`` can be
passed as ``encoder`` (e.g. a WavLM speaker-verification model for users with internet).
"""
from __future__ import annotations

import functools
import threading
from typing import Callable, Sequence

import numpy as np

from dualtts.metrics.common import DEFAULT_SR, AudioLike, Score, check_pairs, to_16k

_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _resemblyzer():
    try:
        from resemblyzer import VoiceEncoder
    except ImportError:
        raise RuntimeError("speaker similarity needs resemblyzer: pip install webrtcvad-wheels && "
                           "pip install --no-deps resemblyzer==0.1.4") from None
    return VoiceEncoder("cpu", verbose=False)


def embed(wav16k: np.ndarray) -> np.ndarray:
    """Unit-norm GE2E embedding of a 16 kHz clip."""
    import torch
    from resemblyzer import preprocess_wav

    enc = _resemblyzer()
    threads = torch.get_num_threads()
    with _lock:
        torch.set_num_threads(1)  # resemblyzer stalls beside other torch work with more threads
        try:
            w = preprocess_wav(wav16k, source_sr=16000)
            if len(w) < 1600:  # its VAD trimmed nearly everything: fall back to the raw clip
                w = wav16k
            e = enc.embed_utterance(w)
        finally:
            torch.set_num_threads(threads)
    return e / (np.linalg.norm(e) + 1e-9)


def speaker_similarity(
    wavs_a: Sequence[AudioLike], wavs_b: Sequence[AudioLike], sample_rate: int = DEFAULT_SR,
    encoder: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Score:
    """Cosine similarity of speaker embeddings, pair by pair."""
    check_pairs(wavs_a, wavs_b, "speaker_similarity")
    enc = encoder or embed
    cache: dict[int, np.ndarray] = {}

    def emb(x):
        key = id(x)
        if key not in cache:
            e = np.asarray(enc(to_16k(x, sample_rate)), dtype=np.float64)
            cache[key] = e / (np.linalg.norm(e) + 1e-9)
        return cache[key]

    return Score.of([float(np.dot(emb(a), emb(b))) for a, b in zip(wavs_a, wavs_b)])
