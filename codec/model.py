"""DualCodec: a frozen SSL encoder quantized into RVQ-1 (semantic), and a waveform stream whose
residual after the semantic part fills the acoustic RVQ layers.

    wav ──▶ SSL (frozen, 16 kHz, 50 Hz) ─▶ pool to frame rate ─▶ ConvNeXt ─▶ VQ-1 ─▶ s_q ─┬─▶ ConvNeXt ─▶ SSL feature (MSE)
    wav ──▶ acoustic encoder ─▶ a ─▶ (a − s_q) ─▶ residual VQ (layers 2..Q) ─▶ r_q ─────┴─▶ s_q + r_q ─▶ decoder ─▶ wav

Shapes: ``wav: [B, 1, T]``, ``codes: [B, Q, F]`` with ``F = ceil(T / hop_length)``, latents ``[B, D, F]``.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from codec.acoustic import build_acoustic
from codec.config import DualCodecConfig
from codec.modules import ConvNeXtStack, Resampler
from codec.quantizer import FactorizedVQ, ResidualVQ
from codec.ssl import SSLFrontEnd
from codec.codes import check_codes, encode_per_length, trim
from data.checkpoint import Pretrained


class DualCodec(Pretrained, nn.Module):
    WHAT = "codec"

    def __init__(self, cfg: DualCodecConfig):
        super().__init__()
        self.cfg = cfg.validate()
        self.ssl = SSLFrontEnd(cfg.ssl)
        self.to16k = Resampler(cfg.sample_rate, SSLFrontEnd.sample_rate)
        self.pool = cfg.hop_length * SSLFrontEnd.frame_rate // cfg.sample_rate
        self.semantic_encoder = ConvNeXtStack(cfg.ssl.dim, cfg.semantic_dim, cfg.semantic_dim, cfg.semantic_layers, cfg.semantic_hidden)
        vq_in = cfg.semantic_dim if cfg.semantic_mode == "dual" else cfg.latent_dim  # ablations quantize the acoustic latent
        self.semantic_vq = FactorizedVQ(vq_in, cfg.semantic_codebook_size, cfg.code_dim, cfg.dead_code_after, out_dim=cfg.latent_dim)
        self.semantic_decoder = ConvNeXtStack(cfg.latent_dim, cfg.semantic_dim, cfg.ssl.dim, cfg.semantic_layers, cfg.semantic_hidden)
        self.encoder, self.decoder = build_acoustic(cfg)
        self.acoustic_rvq = ResidualVQ(cfg.latent_dim, cfg.n_acoustic, cfg.acoustic_codebook_size, cfg.code_dim,
                                       dropout=True, min_keep=1, bypass=cfg.bypass_prob, dead_after=cfg.dead_code_after)

    # --- Tokenizer contract -------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.cfg.frame_rate

    @property
    def codebook_sizes(self) -> list[int]:
        return self.cfg.codebook_sizes

    @property
    def device(self) -> torch.device:
        return self.acoustic_rvq.layers[0].codebook.weight.device

    def frames(self, length: int) -> int:
        """Frames for ``length`` samples (the last partial frame counts)."""
        return math.ceil(length / self.cfg.hop_length)

    def _pad(self, wav: torch.Tensor) -> torch.Tensor:
        T = wav.shape[-1]
        return F.pad(wav, (0, self.frames(T) * self.cfg.hop_length - T))

    def semantic_features(self, wav: torch.Tensor, teacher: torch.Tensor | None = None) -> torch.Tensor:
        """Normalized SSL features pooled to the frame rate: ``wav [B, 1, T] (T % hop == 0) -> [B, D_ssl, F]``.

        ``teacher``: the unnormalized 50 Hz features of this audio ``[B, D_ssl, F50]``, computed earlier
        (:class:`codec.feature_cache.TeacherCache`): the SSL model is then not run."""
        n = wav.shape[-1] // self.cfg.hop_length
        if teacher is not None:
            h = (teacher.float() - self.ssl.mean[:, None]) / self.ssl.std[:, None]
        else:
            h = self.ssl(self.to16k(wav[:, 0]))
        want = n * self.pool
        h = F.pad(h, (0, want - h.shape[-1]), mode="replicate") if h.shape[-1] < want else h[..., :want]
        return F.avg_pool1d(h, self.pool) if self.pool > 1 else h

    def _quantize(self, wav: torch.Tensor, n_acoustic: int | None = None, need_feats: bool = False,
                  teacher: torch.Tensor | None = None) -> dict:
        mode = self.cfg.semantic_mode
        a = self.encoder(wav)
        feats = self.semantic_features(wav, teacher) if mode == "dual" or (mode == "distill" and need_feats) else None
        s_q, s_codes, s_cb, s_cm = self.semantic_vq(self.semantic_encoder(feats) if mode == "dual" else a)
        r_q, a_codes, a_cb, a_cm = self.acoustic_rvq(a - s_q, n_acoustic)
        return {"feats": feats, "s_q": s_q, "z": s_q + r_q, "codes": torch.cat([s_codes[:, None], a_codes], 1),
                "codebook_loss": s_cb.mean() + a_cb, "commitment_loss": s_cm.mean() + a_cm}

    def forward(self, wav: torch.Tensor, teacher: torch.Tensor | None = None) -> dict:
        """Training pass. ``wav: [B, 1, T]`` -> dict with ``audio [B, 1, T]``, ``codes``, and the losses
        ``semantic_loss`` (MSE to the normalized SSL features), ``codebook_loss``, ``commitment_loss``.
        ``teacher``: precomputed unnormalized SSL features ``[B, D_ssl, F50]`` (see :meth:`semantic_features`)."""
        T = wav.shape[-1]
        out = self._quantize(self._pad(wav), need_feats=True, teacher=teacher)
        out["audio"] = self.decoder(out["z"])[..., :T]
        feats = out["feats"]
        out["semantic_loss"] = F.mse_loss(self.semantic_decoder(out["s_q"]), feats) if feats is not None else wav.new_zeros(())
        return out

    @torch.no_grad()
    def encode(self, wav: torch.Tensor, lengths: torch.Tensor | list[int] | None = None, n_layers: int | None = None) -> torch.Tensor:
        """``wav: [B, 1, T]`` (padded; ``lengths`` = true samples per item) -> ``codes [B, Q, F]``.

        Items are encoded at their own length, so a batch gives the same codes as one-by-one
        encoding; frames past an item's end (``frames(length)``) are 0.
        """
        n_ac = None if n_layers is None else max(0, n_layers - 1)
        fn = lambda w: self._quantize(self._pad(w), n_ac)["codes"]
        return encode_per_length(fn, wav, lengths, self.frames, n_layers or len(self.codebook_sizes))

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes: [B, q, F]`` (1 ≤ q ≤ Q) -> the decoder's input latent ``[B, latent, F]``."""
        z = self.semantic_vq.decode(codes[:, 0])
        if codes.shape[1] > 1:
            z = z + self.acoustic_rvq.decode(codes[:, 1:])
        return z

    @torch.no_grad()
    def quantize_acoustic(self, latent: torch.Tensor) -> torch.Tensor:
        """The acoustic part of a latent (``embed(codes) - embed(codes[:, :1])``, ``[B, latent, F]``) -> its
        acoustic codes ``[B, Q-1, F]`` (what the flow stage's ``--as-codes`` uses)."""
        was = self.acoustic_rvq.training
        self.acoustic_rvq.eval()
        codes = self.acoustic_rvq(latent)[1]
        self.acoustic_rvq.train(was)
        return codes

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, lengths: int | list[int] | None = None) -> torch.Tensor:
        """``codes: [B, q, F]`` -> ``wav [B, 1, F*hop]``, trimmed to ``lengths`` when given (int: all items).

        Any prefix of layers works: ``codes[:, :1]`` decodes the semantic layer alone.
        """
        check_codes(codes, len(self.codebook_sizes))
        return trim(self.decode_latent(self.embed(codes)), lengths)

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        """``z: [B, latent, F] -> wav [B, 1, F*hop]``."""
        return self.decoder(z)

    # --- persistence --------------------------------------------------------------------------
    def num_params(self, include_ssl: bool = False) -> int:
        return sum(p.numel() for n, p in self.named_parameters() if include_ssl or not n.startswith("ssl.model."))

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Everything but the SSL model's weights (unless they are random, i.e. only exist here)."""
        keep_ssl = self.cfg.ssl.source == "random"
        return {k: v for k, v in self.state_dict().items() if keep_ssl or not k.startswith("ssl.model.")}

    # --- checkpoints (data.checkpoint.Pretrained: from_pretrained, save_pretrained) ---
    checkpoint_state = trainable_state_dict

    @classmethod
    def config_from_folder(cls, path: Path) -> DualCodecConfig:
        return DualCodecConfig.load(path / "config.yaml")

    def load_checkpoint_state(self, state: dict, path: Path) -> None:
        """The SSL model's pretrained weights are not in the checkpoint (they load with the model)."""
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("ssl.model.")]
        if missing or unexpected:
            raise ValueError(f"{path}: checkpoint does not match its config (missing {missing[:3]}, unexpected {unexpected[:3]})")
