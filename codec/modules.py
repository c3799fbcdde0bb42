"""Building blocks shared by the codec streams: Snake, weight-normed convs, DAC residual blocks, ConvNeXt.

Shapes: ``x: [B, C, T]`` throughout.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def wn_conv(cin: int, cout: int, kernel: int = 1, stride: int = 1, dilation: int = 1, padding: int | None = None) -> nn.Module:
    """Weight-normalized Conv1d; ``padding=None`` keeps the length (for stride 1)."""
    if padding is None:
        padding = (kernel - 1) * dilation // 2
    return weight_norm(nn.Conv1d(cin, cout, kernel, stride=stride, dilation=dilation, padding=padding))


def wn_conv_t(cin: int, cout: int, stride: int) -> nn.Module:
    """Weight-normalized ConvTranspose1d that upsamples exactly ×stride."""
    return weight_norm(nn.ConvTranspose1d(cin, cout, 2 * stride, stride=stride, padding=stride // 2 + stride % 2,
                                          output_padding=stride % 2))


class Snake(nn.Module):
    """``x + sin²(αx)/α`` with a learned α per channel (DAC's periodic activation)."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.alpha
        return x + torch.sin(a * x).pow(2) / (a + 1e-9)


class ResidualUnit(nn.Module):
    """Snake → dilated conv k7 → Snake → conv k1, with a skip connection."""

    def __init__(self, dim: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(Snake(dim), wn_conv(dim, dim, 7, dilation=dilation), Snake(dim), wn_conv(dim, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class EncoderBlock(nn.Sequential):
    """Residual units (dilations 1, 3, 9) then a strided conv: ``[B, dim/2, T] -> [B, dim, T/stride]``."""

    def __init__(self, dim: int, stride: int):
        super().__init__(ResidualUnit(dim // 2, 1), ResidualUnit(dim // 2, 3), ResidualUnit(dim // 2, 9), Snake(dim // 2),
                         wn_conv(dim // 2, dim, 2 * stride, stride=stride, padding=(stride + 1) // 2))


class DecoderBlock(nn.Sequential):
    """Transposed conv ×stride then residual units: ``[B, cin, T] -> [B, cout, T*stride]``."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__(Snake(cin), wn_conv_t(cin, cout, stride), ResidualUnit(cout, 1), ResidualUnit(cout, 3),
                         ResidualUnit(cout, 9))


class ConvNeXtBlock(nn.Module):
    """Depthwise conv k7 → LayerNorm → pointwise MLP (GELU) → layer scale, with a skip connection."""

    def __init__(self, dim: int, hidden: int, kernel: int = 7, layer_scale: float = 1e-6):
        super().__init__()
        self.dw = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1, self.act, self.pw2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(layer_scale * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dw(x).transpose(1, 2)
        y = self.pw2(self.act(self.pw1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class ConvNeXtStack(nn.Module):
    """1×1 conv ``cin -> dim``, ``n`` ConvNeXt blocks, final LayerNorm, 1×1 conv ``dim -> cout``."""

    def __init__(self, cin: int, dim: int, cout: int, n: int, hidden: int):
        super().__init__()
        self.inp = nn.Conv1d(cin, dim, 1)
        self.blocks = nn.Sequential(*[ConvNeXtBlock(dim, hidden) for _ in range(n)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.out = nn.Conv1d(dim, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.inp(x))
        return self.out(self.norm(y.transpose(1, 2)).transpose(1, 2))


class Resampler(nn.Module):
    """Polyphase FIR resampling by a rational factor (e.g. 24 kHz -> 16 kHz: up 2, down 3).

    ``wav: [B, T] -> [B, T * up // down]``. Kaiser-windowed sinc low-pass (scipy.signal.firwin).
    """

    def __init__(self, sr_in: int, sr_out: int, taps_per_phase: int = 32):
        super().__init__()
        import math

        from scipy.signal import firwin

        g = math.gcd(sr_in, sr_out)
        self.up, self.down = sr_out // g, sr_in // g
        n = taps_per_phase * max(self.up, self.down) + 1
        h = firwin(n, 1.0 / max(self.up, self.down), window=("kaiser", 8.0)) * self.up
        self.register_buffer("taps", torch.tensor(h, dtype=torch.float32).flip(0)[None, None], persistent=False)
        self.pad = n // 2

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        B, T = wav.shape
        x = wav.new_zeros(B, T * self.up)
        x[:, :: self.up] = wav
        y = torch.nn.functional.conv1d(x[:, None], self.taps.to(wav.dtype), padding=self.pad)[:, 0, : T * self.up]
        return y[:, :: self.down]
