"""Corpus statistics for the semantic features (per-dimension mean and std), saved in the codec."""
from __future__ import annotations

import sys

import torch
from tqdm import tqdm

from dualtts.data.audio import load_audio


@torch.no_grad()
def compute_ssl_stats(codec, audio_paths: list[str], max_seconds: float = 30.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean/std over all frames of the raw SSL features of ``audio_paths`` (float64 accumulation)."""
    device = codec.device
    total, sq, n = None, None, 0
    for path in tqdm(audio_paths, desc="ssl stats", unit="utt", file=sys.stderr, disable=None):
        wav, _ = load_audio(path, codec.sample_rate, max_seconds=max_seconds)
        x = torch.from_numpy(wav).to(device)[None, None]
        h = codec.ssl.raw(codec.to16k(codec._pad(x)[:, 0])).double()[0]  # [D, F50]
        total = h.sum(1) if total is None else total + h.sum(1)
        sq = (h * h).sum(1) if sq is None else sq + (h * h).sum(1)
        n += h.shape[1]
    if not n:
        raise ValueError("no audio to compute SSL statistics from")
    mean = total / n
    std = (sq / n - mean * mean).clamp(min=1e-8).sqrt()
    return mean.float(), std.float()
