"""Factorized vector quantizers: one VQ layer and a residual stack with quantizer dropout.

Each layer projects ``[B, D, F]`` to a small code space (dim 8), L2-normalizes it, finds the
nearest L2-normalized codebook entry, and projects the entry back to ``D``. Gradients pass
straight through. Collapse prevention: codes unused for ``dead_after`` steps (counted in
training) are restarted on random recent encoder outputs. Per-layer usage is tracked
(``perplexity_usage``) so training can log it.

``raw=True`` (the reference DualCodec / DAC): the code search is the same (nearest normalized entry, written
as DAC writes the distance), but the looked-up entry is the raw codebook row and the straight-through
estimate and losses use the unnormalized projection.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class FactorizedVQ(nn.Module):
    def __init__(self, dim: int, codebook_size: int, code_dim: int = 8, dead_after: int = 20, out_dim: int | None = None,
                 raw: bool = False):
        super().__init__()
        self.codebook_size, self.code_dim, self.dead_after, self.raw = codebook_size, code_dim, dead_after, raw
        self.in_proj = weight_norm(nn.Conv1d(dim, code_dim, 1))
        self.out_proj = weight_norm(nn.Conv1d(code_dim, out_dim or dim, 1))
        self.codebook = nn.Embedding(codebook_size, code_dim)
        # saved with training checkpoints so a resumed run restarts dead codes at the same steps
        self.register_buffer("steps_unused", torch.zeros(codebook_size, dtype=torch.long))
        # running code frequencies (a metric only, not saved): codebook perplexity for logging
        self.register_buffer("freq_ema", torch.full((codebook_size,), 1.0 / codebook_size), persistent=False)

    def _codes(self, z_e: torch.Tensor) -> torch.Tensor:
        """``z_e: [B, d, F]`` -> nearest code ids ``[B, F]`` (cosine, i.e. L2 on normalized vectors)."""
        enc = F.normalize(z_e.transpose(1, 2).reshape(-1, self.code_dim), dim=-1)
        cb = F.normalize(self.codebook.weight, dim=-1)
        if self.raw:  # the same nearest entry, with the reference's rounding (squared distance, first maximum)
            dist = enc.pow(2).sum(1, keepdim=True) - 2 * enc @ cb.t() + cb.pow(2).sum(1, keepdim=True).t()
            return (-dist).max(1)[1].view(z_e.shape[0], z_e.shape[2])
        return (enc @ cb.t()).argmax(-1).view(z_e.shape[0], z_e.shape[2])

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes: [B, F]`` -> normalized code vectors ``[B, d, F]`` (``raw``: the codebook rows as they are)."""
        if self.raw:
            return self.codebook(codes).transpose(1, 2)
        return F.normalize(self.codebook(codes), dim=-1).transpose(1, 2)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes: [B, F]`` -> ``[B, D, F]``."""
        return self.out_proj(self.lookup(codes))

    def decode_probs(self, probs: torch.Tensor) -> torch.Tensor:
        """Distributions over the codes ``probs: [B, F, K]`` -> their expected output ``[B, D, F]`` (the lookup and
        projection are linear, so this is the probability-weighted mean of the decoded entries)."""
        table = self.codebook.weight if self.raw else F.normalize(self.codebook.weight, dim=-1)
        return self.out_proj((probs.to(table.dtype) @ table).transpose(1, 2))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``z: [B, D, F]`` -> ``(z_q [B, out_dim, F], codes [B, F], codebook_loss, commitment_loss)`` (losses per item ``[B]``)."""
        # the code search, lookup and losses in fp32 under mixed precision: bf16 cosines pick the wrong
        # neighbours, and the dead-code restart writes into the fp32 codebook
        with torch.autocast(z.device.type, enabled=False):
            return self._quantize(self.in_proj(z.float()))

    def _quantize(self, z_e: torch.Tensor):
        codes = self._codes(z_e.detach())
        z_q = self.lookup(codes)
        z_n = z_e if self.raw else F.normalize(z_e, dim=1)
        commit = F.mse_loss(z_n, z_q.detach(), reduction="none").mean((1, 2))
        cb_loss = F.mse_loss(z_q, z_n.detach(), reduction="none").mean((1, 2))
        z_q = z_n + (z_q - z_n).detach()  # straight-through
        if self.training:
            self._track(codes, z_e.detach())
        return self.out_proj(z_q), codes, cb_loss, commit

    @torch.no_grad()
    def _track(self, codes: torch.Tensor, z_e: torch.Tensor) -> None:
        """Usage counters and the dead-code restart, without a host sync (no ``nonzero``, ``bincount`` or
        ``if`` on device values): every step draws a candidate for every code and keeps it where the code is dead."""
        flat = codes.reshape(-1)
        counts = torch.zeros(self.codebook_size, device=flat.device).scatter_add_(0, flat, torch.ones_like(flat, dtype=torch.float))
        used = counts > 0
        self.freq_ema.mul_(0.95).add_(0.05 * counts / counts.sum().clamp(min=1))
        self.steps_unused = torch.where(used, torch.zeros_like(self.steps_unused), self.steps_unused + 1)
        if self.dead_after <= 0:
            return
        dead = self.steps_unused >= self.dead_after
        pool = z_e.transpose(1, 2).reshape(-1, self.code_dim)
        pick = pool[torch.randint(0, pool.shape[0], (self.codebook_size,), device=pool.device)]
        pick = pick if self.raw else F.normalize(pick, dim=-1)  # raw lookup: restart on the projections as they are
        w = self.codebook.weight.data
        w.copy_(torch.where(dead[:, None], pick.to(w.dtype), w))
        self.steps_unused.masked_fill_(dead, 0)

    def perplexity(self) -> torch.Tensor:
        """Codebook perplexity of recent training batches / codebook size, as a 0-d tensor on the device."""
        p = self.freq_ema / self.freq_ema.sum()
        return torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum()) / self.codebook_size

    def perplexity_usage(self) -> float:
        """Codebook perplexity of recent training batches / codebook size (1.0: every code used equally)."""
        return float(self.perplexity())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.pop(prefix + "used_recently", None)  # a monitor of checkpoints before 2026-12 (removed)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class ResidualVQ(nn.Module):
    """``n`` FactorizedVQ layers on successive residuals.

    Training: with ``dropout`` each item keeps a random number of layers in ``[min_keep, n]``
    (the rest contribute nothing); with probability ``bypass`` a whole step keeps none.
    """

    def __init__(self, dim: int, n: int, codebook_size: int, code_dim: int = 8, dropout: bool = True,
                 min_keep: int = 1, bypass: float = 0.0, dead_after: int = 20, raw: bool = False):
        super().__init__()
        self.layers = nn.ModuleList([FactorizedVQ(dim, codebook_size, code_dim, dead_after, raw=raw) for _ in range(n)])
        self.dropout, self.min_keep, self.bypass = dropout, min_keep, bypass

    def __len__(self) -> int:
        return len(self.layers)

    def forward(self, z: torch.Tensor, n_layers: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``z: [B, D, F]`` -> ``(z_q, codes [B, n, F], codebook_loss, commitment_loss)`` (scalar losses)."""
        B = z.shape[0]
        n = len(self.layers) if n_layers is None else n_layers
        keep = torch.full((B,), n, device=z.device)
        if self.training and self.dropout and n > 0:
            keep = torch.randint(min(self.min_keep, n), n + 1, (B,), device=z.device)
            if self.bypass > 0 and torch.rand(()) < self.bypass:
                keep.zero_()
        residual, z_q = z, torch.zeros_like(z)
        codes, cb, cm = [], z.new_zeros(()), z.new_zeros(())
        for i, layer in enumerate(self.layers[:n]):
            q, c, l_cb, l_cm = layer(residual)
            m = (keep > i).to(z.dtype)
            z_q = z_q + q * m[:, None, None]
            residual = residual - q * m[:, None, None]
            denom = m.sum().clamp(min=1)
            cb, cm = cb + (l_cb * m).sum() / denom, cm + (l_cm * m).sum() / denom
            codes.append(c)
        codes_t = torch.stack(codes, 1) if codes else z.new_zeros((B, 0, z.shape[2]), dtype=torch.long)
        return z_q, codes_t, cb, cm

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes: [B, q, F]`` (any q ≤ n) -> summed ``[B, D, F]``."""
        out = None
        for i in range(codes.shape[1]):
            q = self.layers[i].decode(codes[:, i])
            out = q if out is None else out + q
        return out
