"""Prompt-matched EQ: undo the colour the codec gives a voice it never heard.

A codec trained on a few dozen voices decodes a new voice with a long-term spectrum pulled towards the voices it
knows (brighter or duller, a band it was never told was missing). That colour is measured on the prompt itself:
the prompt is encoded and decoded, and the ratio of the prompt's long-term average spectrum to its decoded copy's
(smoothed over frequency, clamped, level-neutral between 200 Hz and 3 kHz) is a fixed filter, applied to every
output of that prompt. It uses nothing but the prompt, so synthesis stays zero-shot.

    eq = VoiceEQ.fit(prompt_wav, decoded_prompt_wav, sr=24000)   # both [T] float32, the same rate
    out = eq(out)                                                 # [T] -> [T]

On the mini model's real-voice set it moves the output towards the prompt's speaker
(recipes/mini/generalize.md, "Prompt-matched EQ").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class VoiceEQ:
    gain: np.ndarray  # [n_fft // 2 + 1] linear amplitude gain per STFT bin
    sr: int
    n_fft: int = 1024
    hop: int = 256

    @classmethod
    def fit(cls, raw: np.ndarray, decoded: np.ndarray, sr: int, max_db: float = 10.0, smooth_hz: float = 200.0,
            n_fft: int = 1024) -> "VoiceEQ":
        """``raw``, ``decoded``: the prompt and the codec's copy of it, [T] at ``sr``. ``max_db`` bounds the
        correction either way; ``smooth_hz`` is the width of the moving average over frequency."""
        raw, decoded = np.asarray(raw, np.float32).reshape(-1), np.asarray(decoded, np.float32).reshape(-1)
        n = min(len(raw), len(decoded))
        if n < n_fft:
            return cls(np.ones(n_fft // 2 + 1, np.float32), sr, n_fft, n_fft // 4)
        k = max(1, int(round(smooth_hz * n_fft / sr)) | 1)  # odd width in bins
        db = _smooth(_ltas_db(raw[:n], n_fft), k) - _smooth(_ltas_db(decoded[:n], n_fft), k)
        hz = np.arange(len(db)) * sr / n_fft
        db = db - db[(hz >= 200) & (hz <= 3000)].mean()  # a filter on the colour, not the level
        gain = np.power(10.0, np.clip(db, -max_db, max_db) / 20.0).astype(np.float32)
        return cls(gain, sr, n_fft, n_fft // 4)

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        """``wav [T]`` float32 at ``self.sr`` -> the same length, filtered (zero phase, per STFT frame)."""
        wav = np.asarray(wav, np.float32)
        if len(wav) < self.n_fft:
            return wav
        win = torch.hann_window(self.n_fft)
        spec = torch.stft(torch.from_numpy(wav), self.n_fft, self.hop, window=win, return_complex=True)
        spec = spec * torch.from_numpy(self.gain)[:, None]
        return torch.istft(spec, self.n_fft, self.hop, window=win, length=len(wav)).numpy().astype(np.float32)


def _ltas_db(wav: np.ndarray, n_fft: int) -> np.ndarray:
    """Long-term average power spectrum in dB over the frames within 30 dB of the loudest (speech, not pauses)."""
    win = torch.hann_window(n_fft)
    power = torch.stft(torch.from_numpy(wav), n_fft, n_fft // 4, window=win, return_complex=True).abs().pow(2)
    energy = power.sum(0)
    keep = energy > energy.max() * 1e-3
    return (10 * torch.log10(power[:, keep].mean(1) + 1e-10)).numpy().astype(np.float64)


def _smooth(x: np.ndarray, k: int) -> np.ndarray:
    """Moving average of width ``k`` (odd), the edges averaged over what lies inside."""
    pad = k // 2
    c = np.convolve(np.pad(x, pad, mode="edge"), np.ones(k) / k, mode="valid")
    return c[: len(x)]
