"""The Tokenizer contract every later stage (lm, flow) sees, and adapters for Mimi and EnCodec.

A tokenizer has ``sample_rate``, ``frame_rate``, ``codebook_sizes`` (layer 0 = the first, semantic
layer) and

- ``encode(wav [B, 1, T], lengths=None) -> codes [B, Q, F]`` (unequal lengths: items are encoded at
  their own length; frames past an item's end are 0),
- ``decode(codes [B, q, F], lengths=None) -> wav [B, 1, T]`` for any ``1 <= q <= Q``,
- ``embed(codes [B, q, F]) -> latent [B, D, F]`` (the continuous sum its decoder consumes) and
  ``decode_latent(latent) -> wav``; ``device`` (where its weights live).

``load_tokenizer`` returns it frozen (eval mode, no gradients): later stages never train it.

``load_tokenizer("dualcodec:PATH" | "mimi:HUB_ID_OR_PATH" | "encodec:HUB_ID_OR_PATH")`` picks one;
``"encodec@1.5:ID"`` sets EnCodec's bandwidth in kbps (default its largest), ``"mimi@8:ID"`` Mimi's number of codebooks.
"""
from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from dualtts.codec.codes import check_codes, encode_per_length, trim
from dualtts.codec.model import DualCodec


@runtime_checkable
class Tokenizer(Protocol):
    sample_rate: int
    frame_rate: float
    codebook_sizes: list[int]
    device: torch.device

    def encode(self, wav: torch.Tensor, lengths=None) -> torch.Tensor: ...
    def decode(self, codes: torch.Tensor, lengths=None) -> torch.Tensor: ...
    def embed(self, codes: torch.Tensor) -> torch.Tensor: ...
    def decode_latent(self, latent: torch.Tensor) -> torch.Tensor: ...


class _HFCodecTokenizer(nn.Module):
    """Shared part of the transformers adapters: frame counting and per-length batch encoding."""

    n: int
    sample_rate: int
    frame_rate: float

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _frames(self, T: int) -> int:
        return math.ceil(T * self.frame_rate / self.sample_rate)

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, wav: torch.Tensor, lengths=None) -> torch.Tensor:
        return encode_per_length(self._encode, wav, lengths, self._frames, self.n)


class MimiTokenizer(_HFCodecTokenizer):
    """transformers' ``MimiModel`` (``kyutai/mimi`` for users; any ``MimiConfig`` in tests)."""

    def __init__(self, model, num_quantizers: int | None = None):
        super().__init__()
        self.model = model.eval()
        cfg = model.config
        self.n = num_quantizers or cfg.num_quantizers
        if not 1 <= self.n <= cfg.num_quantizers:
            raise ValueError(f"Mimi with {num_quantizers} codebooks: this model has 1..{cfg.num_quantizers}")
        self.sample_rate, self.frame_rate = cfg.sampling_rate, float(cfg.frame_rate)
        self.codebook_sizes = [cfg.codebook_size] * self.n

    @classmethod
    def from_pretrained(cls, name: str, num_quantizers: int | None = None) -> "MimiTokenizer":
        from transformers import MimiModel

        return cls(MimiModel.from_pretrained(name), num_quantizers)

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        return self.model.encode(wav, num_quantizers=self.n).audio_codes

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        check_codes(codes, self.n)
        return self.model.quantizer.decode(codes)

    def decode_latent(self, latent: torch.Tensor) -> torch.Tensor:
        return self.model.decoder(latent).audio_values

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, lengths=None) -> torch.Tensor:
        wav = self.decode_latent(self.embed(codes))
        return trim(wav, lengths if lengths is not None else round(codes.shape[-1] * self.sample_rate / self.frame_rate))


class EncodecTokenizer(_HFCodecTokenizer):
    """transformers' ``EncodecModel`` at a fixed bandwidth (``facebook/encodec_24khz`` for users)."""

    def __init__(self, model, bandwidth: float | None = None):
        super().__init__()
        self.model = model.eval()
        cfg = model.config
        self.bandwidth = float(bandwidth or max(cfg.target_bandwidths))
        if self.bandwidth not in [float(b) for b in cfg.target_bandwidths]:
            raise ValueError(f"EnCodec at {bandwidth} kbps: this model has {', '.join(map(str, cfg.target_bandwidths))}")
        self.sample_rate, self.frame_rate = cfg.sampling_rate, float(cfg.frame_rate)
        bits = math.log2(cfg.codebook_size) * self.frame_rate
        self.n = int(self.bandwidth * 1000 // bits)
        self.codebook_sizes = [cfg.codebook_size] * self.n

    @classmethod
    def from_pretrained(cls, name: str, bandwidth: float | None = None) -> "EncodecTokenizer":
        from transformers import EncodecModel

        return cls(EncodecModel.from_pretrained(name), bandwidth)

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        out = self.model.encode(wav, bandwidth=self.bandwidth)
        if out.audio_codes.shape[0] != 1:
            raise ValueError("chunked EnCodec models (48 kHz) are not supported by this adapter")
        return out.audio_codes[0]

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        check_codes(codes, self.n)
        return self.model.quantizer.decode(codes.transpose(0, 1))

    def decode_latent(self, latent: torch.Tensor) -> torch.Tensor:
        return self.model.decoder(latent)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, lengths=None) -> torch.Tensor:
        wav = self.decode_latent(self.embed(codes))
        return trim(wav, lengths)


TOKENIZER_KINDS = ("dualcodec", "mimi", "encodec")


def tokenizer_spec(spec: str) -> str:
    """``KIND[@OPTION]:WHERE`` as given; anything else (a path, ``amphion/dualcodec:12hz``) is a DualCodec."""
    return spec if spec.partition(":")[0].partition("@")[0] in TOKENIZER_KINDS else f"dualcodec:{spec}"


def load_tokenizer(spec: str, device: str | torch.device = "cpu"):
    """``"dualcodec:PATH"``, ``"mimi[@CODEBOOKS]:ID"`` or ``"encodec[@KBPS]:ID"`` (ID: hub id or local folder) ->
    a tokenizer."""
    head, _, where = spec.partition(":")
    kind, _, option = head.partition("@")
    if not where:
        raise ValueError(f"tokenizer spec {spec!r}: expected dualcodec:PATH, mimi:ID or encodec:ID")
    if option and kind not in ("mimi", "encodec"):
        raise ValueError(f"tokenizer spec {spec!r}: only mimi@CODEBOOKS and encodec@KBPS take an option")
    try:
        value = float(option) if option else None
    except ValueError:
        raise ValueError(f"tokenizer spec {spec!r}: {option!r} is not a number") from None
    if kind == "dualcodec":
        tok = DualCodec.from_pretrained(where, device)
    elif kind == "mimi":
        tok = MimiTokenizer.from_pretrained(where, int(value) if value else None).to(device)
    elif kind == "encodec":
        tok = EncodecTokenizer.from_pretrained(where, value).to(device)
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r} (dualcodec, mimi, encodec)")
    return tok.eval().requires_grad_(False)
