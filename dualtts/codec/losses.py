"""Codec losses: multi-scale mel L1, a phase-aware complex-STFT loss, LSGAN, and feature matching."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dualtts.data.mel import filters_on, mel_filters


_WINDOWS: dict = {}


def _hann(n: int, device) -> torch.Tensor:
    """A periodic Hann window on ``device``, made there once (not once per loss call)."""
    key = (n, str(device))
    w = _WINDOWS.get(key)
    if w is None:
        w = _WINDOWS[key] = torch.hann_window(n, device=device)
    return w


class MultiScaleMelLoss(nn.Module):
    """Mean over scales of L1(log10 mel) + L1(mel magnitude); windows 256..2048 with 40..320 mels."""

    def __init__(self, sample_rate: int = 24000, windows=(256, 512, 1024, 2048), mels=(40, 80, 160, 320)):
        super().__init__()
        self.sr, self.windows, self.mels = sample_rate, windows, mels

    def mel(self, wav: torch.Tensor, w: int, m: int) -> torch.Tensor:
        spec = torch.stft(wav[:, 0].float(), w, w // 4, window=_hann(w, wav.device), return_complex=True).abs()
        # librosa's Slaney bank (data.mel), copied to the device once, not on every call
        return filters_on(mel_filters, self.sr, w, m, device=wav.device) @ spec

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = pred.new_zeros(())
        for w, m in zip(self.windows, self.mels):
            a, b = self.mel(pred, w, m), self.mel(target, w, m)
            total = total + F.l1_loss(torch.log10(a.clamp(min=1e-5)), torch.log10(b.clamp(min=1e-5))) + F.l1_loss(a, b)
        return total / len(self.windows)


class ComplexSTFTLoss(nn.Module):
    """Phase-aware multi-resolution loss: mean |C(pred) - C(target)| over STFT bins, where
    ``C(X) = |X|^0.3 * X / |X|`` (power-law compressed complex spectrum); windows 512..2048, hop w/4."""

    def __init__(self, windows=(512, 1024, 2048), power: float = 0.3):
        super().__init__()
        self.windows, self.power = windows, power

    def _c(self, wav: torch.Tensor, w: int) -> torch.Tensor:
        x = torch.stft(wav[:, 0].float(), w, w // 4, window=_hann(w, wav.device), return_complex=True)
        mag = x.abs().clamp(min=1e-7)
        return x * (mag ** (self.power - 1))

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum((self._c(pred, w) - self._c(target, w)).abs().mean() for w in self.windows) / len(self.windows)


def discriminator_loss(real_outs, fake_outs) -> torch.Tensor:
    """LSGAN: real -> 1, fake -> 0."""
    return sum(((1 - r) ** 2).mean() + (f ** 2).mean() for (r, _), (f, _) in zip(real_outs, fake_outs)) / len(real_outs)


def generator_adv_loss(fake_outs) -> torch.Tensor:
    return sum(((1 - f) ** 2).mean() for f, _ in fake_outs) / len(fake_outs)


def feature_matching_loss(real_outs, fake_outs) -> torch.Tensor:
    total, n = 0.0, 0
    for (_, rf), (_, ff) in zip(real_outs, fake_outs):
        for r, f in zip(rf, ff):
            total = total + F.l1_loss(f, r.detach())
            n += 1
    return total / max(n, 1)
