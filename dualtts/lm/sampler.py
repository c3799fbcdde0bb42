"""Sampling first-layer tokens from the semantic LM: KV cache, temperature / top-k / top-p, a repetition
penalty over a recent window, min/max lengths tied to the phoneme count, batched prompts of different
lengths (left-padded), and one random generator per utterance so a batch samples what each utterance
would sample alone with the same seed."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch


@dataclass
class SamplingConfig:
    temperature: float = 1.0
    top_k: int = 15                  # 0 = off   (reference: top-k 15, top-p 0.85, penalty 1.1)
    top_p: float = 0.85              # 1 = off
    repetition_penalty: float = 1.1  # 1 = off; applied to tokens seen in the last `repetition_window`
    repetition_window: int = 50
    max_new_tokens: int | None = None  # None: from the target phoneme count (LMConfig.max_tokens_per_phoneme)
    min_new_tokens: int | None = None  # None: from the target phoneme count (LMConfig.min_tokens_per_phoneme)
    min_prompt_rate: float = 0.0     # no eos before this fraction of the length the prompt's speaking rate predicts
    text_cfg_scale: float = 1.0      # classifier-free guidance on the text (LMs trained with text_dropout); 1 = off
    greedy: bool = False


def filter_logits(logits: torch.Tensor, history: torch.Tensor, s: SamplingConfig) -> torch.Tensor:
    """logits: [B, V]; history: [B, H] recent token ids in head space (-1 = none) -> filtered logits [B, V]."""
    logits = logits.float()
    if s.repetition_penalty != 1.0 and history.numel():
        # the empty slots (-1) go to a spare column: scattered onto token 0 they raced its real entries (on a GPU
        # the order of duplicate writes is not defined)
        V = logits.shape[-1]
        seen = torch.zeros(logits.shape[0], V + 1, dtype=torch.bool, device=logits.device)
        seen.scatter_(1, torch.where(history >= 0, history, V), True)
        seen = seen[:, :V]
        pen = torch.where(logits > 0, logits / s.repetition_penalty, logits * s.repetition_penalty)
        logits = torch.where(seen, pen, logits)
    logits = logits / max(s.temperature, 1e-5)
    if s.top_k and s.top_k < logits.shape[-1]:
        kth = logits.topk(s.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if s.top_p < 1.0:
        sorted_logits, idx = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) > s.top_p   # keep the smallest set whose mass reaches top_p
        logits = logits.scatter(1, idx, sorted_logits.masked_fill(drop, -math.inf))
    return logits


def sample_rows(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One draw per row by the inverse CDF: probs [B, V] (rows need not sum to 1; zeros are never drawn), u [B]
    uniform in [0, 1) -> token ids [B]. One batched op, no host sync; row b's draw depends only on probs[b], u[b]."""
    cdf = probs.float().cumsum(-1)
    x = torch.searchsorted(cdf, (u.to(cdf.dtype) * cdf[:, -1])[:, None], right=True)[:, 0]
    return x.clamp(max=probs.shape[-1] - 1)


def row_uniforms(gens: list[torch.Generator], n: int, device) -> torch.Tensor:
    """[B, n] uniforms, row b from generator b alone (drawn once for a whole generation: row b's stream, and so its
    tokens, do not depend on the other rows of the batch)."""
    return torch.stack([torch.rand(n, generator=g, device=device) for g in gens]) if gens else torch.zeros(0, n, device=device)


