"""Mel filter banks in numpy/torch, without librosa (an evaluation extra): training needs only these.

- :func:`mel_filters`: the Slaney-style bank (``librosa.filters.mel``'s defaults: Slaney mel scale, Slaney area
  normalization; ``htk=True`` for the HTK scale), ``[n_mels, 1 + n_fft // 2]``. The codec's mel loss, Whisper's
  log-mel and the validation mel distance use it.
- :func:`kaldi_mel_filters`: the Kaldi-style bank of ``compute-fbank`` (triangles in mel space on the Kaldi mel
  scale, no normalization), which w2v-BERT 2.0's fbank front end uses.
- :func:`filters_on`: a bank as a tensor on a device and dtype, built once per (bank, device, dtype).
"""
from __future__ import annotations

import functools

import numpy as np
import torch


def hz_to_mel(f, htk: bool = False):
    """Hertz -> mel: the Slaney scale (linear below 1 kHz, logarithmic above) or, ``htk``, 2595 log10(1 + f/700)."""
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    lin = f / f_sp
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, lin)


def mel_to_hz(m, htk: bool = False):
    """The inverse of :func:`hz_to_mel`."""
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def _triangles(bins: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Triangular weights ``[len(edges) - 2, len(bins)]``: filter i rises from edges[i] to edges[i+1] and falls
    to edges[i+2], evaluated at ``bins`` (both on the same axis: Hz or mel)."""
    width = np.diff(edges)
    dist = edges[:, None] - bins[None, :]          # [n + 2, K]
    rise = -dist[:-2] / width[:-1, None]
    fall = dist[2:] / width[1:, None]
    return np.maximum(0.0, np.minimum(rise, fall))


@functools.lru_cache(maxsize=32)
def mel_filters(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None, htk: bool = False,
                norm: str | None = "slaney") -> np.ndarray:
    """The Slaney-style mel filter bank ``[n_mels, 1 + n_fft // 2]`` float32 (``librosa.filters.mel``'s
    defaults). ``norm="slaney"``: each triangle divided by its width in Hz / 2 (equal area); None: peak 1."""
    fmax = sr / 2 if fmax is None else fmax
    freqs = np.linspace(0.0, sr / 2, 1 + n_fft // 2)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    w = _triangles(freqs, edges)
    if norm == "slaney":
        w *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    elif norm is not None:
        raise ValueError(f"norm: 'slaney' or None, not {norm!r}")
    w = w.astype(np.float32)
    w.setflags(write=False)
    return w


@functools.lru_cache(maxsize=8)
def kaldi_mel_filters(sr: int = 16000, n_fft: int = 512, n_mels: int = 80, fmin: float = 20.0,
                      fmax: float | None = None) -> np.ndarray:
    """Kaldi's fbank filters ``[n_mels, 1 + n_fft // 2]`` float64: triangles in mel space on the Kaldi scale
    (1127 ln(1 + f/700)), evenly spaced between ``fmin`` and ``fmax``, peak 1, no normalization."""
    fmax = sr / 2 if fmax is None else fmax
    mel = lambda f: 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)
    bins = mel(np.arange(1 + n_fft // 2) * sr / n_fft)
    w = _triangles(bins, np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    w.setflags(write=False)
    return w


_ON_DEVICE: dict = {}


def filters_on(bank, *args, device, dtype=torch.float32, **kw) -> torch.Tensor:
    """``bank(*args, **kw)`` (:func:`mel_filters` or :func:`kaldi_mel_filters`) as a tensor on ``device`` and
    ``dtype``, built and copied there once: later calls hand back the same tensor (no host-to-device copy per step)."""
    key = (bank.__name__, args, tuple(sorted(kw.items())), str(torch.device(device)), dtype)
    t = _ON_DEVICE.get(key)
    if t is None:
        t = _ON_DEVICE[key] = torch.from_numpy(np.array(bank(*args, **kw))).to(device=device, dtype=dtype)
    return t
