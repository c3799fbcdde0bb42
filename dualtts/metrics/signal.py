"""Reference-based signal metrics: PESQ (wideband, 16 kHz), STOI and log-mel distance.

Reference and hypothesis are trimmed to the shorter of the two (codecs may change length by
a few samples); they are not time-aligned beyond that.
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import torch

from dualtts.metrics.common import DEFAULT_SR, AudioLike, Score, check_pairs, to_16k

PESQ_MAX = 4.644  # wideband PESQ of a signal against itself


def _pair(ref: AudioLike, hyp: AudioLike, sr: int) -> tuple[np.ndarray, np.ndarray]:
    r, h = to_16k(ref, sr), to_16k(hyp, sr)
    n = min(len(r), len(h))
    return r[:n], h[:n]


def pesq(ref_wavs: Sequence[AudioLike], wavs: Sequence[AudioLike], sample_rate: int = DEFAULT_SR) -> Score:
    """Wideband PESQ (MOS-LQO, 1.04..4.64) per pair."""
    from pesq import pesq as _pesq

    check_pairs(ref_wavs, wavs, "pesq")
    items = []
    for ref, hyp in zip(ref_wavs, wavs):
        r, h = _pair(ref, hyp, sample_rate)
        try:
            items.append(float(_pesq(16000, r, h, "wb")))
        except Exception:  # no utterance detected, too short: not a score
            items.append(float("nan"))
    return Score.of(items)


def stoi(ref_wavs: Sequence[AudioLike], wavs: Sequence[AudioLike], sample_rate: int = DEFAULT_SR, extended: bool = False) -> Score:
    """Short-time objective intelligibility (0..1) per pair."""
    from pystoi import stoi as _stoi

    check_pairs(ref_wavs, wavs, "stoi")
    return Score.of([float(_stoi(*_pair(r, h, sample_rate), 16000, extended=extended)) for r, h in zip(ref_wavs, wavs)])


@functools.lru_cache(maxsize=4)
def _mel_fb(sr: int, n_fft: int, n_mels: int) -> torch.Tensor:
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)).float()


def log_mel(wav: np.ndarray, sr: int = 16000, n_fft: int = 1024, hop: int = 256, n_mels: int = 80) -> torch.Tensor:
    """``wav: [T]`` -> log-mel ``[n_mels, F]`` (natural log, floor 1e-5), torch STFT."""
    x = torch.as_tensor(wav, dtype=torch.float32)
    spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs()
    return torch.log(torch.clamp(_mel_fb(sr, n_fft, n_mels) @ spec, min=1e-5))


def mel_distance(ref_wavs: Sequence[AudioLike], wavs: Sequence[AudioLike], sample_rate: int = DEFAULT_SR) -> Score:
    """Mean absolute log-mel difference (lower is better; 0 for identical audio)."""
    check_pairs(ref_wavs, wavs, "mel_distance")
    items = []
    for ref, hyp in zip(ref_wavs, wavs):
        r, h = _pair(ref, hyp, sample_rate)
        items.append(float((log_mel(r) - log_mel(h)).abs().mean()))
    return Score.of(items)
