"""Reference-based signal metrics: PESQ (wideband, 16 kHz), STOI and log-mel distance.

Reference and hypothesis are trimmed to the shorter of the two (codecs may change length by
a few samples); they are not time-aligned beyond that.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from dualtts.data.features import mel_l1, pesq_wb, stoi16
from dualtts.metrics.common import DEFAULT_SR, AudioLike, Score, check_pairs, to_16k

PESQ_MAX = 4.644  # wideband PESQ of a signal against itself


def _pair(ref: AudioLike, hyp: AudioLike, sr: int) -> tuple[np.ndarray, np.ndarray]:
    r, h = to_16k(ref, sr), to_16k(hyp, sr)
    n = min(len(r), len(h))
    return r[:n], h[:n]


def pesq(ref_wavs: Sequence[AudioLike], wavs: Sequence[AudioLike], sample_rate: int = DEFAULT_SR) -> Score:
    """Wideband PESQ (MOS-LQO, 1.04..4.64) per pair (NaN where PESQ finds no utterance)."""
    check_pairs(ref_wavs, wavs, "pesq")
    return Score.of([pesq_wb(*_pair(r, h, sample_rate)) for r, h in zip(ref_wavs, wavs)])


def stoi(ref_wavs: Sequence[AudioLike], wavs: Sequence[AudioLike], sample_rate: int = DEFAULT_SR, extended: bool = False) -> Score:
    """Short-time objective intelligibility (0..1) per pair."""
    check_pairs(ref_wavs, wavs, "stoi")
    return Score.of([stoi16(*_pair(r, h, sample_rate), extended=extended) for r, h in zip(ref_wavs, wavs)])


def mel_distance(ref_wavs: Sequence[AudioLike], wavs: Sequence[AudioLike], sample_rate: int = DEFAULT_SR) -> Score:
    """Mean absolute log-mel difference (lower is better; 0 for identical audio)."""
    check_pairs(ref_wavs, wavs, "mel_distance")
    items = []
    for ref, hyp in zip(ref_wavs, wavs):
        r, h = _pair(ref, hyp, sample_rate)
        items.append(mel_l1(r, h))
    return Score.of(items)
