"""ODE sampling for the flow stage: Euler or midpoint over N steps of a (sway-)warped time grid, with
classifier-free guidance; the prompt frames come back as the clean prompt."""
from __future__ import annotations

import math

import torch


def time_grid(steps: int, sway: float | None = -1.0, device=None) -> torch.Tensor:
    """[steps + 1] times from 0 to 1. ``sway`` (F5-TTS's sway sampling; -1 puts more steps near t = 0,
    None = uniform): ``t = u + s (cos(pi u / 2) - 1 + u)``."""
    u = torch.linspace(0, 1, steps + 1, device=device)
    return u if sway is None else u + sway * (torch.cos(math.pi / 2 * u) - 1 + u)


def sample(model, tokens: torch.Tensor, semantic: torch.Tensor, prompt: torch.Tensor | None = None,
           prompt_len: torch.Tensor | list[int] | None = None, steps: int = 16, method: str = "euler",
           cfg_scale: float = 2.0, sway: float | None = -1.0, key_mask: torch.Tensor | None = None, seed: int = 0,
           temperature: float = 1.0, cond: torch.Tensor | None = None) -> torch.Tensor:
    """Acoustic latent ``[B, D, F]`` (de-normalised, ready to add to the semantic latent and decode).

    tokens: [B, F] first-layer codes; semantic: [B, D, F] their latent (``Tokenizer.embed(codes[:, :1])``);
    prompt: [B, D, F] the acoustic latent whose first ``prompt_len[b]`` frames are the voice prompt (the rest
    is ignored); key_mask: [B, F] True on real frames; temperature scales the starting noise (< 1: closer to
    the conditional mean, less varied detail); cond: [B, F, C] the LM's states (flows with ``cond_dim``). The first ``prompt_len`` frames of the output equal the prompt.
    """
    if method not in ("euler", "midpoint"):
        raise ValueError(f"method {method!r}: expected euler or midpoint")
    if steps < 1:
        raise ValueError("steps must be >= 1")
    B, D, Fn = semantic.shape
    dev = semantic.device
    dtype = model.out.weight.dtype
    sem = semantic.transpose(1, 2).to(dtype)
    cond = cond.to(dev, dtype) if cond is not None else None
    if prompt is not None and prompt_len is not None:
        plen = torch.as_tensor(prompt_len, device=dev).view(B)
        pmask = torch.arange(Fn, device=dev)[None] < plen[:, None]
        x_prompt = model.normalize(prompt.to(dtype)) * pmask[..., None]
    else:
        pmask = torch.zeros(B, Fn, dtype=torch.bool, device=dev)
        x_prompt = torch.zeros(B, Fn, D, device=dev, dtype=dtype)
    g = torch.Generator(device=dev).manual_seed(seed)
    x = (temperature * torch.randn(B, Fn, D, generator=g, device=dev)).to(dtype)
    guided = cfg_scale != 1.0
    if guided:  # conditional and unconditional rows in one batch
        tok2 = torch.cat([tokens, torch.full_like(tokens, model.cfg.codebook_size)])
        sem2 = torch.cat([sem, torch.zeros_like(sem)])
        pr2, pm2 = torch.cat([x_prompt, torch.zeros_like(x_prompt)]), torch.cat([pmask, torch.zeros_like(pmask)])
        km2 = torch.cat([key_mask, key_mask]) if key_mask is not None else None
        cond2 = torch.cat([cond, torch.zeros_like(cond)]) if cond is not None else None

    def velocity(x, t):
        tt = torch.full((B,), float(t), device=dev)
        if not guided:
            return model(x, tt, tokens, sem, x_prompt, pmask, key_mask, cond)
        v = model(torch.cat([x, x]), torch.cat([tt, tt]), tok2, sem2, pr2, pm2, km2, cond2)
        v_c, v_u = v.chunk(2)
        return v_u + cfg_scale * (v_c - v_u)

    ts = time_grid(steps, sway, dev)
    for i in range(steps):
        t0, t1 = ts[i], ts[i + 1]
        if method == "euler":
            x = x + (t1 - t0) * velocity(x, t0)
        else:
            mid = x + (t1 - t0) / 2 * velocity(x, t0)
            x = x + (t1 - t0) * velocity(mid, (t0 + t1) / 2)
    x = torch.where(pmask[..., None], x_prompt, x)
    return model.denormalize(x.float())
