"""Shared pieces of the metrics: the result type and audio input handling."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence, Union

import numpy as np

from dualtts.data.audio import load_audio, resample

AudioLike = Union[str, os.PathLike, np.ndarray]
DEFAULT_SR = 24000


@dataclass
class Score:
    """``mean`` over items (NaN-free) and the per-item values in input order."""

    mean: float
    items: list[float] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def __float__(self) -> float:
        return float(self.mean)

    @classmethod
    def of(cls, items: Sequence[float], **extra) -> "Score":
        vals = [float(v) for v in items]
        finite = [v for v in vals if np.isfinite(v)]
        return cls(float(np.mean(finite)) if finite else float("nan"), vals, extra)


def to_16k(x: AudioLike, sample_rate: int = DEFAULT_SR) -> np.ndarray:
    """Path or array -> mono float32 ``[T]`` at 16 kHz (what ASR, SIM, DNSMOS, PESQ, STOI expect)."""
    if isinstance(x, (str, os.PathLike)):
        wav, _ = load_audio(x, 16000)
        return wav
    wav = np.asarray(x, dtype=np.float32)
    if wav.ndim > 1:
        wav = wav.reshape(-1) if wav.shape[0] == 1 or wav.ndim == 3 else wav.mean(axis=0)
    return resample(wav, sample_rate, 16000)


def check_pairs(a: Sequence, b: Sequence, what: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{what}: {len(a)} references but {len(b)} hypotheses")
    if not len(a):
        raise ValueError(f"{what}: no items")
