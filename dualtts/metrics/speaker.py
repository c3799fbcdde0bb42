"""Speaker similarity: cosine between speaker embeddings.

Default encoder: resemblyzer's GE2E model (weights ship inside the package; same speaker
≈0.82–0.93, different ≈0.55–0.70 on our corpus). Any callable ``wav16k -> embedding`` can be
passed as ``encoder`` (e.g. a WavLM speaker-verification model for users with internet).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from dualtts.data.features import speaker_embedding
from dualtts.metrics.common import DEFAULT_SR, AudioLike, Score, check_pairs, to_16k

embed = speaker_embedding  # unit-norm GE2E embedding of a 16 kHz clip (data.features)


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
