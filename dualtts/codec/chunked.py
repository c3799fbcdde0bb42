"""Audio of any length through a tokenizer, in bounded memory.

Both directions cut the signal into frame-aligned chunks with ``context`` frames of overlap on each
side, run the model on each chunk alone, and keep only the chunk's own frames/samples. Every part of
the codecs here sees a bounded neighbourhood (convolutions; the semantic encoder reads windows of at
most 30 s, :mod:`codec.ssl`), so with enough context the result matches a whole-file pass up to
numerics, while memory grows with the chunk, not with the file. Audio shorter than one chunk takes
a single pass, identical to ``encode`` / ``decode``.
"""
from __future__ import annotations

import math

import torch


def hop_of(tokenizer) -> int:
    """Samples per frame (24 kHz / 12.5 Hz = 1920)."""
    hop = tokenizer.sample_rate / tokenizer.frame_rate
    if abs(hop - round(hop)) > 1e-6:
        raise ValueError(f"{type(tokenizer).__name__}: {hop} samples per frame is not a whole number; cannot chunk")
    return int(round(hop))


def _spans(n_frames: int, chunk: int, context: int):
    """(start, end) of each chunk's own frames and (a, b) of the frames it is run on, context included."""
    for s in range(0, n_frames, chunk):
        e = min(n_frames, s + chunk)
        yield s, e, max(0, s - context), min(n_frames, e + context)


@torch.no_grad()
def encode_chunked(tokenizer, wav: torch.Tensor, chunk_seconds: float = 30.0, context_seconds: float = 2.0,
                   **encode_kw) -> torch.Tensor:
    """``wav [1, 1, T]`` -> ``codes [1, Q, ceil(T / hop)]``, ``chunk_seconds`` of audio at a time."""
    if wav.dim() != 3 or wav.shape[:2] != (1, 1):
        raise ValueError(f"wav of shape {tuple(wav.shape)}: expected [1, 1, T]")
    hop, T = hop_of(tokenizer), wav.shape[-1]
    n = math.ceil(T / hop)
    chunk = max(1, int(chunk_seconds * tokenizer.frame_rate))
    context = max(0, int(math.ceil(context_seconds * tokenizer.frame_rate)))
    if n <= chunk:
        return tokenizer.encode(wav, **encode_kw)
    parts = []
    for s, e, a, b in _spans(n, chunk, context):
        piece = wav[..., a * hop: min(T, b * hop)]
        codes = tokenizer.encode(piece, **encode_kw)
        parts.append(codes[..., s - a: e - a])
    return torch.cat(parts, -1)


@torch.no_grad()
def decode_chunked(tokenizer, codes: torch.Tensor, length: int | None = None, chunk_seconds: float = 30.0,
                   context_seconds: float = 2.0) -> torch.Tensor:
    """``codes [1, Q, F]`` -> ``wav [1, 1, F * hop]`` (trimmed to ``length`` samples when given)."""
    hop, n = hop_of(tokenizer), codes.shape[-1]
    chunk = max(1, int(chunk_seconds * tokenizer.frame_rate))
    context = max(0, int(math.ceil(context_seconds * tokenizer.frame_rate)))
    if n <= chunk:
        wav = tokenizer.decode(codes)
    else:
        parts = []
        for s, e, a, b in _spans(n, chunk, context):
            w = tokenizer.decode(codes[..., a:b])
            parts.append(w[..., (s - a) * hop: (e - a) * hop])
        wav = torch.cat(parts, -1)
    return wav[..., :length] if length is not None else wav
