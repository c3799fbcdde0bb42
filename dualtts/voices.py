"""Measure each installed voice once before a corpus is built: ASR WER, pitch, speaker embedding.

Voices whose WER is above a threshold are unusable as training data (foreign MBROLA diphone
sets read English badly); voices whose embeddings nearly coincide are put into one group so
that a "held-out" speaker is really held out.
"""
from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
from tqdm import tqdm

from dualtts.data.corpus_maker import Voice, synthesize
from dualtts.data.corpus_maker.sentences import harvard_sentences

PROBES = 5


def median_f0(wav: np.ndarray, sr: int) -> float:
    import librosa

    f0 = librosa.yin(wav.astype(np.float64), fmin=60, fmax=450, sr=sr, frame_length=2048)
    voiced = f0[(f0 > 61) & (f0 < 449)]
    return float(np.median(voiced)) if voiced.size else float("nan")


def screen_voices(voices: list[Voice], asr_model: str = "tiny.en", sample_rate: int = 24000,
                  similarity: bool = True) -> list[dict]:
    """One row per voice: ``key, engine, group, wer, f0_hz`` (+ ``embedding`` when ``similarity``)."""
    from dualtts import metrics as M

    texts = harvard_sentences()[-PROBES:]
    rows = []
    for v in tqdm(voices, desc="screening voices", unit="voice", file=sys.stderr, disable=None):
        wavs = [synthesize(v, t, sample_rate) for t in texts]
        row = {"key": v.key, "engine": v.engine, "group": v.group,
               "wer": round(M.wer(texts, wavs, model=asr_model, sample_rate=sample_rate).mean, 4),
               "f0_hz": round(median_f0(np.concatenate(wavs), sample_rate), 1)}
        if similarity:
            from dualtts.metrics.common import to_16k
            from dualtts.metrics.speaker import embed

            row["embedding"] = embed(np.concatenate([to_16k(w, sample_rate) for w in wavs]))
        rows.append(row)
    return rows


def regroup(voices: list[Voice], rows: list[dict], threshold: float = 0.9) -> tuple[list[Voice], list[tuple[str, str, float]]]:
    """Merge the groups of voices whose embeddings have cosine >= ``threshold``.

    Returns the voices with updated groups and the merged pairs ``(key_a, key_b, cosine)``.
    """
    emb = {r["key"]: r["embedding"] for r in rows if "embedding" in r}
    group = {v.key: v.group for v in voices}
    pairs = []
    keys = [v.key for v in voices if v.key in emb]
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            cos = float(np.dot(emb[a], emb[b]))
            if cos >= threshold and group[a] != group[b]:
                pairs.append((a, b, round(cos, 3)))
                old, new = group[b], group[a]
                group = {k: (new if g == old else g) for k, g in group.items()}
    return [replace(v, group=group[v.key]) for v in voices], pairs
