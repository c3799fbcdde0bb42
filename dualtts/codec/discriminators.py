"""GAN discriminators: multi-period (waveform reshaped by period, 2-D convs) and multi-band,
multi-resolution complex STFT. Each returns, per sub-discriminator, ``(score, feature_maps)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def _c2(cin, cout, k, s=(1, 1), p=None):
    p = p if p is not None else (k[0] // 2, k[1] // 2)
    return weight_norm(nn.Conv2d(cin, cout, k, s, padding=p))


class PeriodDiscriminator(nn.Module):
    def __init__(self, period: int, channels: int = 32):
        super().__init__()
        self.period = period
        ch = [1, channels, 4 * channels, 16 * channels, 32 * channels, 32 * channels]
        self.convs = nn.ModuleList([_c2(ch[i], ch[i + 1], (5, 1), (3, 1) if i < 4 else (1, 1), (2, 0)) for i in range(5)])
        self.post = _c2(ch[-1], 1, (3, 1), p=(1, 0))

    def forward(self, wav: torch.Tensor):
        B, C, T = wav.shape
        x = F.pad(wav, (0, (-T) % self.period), mode="reflect" if T > self.period else "constant")
        x = x.view(B, C, -1, self.period)
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            feats.append(x)
        x = self.post(x)
        feats.append(x)
        return x, feats


class BandSTFTDiscriminator(nn.Module):
    """Complex STFT at one window size, split into frequency bands, each with its own conv stack."""

    BANDS = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))

    def __init__(self, window: int, channels: int = 32):
        super().__init__()
        self.window, self.hop = window, window // 4
        self.register_buffer("hann", torch.hann_window(window), persistent=False)
        bins = window // 2 + 1
        self.edges = [(int(a * bins), int(b * bins)) for a, b in self.BANDS]
        def stack():
            return nn.ModuleList([_c2(2, channels, (3, 9))] + [_c2(channels, channels, (3, 9), (1, 2)) for _ in range(3)]
                                 + [_c2(channels, channels, (3, 3))])
        self.bands = nn.ModuleList([stack() for _ in self.BANDS])
        self.post = _c2(channels, 1, (3, 3))

    def forward(self, wav: torch.Tensor):
        spec = torch.stft(wav[:, 0].float(), self.window, self.hop, window=self.hann, return_complex=True)
        x = torch.view_as_real(spec).permute(0, 3, 2, 1)  # [B, 2, frames, bins]
        feats, outs = [], []
        for (lo, hi), convs in zip(self.edges, self.bands):
            y = x[..., lo:hi]
            for conv in convs:
                y = F.leaky_relu(conv(y), 0.1)
                feats.append(y)
            outs.append(y)
        y = self.post(torch.cat(outs, dim=-1))
        feats.append(y)
        return y, feats


class Discriminator(nn.Module):
    """All sub-discriminators: periods (2, 3, 5, 7, 11) and STFT windows (2048, 1024, 512)."""

    def __init__(self, periods=(2, 3, 5, 7, 11), windows=(2048, 1024, 512), channels: int = 32):
        super().__init__()
        self.subs = nn.ModuleList([PeriodDiscriminator(p, channels) for p in periods] +
                                  [BandSTFTDiscriminator(w, channels) for w in windows])

    def forward(self, wav: torch.Tensor):
        return [d(wav) for d in self.subs]
