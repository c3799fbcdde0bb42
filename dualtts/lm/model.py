"""The semantic LM: phonemes + a voice prompt's first-layer tokens -> the continuation's first-layer tokens.

A decoder-only transformer from transformers' Llama classes (SDPA attention, rotary positions, KV cache)
with our own input table and output head (layout in :mod:`lm.config`). One sequence per utterance::

    [phonemes of prompt text + target text] [sep] [prompt tokens -> continuation] [eos]

The loss covers speech tokens and eos only. In training the whole utterance is the "continuation"; at
inference the prompt's tokens are given and the rest is sampled (:mod:`lm.sampler`).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dualtts.data.checkpoint import Pretrained, quantize_for_cpu  # noqa: F401  (re-exported: lm.model.quantize_for_cpu)
from dualtts.lm.config import LMConfig, get_lm_config

IGNORE = -100


def training_sequence(cfg: LMConfig, phonemes: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One utterance -> ``(ids [L], labels [L])``: ``labels[i]`` is the head index of ``ids[i+1]``
    (speech token s -> s, eos -> S) where that is a speech token or eos, else ``IGNORE``.

    phonemes: [Lp] symbol ids in ``[0, P)``; tokens: [F] first-layer codes in ``[0, S)``.
    """
    if phonemes.numel() and (phonemes.min() < 0 or phonemes.max() >= cfg.num_phonemes):
        raise ValueError(f"phoneme id outside [0, {cfg.num_phonemes})")
    if tokens.numel() and (tokens.min() < 0 or tokens.max() >= cfg.codebook_size):
        raise ValueError(f"speech token outside [0, {cfg.codebook_size}): is the LM built for this tokenizer?")
    sep, eos = torch.tensor([cfg.sep_id]), torch.tensor([cfg.eos_id])
    ids = torch.cat([phonemes.long(), sep, tokens.long() + cfg.speech_offset, eos])
    labels = torch.full_like(ids, IGNORE)
    n = phonemes.numel()
    labels[n: n + tokens.numel()] = tokens.long()     # sep predicts the first token, ... the last predicts eos
    labels[n + tokens.numel()] = cfg.codebook_size
    return ids, labels


def collate(cfg: LMConfig, items: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``[(phonemes, tokens), ...]`` -> right-padded ``ids / labels / attention_mask`` [B, L]."""
    seqs = [training_sequence(cfg, p, t) for p, t in items]
    L = max(len(i) for i, _ in seqs)
    ids = torch.zeros(len(seqs), L, dtype=torch.long)
    labels = torch.full((len(seqs), L), IGNORE, dtype=torch.long)
    mask = torch.zeros(len(seqs), L, dtype=torch.long)
    for b, (i, lab) in enumerate(seqs):
        ids[b, : len(i)], labels[b, : len(i)], mask[b, : len(i)] = i, lab, 1
    return {"ids": ids, "labels": labels, "attention_mask": mask}


def lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Cross-entropy on speech tokens + eos (``labels != IGNORE``) and top-1 accuracy over them.

    logits: [B, L, S+1]; labels: [B, L]."""
    loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE)
    keep = labels != IGNORE
    acc = (logits.argmax(-1)[keep] == labels[keep]).float().mean()
    return {"loss": loss, "acc": acc.detach(), "tokens": keep.sum().detach()}


class SemanticLM(Pretrained, nn.Module):
    WHAT = "semantic LM"

    def __init__(self, cfg: LMConfig):
        super().__init__()
        from transformers import LlamaModel

        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.backbone = LlamaModel(cfg.llama_config())
        self.backbone.embed_tokens = None  # inputs come through self.embed
        self.head = nn.Linear(cfg.hidden_size, cfg.codebook_size + 1, bias=False)
        self.dropout = nn.Dropout(cfg.dropout)  # on the inputs (Llama itself has attention dropout only)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.head.weight, std=0.02)

    @property
    def device(self) -> torch.device:
        return self.embed.weight.device  # (the head may be an int8 module)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None, position_ids=None, cache=None,
                use_cache: bool = False, logits_to_keep: int = 0):
        """ids: [B, L] -> (logits [B, L, S+1], cache). ``logits_to_keep`` > 0: the head reads only the last that
        many positions (logits [B, logits_to_keep, S+1]; sampling needs the last one)."""
        out = self.backbone(inputs_embeds=self.dropout(self.embed(ids)), attention_mask=attention_mask, position_ids=position_ids,
                            cache=cache, use_cache=use_cache)
        h = out.last_hidden_state
        return self.head(h[:, -logits_to_keep:] if logits_to_keep else h), out.cache if use_cache else None

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """batch: ``ids / labels / attention_mask`` [B, L] (:func:`collate`) -> loss, acc, tokens."""
        return lm_loss(self(batch["ids"], batch["attention_mask"])[0], batch["labels"])

    @torch.inference_mode()
    def generate(self, phonemes, prompt_tokens, **sampling) -> torch.Tensor:
        """phonemes: list of [Lp_b] (prompt text + target text); prompt_tokens: list of [Fp_b] (may be empty)
        -> tokens [B, F] of the continuation, right-padded with -1 (lengths = ``(tokens >= 0).sum(1)``).
        Keyword arguments: :class:`lm.sampler.SamplingConfig` fields, ``seed``, ``target_phonemes`` (counts
        that set the min/max lengths; default: all phonemes)."""
        from dualtts.lm.sampler import generate

        return generate(self, phonemes, prompt_tokens, **sampling)

    @torch.inference_mode()
    def speech_states(self, phonemes, tokens) -> list[torch.Tensor]:
        """Teacher-forced hidden states at the speech tokens, the flow stage's content condition.

        phonemes: list of [Lp_b]; tokens: list of [F_b] (a prompt's tokens followed by the continuation's)
        -> list of ``[F_b, H]`` float32: the final-norm state at each token's input position (it has read the
        text, that token and all before it, so it knows where in the text the frame is)."""
        batch = collate(self.cfg, [(torch.as_tensor(p).long().cpu(), torch.as_tensor(t).long().cpu())
                                   for p, t in zip(phonemes, tokens)])
        ids, mask = batch["ids"].to(self.device), batch["attention_mask"].to(self.device)
        h = self.backbone(inputs_embeds=self.embed(ids), attention_mask=mask).last_hidden_state
        return [h[b, len(p) + 1: len(p) + 1 + len(t)].float() for b, (p, t) in enumerate(zip(phonemes, tokens))]

    # --- checkpoints (data.checkpoint.Pretrained: from_pretrained, save_pretrained) ---
    @classmethod
    def config_from_folder(cls, path: Path) -> LMConfig:
        return get_lm_config(str(path))

    def save_pretrained(self, path: str | os.PathLike, symbols=None) -> Path:
        """``model.safetensors`` + ``config.yaml`` (+ ``symbols.json``, the phoneme table it was trained on)."""
        path = super().save_pretrained(path)
        if symbols is not None:
            symbols.save(path / "symbols.json")
        return path

    def symbols(self):
        """The phoneme table saved with the checkpoint (None when it has none)."""
        from dualtts.data.text import SymbolTable

        p = getattr(self, "checkpoint_dir", None)
        return SymbolTable.load(p / "symbols.json") if p is not None and (p / "symbols.json").is_file() else None
