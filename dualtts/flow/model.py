"""The acoustic flow stage: semantic tokens (+ a voice prompt's latent) -> the tokenizer's acoustic latent.

Target: ``x1 = (embed(codes) - embed(codes[:, :1]) - mean) / std``, the acoustic part of the latent the
codec decoder consumes, normalised per channel with statistics of the training set. Conditional flow
matching (rectified flow): ``x_t = (1 - t) x0 + t x1`` with ``x0 ~ N(0, I)``; the transformer predicts the
velocity ``x1 - x0``. Conditions, frame-aligned: the semantic latent ``embed(codes[:, :1])`` and a learned
embedding of the first-layer token, plus the prompt's clean ``x1`` on the frames it covers (masked
infilling) and the mask itself. Adaptive LayerNorm on the flow time, rotary positions, SDPA.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dualtts.data.checkpoint import Pretrained
from dualtts.flow.config import FlowConfig, get_flow_config


def rotary(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """x: [B, H, L, Dh]; pos: [L] -> x rotated by position (rotate-half form)."""
    d = x.shape[-1] // 2
    freq = 10000.0 ** (-torch.arange(d, device=x.device, dtype=torch.float32) / d)
    ang = pos.float()[:, None] * freq[None]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """t: [B] in [0, 1] -> sinusoidal [B, dim]."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    ang = 1000.0 * t.float()[:, None] * freq[None]
    return torch.cat([ang.sin(), ang.cos()], -1)


class Block(nn.Module):
    """Pre-norm transformer block; LayerNorm scale/shift and residual gates come from the time embedding."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(approximate="tanh"), nn.Linear(int(dim * mlp_ratio), dim))
        self.ada = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, temb: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        """x: [B, L, dim]; temb: [B, dim]; key_mask: [B, L] True on real frames (or None)."""
        s1, b1, g1, s2, b2, g2 = self.ada(temb)[:, None].chunk(6, -1)
        h = self.norm1(x) * (1 + s1) + b1
        B, L, D = h.shape
        q, k, v = self.qkv(h).view(B, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        pos = torch.arange(L, device=x.device)
        q, k = rotary(q, pos), rotary(k, pos)
        mask = key_mask[:, None, None, :] if key_mask is not None else None
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        x = x + (1 + g1) * self.proj(a.transpose(1, 2).reshape(B, L, D))
        return x + (1 + g2) * self.mlp(self.norm2(x) * (1 + s2) + b2)


class AcousticFlow(Pretrained, nn.Module):
    WHAT = "flow"

    def __init__(self, cfg: FlowConfig):
        super().__init__()
        self.cfg = cfg
        D, H = cfg.latent_dim, cfg.hidden_size
        self.register_buffer("latent_mean", torch.zeros(D))
        self.register_buffer("latent_std", torch.ones(D))
        self.token_embed = nn.Embedding(cfg.codebook_size + 1, H)  # last row: "no condition" (CFG)
        self.sem_proj = nn.Linear(D, H)
        self.in_proj = nn.Linear(2 * D + 1, H)  # [x_t, prompt x1 (0 outside), prompt mask]
        self.cond_proj = nn.Linear(cfg.cond_dim, H) if cfg.cond_dim else None  # the LM's states (zeros = dropped)
        self.time = nn.Sequential(nn.Linear(H, H), nn.SiLU(), nn.Linear(H, H))
        self.blocks = nn.ModuleList(Block(H, cfg.num_heads, cfg.mlp_ratio, cfg.dropout) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(H)
        self.out = nn.Linear(H, D)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @property
    def device(self) -> torch.device:
        return self.out.weight.device

    # --- latent normalisation ---
    def normalize(self, acoustic: torch.Tensor) -> torch.Tensor:
        """acoustic latent [B, D, F] -> x1 [B, F, D]."""
        return ((acoustic - self.latent_mean[:, None]) / self.latent_std[:, None]).transpose(1, 2)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, F, D] -> acoustic latent [B, D, F]."""
        return x.transpose(1, 2) * self.latent_std[:, None] + self.latent_mean[:, None]

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor, semantic: torch.Tensor,
                prompt: torch.Tensor, prompt_mask: torch.Tensor, key_mask: torch.Tensor | None = None,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        """Velocity ``[B, F, D]``.

        x_t: [B, F, D] noisy normalised latent; t: [B]; tokens: [B, F] first-layer codes (``codebook_size`` =
        dropped); semantic: [B, F, D] semantic latent (zeros = dropped); prompt: [B, F, D] clean x1 (zeros
        outside the prompt); prompt_mask: [B, F] bool; key_mask: [B, F] True on real frames; cond: [B, F, C]
        the semantic LM's states at the tokens (``cond_dim`` > 0 only; zeros = dropped).
        """
        pm = prompt_mask.to(x_t.dtype)[..., None]
        h = self.in_proj(torch.cat([x_t, prompt * pm, pm], -1)) + self.token_embed(tokens) + self.sem_proj(semantic)
        if self.cond_proj is not None:
            if cond is None:
                raise ValueError(f"this flow is conditioned on the semantic LM's states (cond_dim={self.cfg.cond_dim}): pass cond")
            h = h + self.cond_proj(cond.to(h.dtype))
        temb = self.time(time_embedding(t, self.cfg.hidden_size).to(h.dtype))
        for blk in self.blocks:
            h = blk(h, temb, key_mask)
        return self.out(self.norm(h))

    def for_inference(self, weights: str = "fp32") -> "AcousticFlow":
        """Inference weights, in place: ``fp32`` (as is), ``bf16`` (every weight; the sampler then runs in bf16),
        or ``int8`` (the transformer blocks' Linear layers as dynamic int8, CPU only; the rest fp32)."""
        if weights in ("fp32", "none"):
            return self
        if weights == "bf16":
            return self.to(torch.bfloat16)
        if weights == "int8":
            from dualtts.data.checkpoint import quantize_for_cpu

            self.blocks = quantize_for_cpu(self.blocks, "int8")
            return self
        raise ValueError(f"flow weights {weights!r}: expected fp32, bf16 or int8")

    # --- checkpoints (data.checkpoint.Pretrained: from_pretrained, save_pretrained) ---
    @classmethod
    def config_from_folder(cls, path: Path) -> FlowConfig:
        return get_flow_config(str(path))

    @torch.inference_mode()
    def sample(self, tokens, semantic, prompt=None, prompt_len=None, **kw) -> torch.Tensor:
        """See :func:`flow.sampler.sample`."""
        from dualtts.flow.sampler import sample

        return sample(self, tokens, semantic, prompt, prompt_len, **kw)
