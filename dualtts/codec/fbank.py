"""w2v-BERT 2.0's fbank front end in torch, on the waveform's device (no CPU round trip per training step).

The same features as transformers' ``SeamlessM4TFeatureExtractor`` for a batch of equal-length clips (tested
against it on CPU): Kaldi-style 80-bin log-mel fbank (25 ms povey window, 10 ms hop, 512-point FFT, DC offset
removed and pre-emphasis 0.97 per frame, samples scaled to 16-bit range), each bin normalized over the clip's
frames (mean, unbiased variance), an odd frame count padded with ``padding_value`` to even, and pairs of frames
stacked into ``[B, F/2, 160]``; the attention mask is 0 on a stacked frame whose second half is padding.
"""
from __future__ import annotations

import torch

from dualtts.data.mel import filters_on, kaldi_mel_filters

FRAME, HOP, N_FFT, N_MELS, STRIDE = 400, 160, 512, 80, 2
PREEMPHASIS, MEL_FLOOR = 0.97, 1.192092955078125e-07

_WINDOWS: dict = {}


def _povey(device, dtype) -> torch.Tensor:
    key = (str(device), dtype)
    w = _WINDOWS.get(key)
    if w is None:  # Kaldi's povey window: a symmetric Hann window to the power 0.85
        w = _WINDOWS[key] = torch.hann_window(FRAME, periodic=False, dtype=torch.float64).pow(0.85).to(device=device, dtype=dtype)
    return w


def w2v_bert_fbank(wav16k: torch.Tensor, padding_value: float = 0.0, dtype: torch.dtype = torch.float32
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``wav16k [B, T]`` (16 kHz, any float dtype) -> ``(input_features [B, F/2, 160] float32, attention_mask
    [B, F/2] long)``, F = 1 + (T - 400) // 160 rounded up to even. Computed in ``dtype`` (float32; float64
    for bit-for-bit closeness), with autocast off."""
    if wav16k.dim() != 2:
        raise ValueError(f"expected a batch of waveforms [B, T], got {list(wav16k.shape)}")
    if wav16k.shape[-1] < FRAME:
        raise ValueError(f"audio shorter than one fbank frame ({FRAME} samples at 16 kHz)")
    dev = wav16k.device
    with torch.autocast(dev.type, enabled=False):
        x = wav16k.to(torch.float32) * 32768.0  # Kaldi reads 16-bit sample values (scaled in float32, as the extractor)
        frames = x.to(dtype).unfold(-1, FRAME, HOP)                     # [B, F, 400]
        frames = frames - frames.mean(-1, keepdim=True)                 # DC offset
        frames = torch.cat([frames[..., :1] * (1 - PREEMPHASIS), frames[..., 1:] - PREEMPHASIS * frames[..., :-1]], -1)
        spec = torch.fft.rfft(frames * _povey(dev, dtype), n=N_FFT)     # [B, F, 257]
        power = spec.real.square() + spec.imag.square()
        fb = filters_on(kaldi_mel_filters, 16000, N_FFT, N_MELS, device=dev, dtype=dtype)  # [80, 257]
        feats = torch.log(torch.clamp(power @ fb.t(), min=MEL_FLOOR))    # [B, F, 80]
        mean = feats.mean(1, keepdim=True)
        var = feats.var(1, keepdim=True, unbiased=True) if feats.shape[1] > 1 else torch.zeros_like(mean)
        feats = ((feats - mean) / torch.sqrt(var + 1e-7)).float()
        B, F, _ = feats.shape
        mask = torch.ones(B, F + F % STRIDE, dtype=torch.long, device=dev)
        if F % STRIDE:
            feats = torch.cat([feats, feats.new_full((B, STRIDE - F % STRIDE, N_MELS), padding_value)], 1)
            mask[:, F:] = 0
        feats = feats.reshape(B, -1, N_MELS * STRIDE)
        return feats, mask[:, STRIDE - 1:: STRIDE].contiguous()
