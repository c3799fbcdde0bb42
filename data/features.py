"""Spectral features shared by training validation and the evaluation metrics."""
from __future__ import annotations

import functools

import numpy as np
import torch


@functools.lru_cache(maxsize=4)
def _mel_fb(sr: int, n_fft: int, n_mels: int) -> torch.Tensor:
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)).float()


def log_mel(wav: np.ndarray, sr: int = 16000, n_fft: int = 1024, hop: int = 256, n_mels: int = 80) -> torch.Tensor:
    """``wav: [T]`` -> log-mel ``[n_mels, F]`` (natural log, floor 1e-5), torch STFT."""
    x = torch.as_tensor(wav, dtype=torch.float32)
    spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs()
    return torch.log(torch.clamp(_mel_fb(sr, n_fft, n_mels) @ spec, min=1e-5))


def mel_l1(ref: np.ndarray, hyp: np.ndarray, sr: int = 16000) -> float:
    """Mean absolute log-mel difference of two equal-rate signals (cut to the shorter)."""
    n = min(len(ref), len(hyp))
    return float((log_mel(ref[:n], sr) - log_mel(hyp[:n], sr)).abs().mean())
