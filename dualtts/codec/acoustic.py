"""The acoustic (waveform) stream: encoders ``wav [B, 1, T] -> [B, latent, T/hop]`` and decoders
``[B, latent, F] -> wav [B, 1, F*hop]``.

- DAC-style (the paper's): Snake residual convs at the full sample rate, strided down and
  transposed-conv up. The reference presets; made for GPUs.
- Spectral (for CPUs and fast decoding): STFT frames in, ConvNeXt at the frame rate, a short
  upsampler, and an iSTFT head (log-magnitude + phase, as in Vocos) out.
"""
from __future__ import annotations

import torch
from torch import nn

from dualtts.codec.config import DualCodecConfig
from dualtts.codec.modules import ConvNeXtBlock, DecoderBlock, EncoderBlock, Snake, wn_conv


class DACEncoder(nn.Module):
    """``reference``: the reference DualCodec's Snake numerics (:class:`codec.modules.Snake`)."""

    def __init__(self, dim: int, rates: list[int], latent: int, reference: bool = False):
        super().__init__()
        layers: list[nn.Module] = [wn_conv(1, dim, 7)]
        for r in rates:
            dim *= 2
            layers.append(EncoderBlock(dim, r, reference))
        layers += [Snake(dim, reference), wn_conv(dim, latent, 3)]
        self.net = nn.Sequential(*layers)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.net(wav)


class DACDecoder(nn.Module):
    """``reference``: the reference DualCodec's Snake numerics and upsampling without output padding (a
    stride-5 layer makes ``5T − 1`` samples, so the output is a few samples short of ``F*hop``)."""

    def __init__(self, latent: int, dim: int, rates: list[int], reference: bool = False):
        super().__init__()
        layers: list[nn.Module] = [wn_conv(latent, dim, 7)]
        for r in rates:
            layers.append(DecoderBlock(dim, dim // 2, r, reference))
            dim //= 2
        layers += [Snake(dim, reference), wn_conv(dim, 1, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class SpectralEncoder(nn.Module):
    """STFT (hop = hop_length/up, window 4 hops) -> log-magnitude + phase direction -> strided conv to the
    frame rate -> ConvNeXt blocks -> latent."""

    def __init__(self, hop_length: int, up: int, dim: int, hidden: int, layers: int, latent: int):
        super().__init__()
        self.hop = hop_length // up
        self.n_fft = 4 * self.hop
        bins = self.n_fft // 2 + 1
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.inp = nn.Conv1d(3 * bins, dim, up, stride=up)
        self.blocks = nn.Sequential(*[ConvNeXtBlock(dim, hidden) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.out = nn.Conv1d(dim, latent, 1)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = wav[:, 0]
        pad = self.n_fft // 2 - self.hop // 2
        x = torch.nn.functional.pad(x, (pad, pad), mode="reflect" if x.shape[-1] > pad else "constant")
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, center=False, return_complex=True)
        mag = spec.abs()
        feats = torch.cat([torch.log(mag + 1e-5), spec.real / (mag + 1e-5), spec.imag / (mag + 1e-5)], 1)
        frames = wav.shape[-1] // self.hop
        feats = feats[..., :frames]
        y = self.blocks(self.inp(feats))
        return self.out(self.norm(y.transpose(1, 2)).transpose(1, 2))


class ISTFTHead(nn.Module):
    """``[B, dim, N] -> wav [B, 1, N*hop]``: predicts log-magnitude and phase, inverse STFT (same-length padding)."""

    def __init__(self, dim: int, hop: int):
        super().__init__()
        self.hop, self.n_fft = hop, 4 * hop
        self.proj = nn.Linear(dim, 2 * (self.n_fft // 2 + 1))
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logmag, phase = self.proj(x.transpose(1, 2)).transpose(1, 2).float().chunk(2, dim=1)
        mag = torch.exp(logmag).clamp(max=1e2)
        spec = torch.polar(mag, phase)
        n = x.shape[-1]
        # inverse STFT without centering, then trim the window overhang so N frames -> N*hop samples
        frames = torch.fft.irfft(spec, self.n_fft, dim=1) * self.window[None, :, None]
        out_len = (n - 1) * self.hop + self.n_fft
        y = torch.nn.functional.fold(frames, (1, out_len), (1, self.n_fft), stride=(1, self.hop))[:, 0, 0]
        env = torch.nn.functional.fold(self.window.square()[None, :, None].expand(1, -1, n), (1, out_len),
                                       (1, self.n_fft), stride=(1, self.hop))[:, 0, 0]
        pad = (self.n_fft - self.hop) // 2
        y = y[:, pad: pad + n * self.hop] / env[:, pad: pad + n * self.hop].clamp(min=1e-8)
        return y[:, None]


class SpectralDecoder(nn.Module):
    """latent -> ConvNeXt at the frame rate -> transposed conv ×up -> 2 ConvNeXt blocks -> iSTFT head."""

    def __init__(self, latent: int, hop_length: int, up: int, dim: int, hidden: int, layers: int):
        super().__init__()
        self.inp = nn.Conv1d(latent, dim, 7, padding=3)
        self.blocks = nn.Sequential(*[ConvNeXtBlock(dim, hidden) for _ in range(layers)])
        fine = max(64, dim // 2)
        self.up = nn.ConvTranspose1d(dim, fine, 2 * up, stride=up, padding=up // 2) if up > 1 else nn.Conv1d(dim, fine, 1)
        self.fine = nn.Sequential(*[ConvNeXtBlock(fine, 3 * fine) for _ in range(2)])
        self.norm = nn.LayerNorm(fine, eps=1e-6)
        self.head = ISTFTHead(fine, hop_length // up)
        self.factor = up

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.inp(z))
        x = self.up(x)[..., : z.shape[-1] * self.factor]
        x = self.fine(x)
        return self.head(self.norm(x.transpose(1, 2)).transpose(1, 2))


def build_acoustic(cfg: DualCodecConfig) -> tuple[nn.Module, nn.Module]:
    if cfg.stream == "dac":
        ref = cfg.compat == "reference"
        return (DACEncoder(cfg.encoder_dim, cfg.encoder_rates, cfg.latent_dim, ref),
                DACDecoder(cfg.latent_dim, cfg.decoder_dim, list(reversed(cfg.encoder_rates)), ref))
    return (SpectralEncoder(cfg.hop_length, cfg.spec_upsample, cfg.spec_dim, cfg.spec_hidden, cfg.spec_layers, cfg.latent_dim),
            SpectralDecoder(cfg.latent_dim, cfg.hop_length, cfg.spec_upsample, cfg.spec_dim, cfg.spec_hidden, cfg.spec_layers))
