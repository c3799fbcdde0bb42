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


def wn_conv_t(cin: int, cout: int, stride: int, exact: bool = True) -> nn.Module:
    """Weight-normalized ConvTranspose1d that upsamples exactly ×stride (``exact=False``: no output padding, as
    in the reference DualCodec, so an odd stride gives ``stride·T − 1`` samples)."""
    return weight_norm(nn.ConvTranspose1d(cin, cout, 2 * stride, stride=stride, padding=stride // 2 + stride % 2,
                                          output_padding=stride % 2 if exact else 0))


class Snake(nn.Module):
    """``x + sin²(αx)/α`` with a learned α per channel (DAC's periodic activation).

    ``reference=True``: the reference's numerics, ``x + (α + 1e-9)⁻¹ · sin²(αx)`` (a reciprocal times the
    square instead of a division: the same formula, different rounding)."""

    def __init__(self, channels: int, reference: bool = False):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))
        self.reference = reference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.alpha
        if self.reference:
            return x + (a + 1e-9).reciprocal() * torch.sin(a * x).pow(2)
        return x + torch.sin(a * x).pow(2) / (a + 1e-9)


class ResidualUnit(nn.Module):
    """Snake → dilated conv k7 → Snake → conv k1, with a skip connection."""

    def __init__(self, dim: int, dilation: int, reference: bool = False):
        super().__init__()
        self.block = nn.Sequential(Snake(dim, reference), wn_conv(dim, dim, 7, dilation=dilation), Snake(dim, reference),
                                   wn_conv(dim, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class EncoderBlock(nn.Sequential):
    """Residual units (dilations 1, 3, 9) then a strided conv: ``[B, dim/2, T] -> [B, dim, T/stride]``."""

    def __init__(self, dim: int, stride: int, reference: bool = False):
        r = reference
        super().__init__(ResidualUnit(dim // 2, 1, r), ResidualUnit(dim // 2, 3, r), ResidualUnit(dim // 2, 9, r), Snake(dim // 2, r),
                         wn_conv(dim // 2, dim, 2 * stride, stride=stride, padding=(stride + 1) // 2))


class DecoderBlock(nn.Sequential):
    """Transposed conv ×stride then residual units: ``[B, cin, T] -> [B, cout, T*stride]`` (``reference``: the
    reference's Snake numerics and no output padding, ``T*stride − 1`` for an odd stride)."""

    def __init__(self, cin: int, cout: int, stride: int, reference: bool = False):
        r = reference
        super().__init__(Snake(cin, r), wn_conv_t(cin, cout, stride, exact=not r), ResidualUnit(cout, 1, r), ResidualUnit(cout, 3, r),
                         ResidualUnit(cout, 9, r))


class ConvNeXtBlock(nn.Module):
    """Depthwise conv k7 → LayerNorm → pointwise MLP (GELU) → layer scale, with a skip connection.

    ``causal``: the depthwise conv sees only past frames (left padding ``kernel − 1``); ``layer_scale=None``:
    no layer scale (both as in the reference DualCodec's semantic branch)."""

    def __init__(self, dim: int, hidden: int, kernel: int = 7, layer_scale: float | None = 1e-6, causal: bool = False):
        super().__init__()
        self.causal_pad = kernel - 1 if causal else 0
        self.dw = nn.Conv1d(dim, dim, kernel, padding=0 if causal else kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1, self.act, self.pw2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(layer_scale * torch.ones(dim)) if layer_scale is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dw(torch.nn.functional.pad(x, (self.causal_pad, 0)) if self.causal_pad else x).transpose(1, 2)
        y = self.pw2(self.act(self.pw1(self.norm(y))))
        return x + (self.gamma * y if self.gamma is not None else y).transpose(1, 2)


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


class CausalConvNeXtStack(nn.Sequential):
    """The reference DualCodec's semantic encoder / decoder: an optional weight-normed 1×1 conv ``cin -> dim``,
    ``n`` causal ConvNeXt blocks without layer scale, an optional weight-normed 1×1 conv ``dim -> cout``
    (no final LayerNorm)."""

    def __init__(self, cin: int | None, dim: int, cout: int | None, n: int, hidden: int):
        layers: list[nn.Module] = [wn_conv(cin, dim, 1)] if cin is not None else []
        layers += [ConvNeXtBlock(dim, hidden, layer_scale=None, causal=True) for _ in range(n)]
        layers += [wn_conv(dim, cout, 1)] if cout is not None else []
        super().__init__(*layers)


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


class SincResampler(nn.Module):
    """Band-limited resampling with a Hann-windowed sinc (6 zero crossings, roll-off 0.99), numerically the
    same as ``torchaudio.functional.resample``'s default, which the reference DualCodec uses for its 16 kHz
    SSL input. ``wav: [B, T] -> [B, ceil(T * sr_out / sr_in)]``. The filter bank is built in the input's
    dtype on its device, as torchaudio does."""

    def __init__(self, sr_in: int, sr_out: int, zero_crossings: int = 6, rolloff: float = 0.99):
        super().__init__()
        import math

        g = math.gcd(sr_in, sr_out)
        self.sr_in, self.sr_out = sr_in // g, sr_out // g
        self.zero_crossings, self.rolloff = zero_crossings, rolloff
        self.cutoff = min(self.sr_in, self.sr_out) * rolloff              # in units of the reduced rates
        self.half = math.ceil(zero_crossings * self.sr_in / self.cutoff)  # taps on each side of a phase's centre

    def filters(self, device, dtype) -> torch.Tensor:
        """``[sr_out, 1, 2*half + sr_in]``: one FIR filter per output phase."""
        import math

        n_in, n_out, zc = self.sr_in, self.sr_out, self.zero_crossings
        taps = torch.arange(-self.half, self.half + n_in, dtype=dtype, device=device)[None, None] / n_in
        # phase j of the output sits at -j/n_out input periods (computed in the default dtype, then promoted)
        phase = torch.arange(0, -n_out, -1, dtype=dtype, device=device)[:, None, None] / n_out
        x = (phase + taps) * self.cutoff
        x = x.clamp(-zc, zc)
        hann = torch.cos(x * math.pi / zc / 2) ** 2
        x = x * math.pi
        sinc = torch.where(x == 0, torch.ones((), dtype=dtype, device=device), torch.sin(x) / x)
        return sinc * (hann * (self.cutoff / n_in))

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        import math

        if self.sr_in == self.sr_out:
            return wav
        B, T = wav.shape
        x = torch.nn.functional.pad(wav, (self.half, self.half + self.sr_in))
        y = torch.nn.functional.conv1d(x[:, None], self.filters(wav.device, wav.dtype), stride=self.sr_in)
        y = y.transpose(1, 2).reshape(B, -1)
        return y[:, : math.ceil(self.sr_out * T / self.sr_in)]
