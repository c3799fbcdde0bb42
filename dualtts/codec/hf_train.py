"""Mimi and EnCodec trained from their configs: transformers' ``MimiModel`` / ``EncodecModel`` with a trainable
quantizer path, for ``dualtts train codec`` (``model: hf:mimi-tiny``) and comparisons with DualCodec.

transformers' quantizers only search codebooks (buffers, no gradient). :class:`TrainableHFCodec` runs the same
search on the same buffers and adds what training needs:

- straight-through estimate per residual stack: ``z_st = x + (sum_i q_i - x).detach()`` (each layer quantizes the
  residual ``x - sum_{j<i} q_j``, so the decoder's gradient reaches the encoder once, not once per layer);
- commitment loss ``MSE(residual_i, q_i.detach())`` summed over the layers used (``codebook_loss`` is 0);
- EMA codebooks: the usage and the sum of the vectors assigned to each code (Mimi: ``cluster_usage``/``embed_sum``,
  EnCodec: ``cluster_size``/``embed_avg``) decay by ``ema_decay``; a code is their ratio (EnCodec's ``embed`` buffer is
  rewritten to match), so a saved folder encodes as it trained. Fresh codebooks start from the first batch's (jittered)
  vectors, and codes used less than ``dead_ratio`` x the mean usage restart on random vectors of the batch;
- quantizer dropout: with probability ``dropout_prob`` a batch uses a random number of codebooks (EnCodec: that of
  a random ``target_bandwidths`` entry; Mimi: the semantic codebooks plus 0..all acoustic ones).

Mimi's split quantizer: the semantic and the acoustic RVQ both quantize the encoder latent (each through its own
projections) and their outputs add up; codes are ``[semantic..., acoustic...]``, as ``MimiModel.encode`` gives.
``semantic_loss`` is 0 (no distillation teacher here). Under several processes, DDP's buffer broadcast keeps rank
0's codebooks. Shapes: ``wav [B, 1, T]``, latents ``[B, D, F]``, ``codes [B, Q, F]``.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dualtts.codec.codes import check_codes, encode_per_length, trim

KINDS = ("mimi", "encodec")
# CPU-sized, 24 kHz; mimi-tiny: 12.5 Hz x 8 codebooks of 1024 (1.0 kbps, as tiny-12hz); encodec-tiny: 75 Hz,
# 1.5 / 3 / 6 kbps = 2 / 4 / 8 codebooks of 1024
PRESETS: dict[str, tuple[str, dict]] = {
    "mimi-tiny": ("mimi", dict(hidden_size=128, num_filters=16, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                               head_dim=32, intermediate_size=256, codebook_size=1024, codebook_dim=32,
                               vector_quantization_hidden_dimension=32, num_quantizers=8, num_semantic_quantizers=1,
                               upsample_groups=128, sliding_window=250)),
    "encodec-tiny": ("encodec", dict(num_filters=16, hidden_size=64, codebook_size=1024, target_bandwidths=[1.5, 3.0, 6.0],
                                     num_lstm_layers=1)),
}
_EPS = 1e-5  # MimiEuclideanCodebook's clamp of the usage


@dataclass
class HFCodecSpec:
    kind: str                                   # "mimi" | "encodec"
    config: dict = field(default_factory=dict)  # fields of transformers' MimiConfig / EncodecConfig
    ema_decay: float = 0.99
    dead_ratio: float = 0.1                     # restart codes used less than this x the mean usage
    dropout_prob: float = 0.5                   # share of training batches with a random number of codebooks
    init_jitter: float = 0.3                    # noise (x the batch's std) on the batch vectors a fresh codebook starts from

    def build(self):
        """-> a randomly initialized ``MimiModel`` / ``EncodecModel``."""
        import transformers as tf

        if self.kind not in KINDS:
            raise ValueError(f"unknown hf codec kind {self.kind!r} (mimi, encodec)")
        cfg_cls, model_cls = (tf.MimiConfig, tf.MimiModel) if self.kind == "mimi" else (tf.EncodecConfig, tf.EncodecModel)
        unknown = set(self.config) - set(getattr(cfg_cls, "__dataclass_fields__", self.config))
        if unknown:
            raise ValueError(f"unknown {cfg_cls.__name__} field(s): {', '.join(sorted(unknown))}")
        return model_cls(cfg_cls(**copy.deepcopy(self.config)))


def is_hf_model(model) -> bool:
    """``"hf:PRESET"`` or a dict with a ``kind`` (DualCodec configs have none)."""
    return (isinstance(model, str) and model.startswith("hf:")) or (isinstance(model, dict) and "kind" in model)


def hf_spec(model: "str | dict | HFCodecSpec") -> HFCodecSpec:
    """``"hf:mimi-tiny"`` or ``{"kind": "mimi", "preset": "mimi-tiny", <config fields>, <HFCodecSpec fields>}``."""
    if isinstance(model, HFCodecSpec):
        return model
    d = {"preset": model[3:] if model.startswith("hf:") else model} if isinstance(model, str) else dict(model)
    preset = d.pop("preset", None)
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown hf codec preset {preset!r} ({', '.join(PRESETS)})")
    kind, base = PRESETS[preset] if preset else (None, {})
    kind = d.pop("kind", kind)
    if kind not in KINDS:
        raise ValueError(f"unknown hf codec kind {kind!r} (mimi, encodec)")
    if preset and kind != PRESETS[preset][0]:
        raise ValueError(f"hf codec preset {preset!r} is a {PRESETS[preset][0]}, not a {kind}")
    train = {k: d.pop(k) for k in ("ema_decay", "dead_ratio", "dropout_prob", "init_jitter") if k in d}
    return HFCodecSpec(kind=kind, config={**copy.deepcopy(base), **d}, **train)


class TrainableHFCodec(nn.Module):
    """A ``MimiModel`` / ``EncodecModel`` (``.model``) that trains like ``DualCodec`` and saves as transformers does."""

    def __init__(self, model, spec: HFCodecSpec | None = None):
        super().__init__()
        self.kind = model.config.model_type
        if self.kind not in KINDS:
            raise ValueError(f"unknown hf codec kind {self.kind!r} (mimi, encodec)")
        self.model, self.spec = model, spec or HFCodecSpec(kind=self.kind)
        c = model.config
        if self.kind == "encodec" and (c.normalize or c.chunk_length_s is not None or c.codebook_dim != c.hidden_size):
            raise ValueError("EnCodec: only unnormalized, unchunked models with codebook_dim == hidden_size train here")
        for cb in self._codebooks():  # transformers starts codebooks at zero: fill them from the first training batch
            if not cb.embed.any():
                self._flag(cb).zero_()

    @classmethod
    def from_spec(cls, model: "str | dict | HFCodecSpec") -> "TrainableHFCodec":
        spec = hf_spec(model)
        return cls(spec.build(), spec)

    @classmethod
    def from_pretrained(cls, path: str | Path, spec: "str | dict | HFCodecSpec | None" = None) -> "TrainableHFCodec":
        """A transformers folder (``save_pretrained``'s) to train further; ``spec``: its training settings (the
        folder's config is kept; a spec of another kind is an error)."""
        from transformers import AutoModel

        model = AutoModel.from_pretrained(str(path))
        spec = hf_spec(spec) if spec is not None else HFCodecSpec(kind=model.config.model_type)
        if spec.kind != model.config.model_type:
            raise ValueError(f"{path}: a {model.config.model_type} model, not a {spec.kind}")
        return cls(model, spec)

    def save_pretrained(self, path: str | Path) -> Path:
        """``config.json`` + ``model.safetensors``: loads with ``MimiTokenizer`` / ``EncodecTokenizer.from_pretrained``."""
        Path(path).mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(path))
        return Path(path)

    # --- the Tokenizer contract -----------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.model.config.sampling_rate

    @property
    def frame_rate(self) -> float:
        return float(self.model.config.frame_rate)

    @property
    def codebook_sizes(self) -> list[int]:
        return [self.model.config.codebook_size] * self.model.config.num_quantizers

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def frames(self, length: int) -> int:
        return math.ceil(length * self.frame_rate / self.sample_rate)

    @torch.no_grad()
    def encode(self, wav: torch.Tensor, lengths=None, n_layers: int | None = None) -> torch.Tensor:
        """``wav [B, 1, T]`` -> ``codes [B, Q, F]`` with transformers' own ``encode`` (what the tokenizers run)."""
        self._drop_caches()
        n = n_layers or len(self.codebook_sizes)
        if self.kind == "mimi":
            fn = lambda w: self.model.encode(w, num_quantizers=n).audio_codes
        else:
            fn = lambda w: self.model.encode(w, bandwidth=max(self.model.config.target_bandwidths)).audio_codes[0]
        return encode_per_length(fn, wav, lengths, self.frames, n)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes [B, q, F]`` -> the decoder's latent ``[B, D, F]``."""
        check_codes(codes, len(self.codebook_sizes))
        self._drop_caches()
        return self.model.quantizer.decode(codes if self.kind == "mimi" else codes.transpose(0, 1))

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decoder(z).audio_values if self.kind == "mimi" else self.model.decoder(z)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, lengths=None) -> torch.Tensor:
        wav = self.decode_latent(self.embed(codes))
        return trim(wav, lengths if lengths is not None else round(codes.shape[-1] * self.sample_rate / self.frame_rate))

    # --- training -------------------------------------------------------------------------------------
    def forward(self, wav: torch.Tensor, teacher: torch.Tensor | None = None) -> dict:
        """``wav [B, 1, T]`` -> ``audio [B, 1, T]``, ``codes [B, n, F]`` (n: the codebooks this batch used), and the
        losses ``commitment_loss``, ``codebook_loss`` (0: EMA codebooks), ``semantic_loss`` (0). ``teacher`` is unused."""
        T = wav.shape[-1]
        latent = self.model.encoder(wav).latents if self.kind == "mimi" else self.model.encoder(wav)
        with torch.autocast(wav.device.type, enabled=False):  # code search and EMA in fp32
            z, codes, commit = self._quantize(latent.float(), self._layers_this_step())
        audio = self.decode_latent(z)
        audio = F.pad(audio, (0, T - audio.shape[-1])) if audio.shape[-1] < T else audio[..., :T]
        zero = wav.new_zeros((), dtype=torch.float32)
        return {"audio": audio, "codes": codes, "commitment_loss": commit, "codebook_loss": zero, "semantic_loss": zero}

    def _layers_this_step(self) -> int:
        Q = len(self.codebook_sizes)
        if not self.training or self.spec.dropout_prob <= 0 or torch.rand(()) >= self.spec.dropout_prob:
            return Q
        if self.kind == "mimi":
            lo = self.model.config.num_semantic_quantizers
            return int(torch.randint(lo, Q + 1, ()))
        c = self.model.config
        choices = sorted({max(1, int(bw * 1000 // (math.log2(c.codebook_size) * c.frame_rate))) for bw in c.target_bandwidths})
        return choices[int(torch.randint(0, len(choices), ()))]

    def _quantize(self, latent: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``latent [B, D, F]``, the first ``n`` codebooks -> ``(z_st [B, D, F], codes [B, n, F], commitment)``."""
        self._drop_caches()
        q = self.model.quantizer
        if self.kind == "encodec":
            return self._rvq(q.layers[:n], latent)
        z, codes, commit = None, [], latent.new_zeros(())
        n_sem = q.num_semantic_quantizers
        for rvq, k in ((q.semantic_residual_vector_quantizer, n_sem), (q.acoustic_residual_vector_quantizer, n - n_sem)):
            if k <= 0:
                continue
            h = rvq.input_proj(latent) if rvq.input_proj is not None else latent
            zq, c, cm = self._rvq(rvq.layers[:k], h)
            zq = rvq.output_proj(zq) if rvq.output_proj is not None else zq
            z, commit = zq if z is None else z + zq, commit + cm
            codes.append(c)
        return z, torch.cat(codes, 1), commit

    def _rvq(self, layers, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Residual quantization of ``x [B, D, F]`` by ``layers`` -> ``(z_st, codes [B, n, F], commitment)``."""
        B, D, Fr = x.shape
        residual, total, codes, commit = x, torch.zeros_like(x), [], x.new_zeros(())
        for layer in layers:
            cb = layer.codebook
            flat = residual.detach().transpose(1, 2).reshape(-1, D)
            if self.training and not bool(self._flag(cb)):
                self._init_codebook(cb, flat)
            idx = cb.quantize(flat)  # transformers' own nearest-code search, on the current codebook
            qv = F.embedding(idx, cb.embed).view(B, Fr, D).transpose(1, 2)
            commit = commit + F.mse_loss(residual, qv)
            if self.training:
                self._ema_update(cb, flat, idx)
            residual, total = residual - qv, total + qv
            codes.append(idx.view(B, Fr))
        return x + (total - x).detach(), torch.stack(codes, 1), commit

    # --- EMA codebooks (Mimi: embed = embed_sum / cluster_usage; EnCodec: embed = embed_avg / cluster_size) ---------
    def _codebooks(self) -> list[nn.Module]:
        q = self.model.quantizer
        stacks = [q] if self.kind == "encodec" else [q.semantic_residual_vector_quantizer, q.acoustic_residual_vector_quantizer]
        return [layer.codebook for s in stacks for layer in s.layers]

    def _stats(self, cb) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (usage [K], sum of assigned vectors [K, D]): the EMA buffers."""
        return (cb.cluster_usage, cb.embed_sum) if self.kind == "mimi" else (cb.cluster_size, cb.embed_avg)

    def _flag(self, cb) -> torch.Tensor:
        return cb.initialized if self.kind == "mimi" else cb.inited

    def _drop_caches(self) -> None:
        """Mimi caches each codebook's ``embed`` (the ratio of its buffers) on first use: recompute it from the buffers
        (after a ``load_state_dict`` or a move to another device)."""
        if self.kind == "mimi":
            for cb in self._codebooks():
                cb._embed = None

    def _sync(self, cb) -> None:
        """After ``cb``'s EMA buffers changed: its codes as transformers reads them (Mimi: the cached ratio, dropped;
        EnCodec: the ``embed`` buffer, rewritten as the same ratio)."""
        if self.kind == "mimi":
            cb._embed = None
        else:
            usage, total = self._stats(cb)
            cb.embed.copy_(total / usage.clamp(min=_EPS)[:, None])

    @torch.no_grad()
    def _init_codebook(self, cb, x: torch.Tensor) -> None:
        """Fresh codebook: batch vectors ``x [N, D]`` (distinct while there are enough), jittered by ``init_jitter`` x their
        std so that a batch smaller than the codebook does not leave later layers a zero residual; each code starts
        with the usage of an average code (N / K)."""
        K, N = cb.codebook_size, x.shape[0]
        pick = torch.randperm(N, device=x.device)[:K] if N >= K else torch.randint(0, N, (K,), device=x.device)
        codes = x[pick] + self.spec.init_jitter * x.std(0, correction=0, keepdim=True) * torch.randn(K, x.shape[1], device=x.device)
        usage, total = self._stats(cb)
        usage.fill_(N / K)
        total.copy_(codes * (N / K))
        self._flag(cb).fill_(1.0)
        self._sync(cb)

    @torch.no_grad()
    def _ema_update(self, cb, x: torch.Tensor, idx: torch.Tensor) -> None:
        """Decay the usage / vector sums toward this batch's assignments ``idx [N]`` of ``x [N, D]``; restart dead codes."""
        usage, total = self._stats(cb)
        d = self.spec.ema_decay
        usage.mul_(d).add_(torch.bincount(idx, minlength=usage.shape[0]).to(usage.dtype), alpha=1 - d)
        total.mul_(d).add_(torch.zeros_like(total).index_add_(0, idx, x.to(total.dtype)), alpha=1 - d)
        mean = usage.mean()
        dead = (usage < self.spec.dead_ratio * mean).nonzero().squeeze(1)
        if dead.numel():
            usage[dead] = mean
            total[dead] = x[torch.randint(0, x.shape[0], (dead.numel(),), device=x.device)].to(total.dtype) * mean
        self._sync(cb)

    def usage(self) -> dict[str, float]:
        """``usage/rvq{i}``: perplexity of each codebook's EMA usage / its size (1.0: all codes used equally)."""
        out = {}
        for i, cb in enumerate(self._codebooks()):
            p = self._stats(cb)[0].float()
            p = p / p.sum().clamp(min=1e-12)
            out[f"usage/rvq{i + 1}"] = float(torch.exp(-(p * p.clamp(min=1e-12).log()).sum()) / p.numel())
        return out
