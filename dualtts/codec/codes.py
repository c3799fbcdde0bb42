"""Shapes shared by every tokenizer: batched encoding at each item's own length, trimming decoded audio,
checking a code stack. ``codes: [B, q, F]``, ``wav: [B, 1, T]``."""
from __future__ import annotations

from typing import Callable

import torch


def encode_per_length(encode_fn: Callable[[torch.Tensor], torch.Tensor], wav: torch.Tensor, lengths, n_frames: Callable[[int], int],
                      n_layers: int) -> torch.Tensor:
    """Run ``encode_fn`` on each group of equal-length items so padding never leaks into codes."""
    if wav.dim() != 3 or wav.shape[1] != 1:
        raise ValueError(f"expected wav [B, 1, T], got {tuple(wav.shape)}")
    B, T = wav.shape[0], wav.shape[-1]
    lengths = [T] * B if lengths is None else [int(x) for x in lengths]
    if len(lengths) != B or max(lengths) > T or min(lengths) < 1:
        raise ValueError(f"lengths {lengths} do not fit a batch of {B} x {T} samples")
    out = torch.zeros(B, n_layers, n_frames(T), dtype=torch.long, device=wav.device)
    for L in sorted(set(lengths)):
        idx = [i for i, x in enumerate(lengths) if x == L]
        codes = encode_fn(wav[idx, :, :L])
        out[idx, :, : codes.shape[-1]] = codes[:, :n_layers, : out.shape[-1]]
    return out


def trim(wav: torch.Tensor, lengths) -> torch.Tensor:
    """Cut ``wav [B, 1, T']`` to ``lengths`` (int for all, or per item; samples past an item's end are zeroed)."""
    if lengths is None:
        return wav
    if isinstance(lengths, int):
        return wav[..., :lengths]
    lengths = [int(x) for x in lengths]
    mask = torch.arange(wav.shape[-1], device=wav.device)[None] < torch.as_tensor(lengths, device=wav.device)[:, None]
    return (wav * mask[:, None])[..., : max(lengths)]


def check_codes(codes: torch.Tensor, q_max: int) -> None:
    if codes.dim() != 3 or not 1 <= codes.shape[1] <= q_max:
        raise ValueError(f"expected codes [B, q, F] with 1 <= q <= {q_max}, got {tuple(codes.shape)}")