def generate(model, phonemes, prompt_tokens, seed=0, target_phonemes=None, sync_every: int | None = None,
             share_prefix: bool = True, **kw) -> torch.Tensor:
    """See :meth:`lm.model.SemanticLM.generate`. Returns tokens [B, F] padded with -1. ``seed``: one for every
    row, or one per row. ``sync_every``: look whether every row has ended every this many tokens (a host sync;
    default: every token on a CPU, where it costs nothing, every 8 on an accelerator, where the few steps past the
    end cost less than waiting on every token). Row b samples token t with the t-th uniform of its own generator
    (seeded ``seed[b]``) by the inverse CDF (:func:`sample_rows`). ``share_prefix``: rows with the same prompt (the N
    candidates of best-of-N) are prefilled once and their KV cache copied out (same tokens, less compute)."""
    unknown = set(kw) - {f.name for f in fields(SamplingConfig)}
    if unknown:
        raise TypeError(f"unknown sampling option(s): {', '.join(sorted(unknown))}")
    cfg, dev = model.cfg, model.device
    s = SamplingConfig(**({"text_cfg_scale": getattr(cfg, "text_cfg_scale", 1.0)} | kw))
    B = len(phonemes)
    if len(prompt_tokens) != B:
        raise ValueError(f"{B} phoneme sequences but {len(prompt_tokens)} prompts")
    n_ph = [int(n) for n in (target_phonemes if target_phonemes is not None else [len(p) for p in phonemes])]
    scale = cfg.frame_rate / 12.5
    max_new = [s.max_new_tokens if s.max_new_tokens is not None else math.ceil(cfg.max_tokens_per_phoneme * scale * n + 5)
               for n in n_ph]
    min_new = [s.min_new_tokens if s.min_new_tokens is not None else int(cfg.min_tokens_per_phoneme * scale * n)
               for n in n_ph]
    if s.min_new_tokens is None and s.min_prompt_rate > 0:  # the prompt's tokens per phoneme x the target's phonemes
        for b, (p, t, n) in enumerate(zip(phonemes, prompt_tokens, n_ph)):
            n_prompt = len(p) - n
            if len(t) and n_prompt > 0:
                min_new[b] = min(max(min_new[b], int(s.min_prompt_rate * len(t) / n_prompt * n)), max_new[b])
    seqs = []
    for p, t in zip(phonemes, prompt_tokens):
        p, t = torch.as_tensor(p, dtype=torch.long).cpu(), torch.as_tensor(t, dtype=torch.long).cpu()
        if t.numel() and (t.min() < 0 or t.max() >= cfg.codebook_size):
            raise ValueError(f"prompt token outside [0, {cfg.codebook_size}): is the LM built for this tokenizer?")
        seqs.append(torch.cat([p, torch.tensor([cfg.sep_id]), t + cfg.speech_offset]))
    guided = s.text_cfg_scale != 1.0
    if guided:  # rows B..2B-1: the same prompts without any text; both halves are fed the token sampled from the mix
        seqs += [torch.cat([torch.tensor([cfg.sep_id]), torch.as_tensor(t, dtype=torch.long).cpu() + cfg.speech_offset])
                 for t in prompt_tokens]
    R = len(seqs)
    L = max(len(x) for x in seqs)
    ids = torch.zeros(R, L, dtype=torch.long)
    mask = torch.zeros(R, L, dtype=torch.long)
    for b, x in enumerate(seqs):  # left padding: every row's last prompt token sits at the end
        ids[b, L - len(x):], mask[b, L - len(x):] = x, 1
    padded = any(len(x) < L for x in seqs)
    ids, mask = ids.to(dev), mask.to(dev)
    # decoding steps with padding: the mask as SDPA takes it ([R, 1, 1, L] bool, one query), which transformers passes
    # on as it is; a 2D mask would be looked over on the host at every token (a sync) to see whether it can be dropped
    mask4 = padded and getattr(getattr(getattr(model, "backbone", None), "config", None), "_attn_implementation", None) == "sdpa"
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    history = torch.full((B, max(1, s.repetition_window)), -1, dtype=torch.long, device=dev)
    for b, t in enumerate(prompt_tokens):
        t = torch.as_tensor(t, dtype=torch.long)[-s.repetition_window:]
        if t.numel() and s.repetition_window:
            history[b, -t.numel():] = t.to(dev)
    seeds = [int(seed)] * B if isinstance(seed, int) else [int(x) for x in seed]
    if len(seeds) != B:
        raise ValueError(f"{B} rows but {len(seeds)} seeds")
    steps = max(max_new)
    noise = None if s.greedy else row_uniforms([torch.Generator(device=dev).manual_seed(x) for x in seeds], steps, dev)
    k = sync_every or (1 if torch.device(dev).type == "cpu" else 8)
    out = torch.full((B, steps), -1, dtype=torch.long, device=dev)
    done = torch.zeros(B, dtype=torch.bool, device=dev)
    min_t = torch.tensor(min_new, device=dev)[:, None]
    max_t = torch.tensor(max_new, device=dev)[:, None]
    S = cfg.codebook_size
    # rows that share their whole prompt (best-of-N: N copies of each) are run through the model once and their cache
    # is then copied out to every row: the prefill costs distinct rows, not R
    keys = [tuple(x.tolist()) for x in seqs]
    first = {k: i for i, k in reversed(list(enumerate(keys)))}
    uniq = sorted(set(first.values()))
    if share_prefix and len(uniq) < R:
        where = {i: j for j, i in enumerate(uniq)}
        u = torch.tensor(uniq, device=dev)
        logits, cache = model(ids[u], mask[u] if padded else None, pos[u], use_cache=True, logits_to_keep=1)
        expand = torch.tensor([where[first[k]] for k in keys], device=dev)
        cache.reorder_cache(expand)
        logits = logits[expand]
    else:
        logits, cache = model(ids, mask if padded else None, pos, use_cache=True, logits_to_keep=1)
    logits = logits[:, -1]
    last_pos = pos[:, -1:]
    for step in range(steps):
        logits = logits.float()
        if guided:
            cond, uncond = logits[:B], logits[B:]
            logits = uncond + s.text_cfg_scale * (cond - uncond)
        logits[:, S] = torch.where(step < min_t[:, 0], -math.inf, logits[:, S])  # no eos before the minimum
        if s.greedy:
            nxt = logits.argmax(-1)
        else:
            nxt = sample_rows(filter_logits(logits, history, s).softmax(-1), noise[:, step])
        nxt = torch.where(step >= max_t[:, 0], torch.full_like(nxt, S), nxt)  # stop at the maximum
        nxt = torch.where(done, torch.full_like(nxt, S), nxt)
        stop = nxt == S
        out[:, step] = torch.where(stop | done, torch.full_like(nxt, -1), nxt)
        done = done | stop
        if step == steps - 1 or ((step + 1) % k == 0 and bool(done.all())):
            break
        history = torch.cat([history[:, 1:], torch.where(stop, -1, nxt)[:, None]], 1)
        in_id = torch.where(stop, cfg.eos_id, nxt + cfg.speech_offset)[:, None]
        if guided:
            in_id = torch.cat([in_id, in_id])
        last_pos = last_pos + 1
        mask = torch.cat([mask, torch.ones(R, 1, dtype=mask.dtype, device=dev)], 1)
        step_mask = (mask[:, None, None, :] > 0 if mask4 else mask) if padded else None
        logits, cache = model(in_id, step_mask, last_pos, cache=cache, use_cache=True, logits_to_keep=1)
        logits = logits[:, -1]
    n = int((out >= 0).sum(1).max()) if out.numel() else 0
    return out[:, :n]
