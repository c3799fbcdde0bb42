"""DualCodec: a frozen SSL encoder quantized into RVQ-1 (semantic), and a waveform stream whose
residual after the semantic part fills the acoustic RVQ layers.

    wav ──▶ SSL (frozen, 16 kHz, 50 Hz) ─▶ pool to frame rate ─▶ ConvNeXt ─▶ VQ-1 ─▶ s_q ─┬─▶ ConvNeXt ─▶ SSL feature (MSE)
    wav ──▶ acoustic encoder ─▶ a ─▶ (a − s_q) ─▶ residual VQ (layers 2..Q) ─▶ r_q ─────┴─▶ s_q + r_q ─▶ decoder ─▶ wav

Shapes: ``wav: [B, 1, T]``, ``codes: [B, Q, F]`` with ``F = ceil(T / hop_length)``, latents ``[B, D, F]``.

``cfg.compat == "reference"``: the reference package's layout and numerics, for its published weights
(:mod:`codec.reference`; ``DualCodec.from_pretrained("amphion/dualcodec", variant="12hz")``): the semantic
latent is the semantic decoder's output, and ``F`` is the reference's frame count (one fewer for audio of a
whole number of frames, :meth:`DualCodec.frames`).
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dualtts.codec.acoustic import build_acoustic
from dualtts.codec.config import DualCodecConfig
from dualtts.codec.modules import CausalConvNeXtStack, ConvNeXtStack, Resampler, SincResampler
from dualtts.codec.quantizer import FactorizedVQ, ResidualVQ
from dualtts.codec.ssl import SSLFrontEnd
from dualtts.codec.codes import check_codes, encode_per_length, trim
from dualtts.data.checkpoint import Pretrained, resolve_device


class DualCodec(Pretrained, nn.Module):
    WHAT = "codec"

    def __init__(self, cfg: DualCodecConfig):
        super().__init__()
        self.cfg = cfg.validate()
        self.reference = ref = cfg.compat == "reference"
        self.ssl = SSLFrontEnd(cfg.ssl, reference=ref)
        self.to16k = (SincResampler if ref else Resampler)(cfg.sample_rate, SSLFrontEnd.sample_rate)
        self.pool = cfg.hop_length * SSLFrontEnd.frame_rate // cfg.sample_rate
        if ref:  # the semantic decoder's output (ssl.dim == latent_dim) is the semantic latent and the distillation output
            self.semantic_encoder = CausalConvNeXtStack(cfg.ssl.dim, cfg.semantic_dim, None, cfg.semantic_layers, cfg.semantic_hidden)
            self.semantic_vq = FactorizedVQ(cfg.semantic_dim, cfg.semantic_codebook_size, cfg.code_dim, cfg.dead_code_after, raw=True)
            self.semantic_decoder = CausalConvNeXtStack(None, cfg.semantic_dim, cfg.ssl.dim, cfg.semantic_layers, cfg.semantic_hidden)
        else:
            self.semantic_encoder = ConvNeXtStack(cfg.ssl.dim, cfg.semantic_dim, cfg.semantic_dim, cfg.semantic_layers, cfg.semantic_hidden)
            vq_in = cfg.semantic_dim if cfg.semantic_mode == "dual" else cfg.latent_dim  # ablations quantize the acoustic latent
            self.semantic_vq = FactorizedVQ(vq_in, cfg.semantic_codebook_size, cfg.code_dim, cfg.dead_code_after, out_dim=cfg.latent_dim)
            self.semantic_decoder = ConvNeXtStack(cfg.latent_dim, cfg.semantic_dim, cfg.ssl.dim, cfg.semantic_layers, cfg.semantic_hidden)
        self.encoder, self.decoder = build_acoustic(cfg)
        self.acoustic_rvq = ResidualVQ(cfg.latent_dim, cfg.n_acoustic, cfg.acoustic_codebook_size, cfg.code_dim,
                                       dropout=True, min_keep=1, bypass=cfg.bypass_prob, dead_after=cfg.dead_code_after, raw=ref)

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
        """Frames for ``length`` samples (the last partial frame counts; ``compat: reference``: the reference's
        count, from its 16 kHz length, 25 ms / 10 ms fbank frames paired into 50 Hz frames, then pooled)."""
        if self.reference:
            n16 = math.ceil(SSLFrontEnd.sample_rate * length / self.cfg.sample_rate)
            fbank = 1 + (n16 - 400) // 160 if n16 >= 400 else 0
            return math.ceil(fbank / 2) // self.pool
        return math.ceil(length / self.cfg.hop_length)

    def _fit(self, wav: torch.Tensor, length: int) -> torch.Tensor:
        """Cut or zero-pad ``[..., T']`` to ``length`` samples (the reference's decoder is a few samples short)."""
        return F.pad(wav, (0, length - wav.shape[-1])) if wav.shape[-1] < length else wav[..., :length]

    def _pad(self, wav: torch.Tensor) -> torch.Tensor:
        """Zero-pad ``[..., T]`` to whole frames (``ceil(T / hop)``)."""
        T = wav.shape[-1]
        return F.pad(wav, (0, math.ceil(T / self.cfg.hop_length) * self.cfg.hop_length - T))

    def semantic_features(self, wav: torch.Tensor, teacher: torch.Tensor | None = None) -> torch.Tensor:
        """Normalized SSL features pooled to the frame rate: ``wav [B, 1, T] (T % hop == 0) -> [B, D_ssl, F]``.

        ``teacher``: the unnormalized 50 Hz features of this audio ``[B, D_ssl, F50]``, computed earlier
        (:class:`codec.feature_cache.TeacherCache`): the SSL model is then not run."""
        n = wav.shape[-1] // self.cfg.hop_length
        if teacher is not None:
            h = (teacher.float() - self.ssl.mean[:, None]) / self.ssl.std[:, None]
        else:
            h = self.ssl(self.to16k(wav[:, 0]))
        if self.reference:  # unpadded audio in, whole pooling windows only (F-1 frames for F frames' worth)
            return F.avg_pool1d(h, self.pool, self.pool) if self.pool > 1 else h
        want = n * self.pool
        h = F.pad(h, (0, want - h.shape[-1]), mode="replicate") if h.shape[-1] < want else h[..., :want]
        return F.avg_pool1d(h, self.pool) if self.pool > 1 else h

    def _quantize(self, wav: torch.Tensor, n_acoustic: int | None = None, need_feats: bool = False,
                  teacher: torch.Tensor | None = None) -> dict:
        if self.reference:
            return self._quantize_reference(wav, n_acoustic, teacher)
        mode = self.cfg.semantic_mode
        a = self.encoder(wav)
        feats = self.semantic_features(wav, teacher) if mode == "dual" or (mode == "distill" and need_feats) else None
        s_q, s_codes, s_cb, s_cm = self.semantic_vq(self.semantic_encoder(feats) if mode == "dual" else a)
        r_q, a_codes, a_cb, a_cm = self.acoustic_rvq(a - s_q, n_acoustic)
        return {"feats": feats, "s_q": s_q, "z": s_q + r_q, "codes": torch.cat([s_codes[:, None], a_codes], 1),
                "codebook_loss": s_cb.mean() + a_cb, "commitment_loss": s_cm.mean() + a_cm}

    def _quantize_reference(self, wav: torch.Tensor, n_acoustic: int | None, teacher: torch.Tensor | None) -> dict:
        """``compat: reference``: ``wav`` unpadded (the SSL reads it as it is, the acoustic encoder padded to whole
        frames); the acoustic latent is cut to the semantic frame count."""
        feats = self.semantic_features(wav, teacher)
        v, s_codes, s_cb, s_cm = self.semantic_vq(self.semantic_encoder(feats))
        s_q = self.semantic_decoder(v)
        a = self.encoder(self._pad(wav))[..., : s_q.shape[-1]]
        r_q, a_codes, a_cb, a_cm = self.acoustic_rvq(a - s_q, n_acoustic)
        return {"feats": feats, "s_q": s_q, "s_pred": s_q, "z": r_q + s_q, "codes": torch.cat([s_codes[:, None], a_codes], 1),
                "codebook_loss": s_cb.mean() + a_cb, "commitment_loss": s_cm.mean() + a_cm}

    def forward(self, wav: torch.Tensor, teacher: torch.Tensor | None = None) -> dict:
        """Training pass. ``wav: [B, 1, T]`` -> dict with ``audio [B, 1, T]``, ``codes``, and the losses
        ``semantic_loss`` (MSE to the normalized SSL features), ``codebook_loss``, ``commitment_loss``.
        ``teacher``: precomputed unnormalized SSL features ``[B, D_ssl, F50]`` (see :meth:`semantic_features`)."""
        T = wav.shape[-1]
        out = self._quantize(wav if self.reference else self._pad(wav), need_feats=True, teacher=teacher)
        out["audio"] = self._fit(self.decoder(out["z"]), T)
        feats = out["feats"]
        if feats is None:
            out["semantic_loss"] = wav.new_zeros(())
        else:
            pred = out["s_pred"] if self.reference else self.semantic_decoder(out["s_q"])
            out["semantic_loss"] = F.mse_loss(pred, feats)
        return out

    @torch.no_grad()
    def encode(self, wav: torch.Tensor, lengths: torch.Tensor | list[int] | None = None, n_layers: int | None = None) -> torch.Tensor:
        """``wav: [B, 1, T]`` (padded; ``lengths`` = true samples per item) -> ``codes [B, Q, F]``.

        Items are encoded at their own length, so a batch gives the same codes as one-by-one
        encoding; frames past an item's end (``frames(length)``) are 0.
        """
        n_ac = None if n_layers is None else max(0, n_layers - 1)
        fn = lambda w: self._quantize(w if self.reference else self._pad(w), n_ac)["codes"]
        return encode_per_length(fn, wav, lengths, self.frames, n_layers or len(self.codebook_sizes))

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes: [B, q, F]`` (1 ≤ q ≤ Q) -> the decoder's input latent ``[B, latent, F]``."""
        z = self.semantic_vq.decode(codes[:, 0])
        if self.reference:
            z = self.semantic_decoder(z)
        if codes.shape[1] > 1:
            z = z + self.acoustic_rvq.decode(codes[:, 1:])
        return z

    def embed_acoustic_probs(self, probs: torch.Tensor) -> torch.Tensor:
        """Distributions over the acoustic layers' codes ``probs: [B, q, F, K]`` (layers 2..q+1) -> their expected
        acoustic latent ``[B, latent, F]`` (add ``embed(codes[:, :1])`` for the decoder's input)."""
        return sum(self.acoustic_rvq.layers[i].decode_probs(probs[:, i]) for i in range(probs.shape[1]))

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
        return self._fit(self.decoder(z), z.shape[-1] * self.cfg.hop_length) if self.reference else self.decoder(z)

    def usage(self) -> dict[str, float]:
        """``usage/rvq{i}``: each codebook's perplexity over recent batches / its size (1.0: all codes used equally)."""
        layers = [self.semantic_vq, *self.acoustic_rvq.layers]
        values = torch.stack([layer.perplexity() for layer in layers]).tolist()  # one host sync for all layers
        return {f"usage/rvq{i + 1}": v for i, v in enumerate(values)}

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
    def from_pretrained(cls, path_or_id, device="cpu", dtype=None, variant: str | None = None, **reference_kw):
        """A checkpoint folder of ours (or a hub repo id with ``model.safetensors`` + ``config.yaml``), or the
        official DualCodec weights: ``"amphion/dualcodec"`` with ``variant="12hz" | "25hz"`` (also written
        ``"amphion/dualcodec:25hz"``), a folder holding ``dualcodec_*.safetensors`` and the w2v-BERT statistics, or
        one such file (``reference_kw``: ``ssl_source`` for w2v-BERT 2.0 elsewhere, config fields to change; see
        :func:`codec.reference.reference_checkpoint`)."""
        from dualtts.codec.reference import VARIANTS, is_reference_source, reference_checkpoint

        s = str(path_or_id)
        head, _, tail = s.rpartition(":")
        if variant is None and tail in VARIANTS and head and not Path(s).exists():
            path_or_id, variant = head, tail
        if not is_reference_source(path_or_id, variant):
            return super().from_pretrained(path_or_id, device, dtype)
        cfg, state, weights = reference_checkpoint(path_or_id, variant, **reference_kw)
        model = cls(cfg)
        model.load_checkpoint_state(state, weights)
        model.checkpoint_dir = weights.parent
        model = model.to(resolve_device(device))
        return (model.to(dtype) if dtype is not None else model).eval()

    @classmethod
    def config_from_folder(cls, path: Path) -> DualCodecConfig:
        return DualCodecConfig.load(path / "config.yaml")

    def load_checkpoint_state(self, state: dict, path: Path) -> None:
        """The SSL model's pretrained weights are not in the checkpoint (they load with the model)."""
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("ssl.model.")]
        if missing or unexpected:
            raise ValueError(f"{path}: checkpoint does not match its config (missing {missing[:3]}, unexpected {unexpected[:3]})")
