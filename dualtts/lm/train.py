"""Semantic-LM training as a task for ``training.Trainer``.

``dualtts train lm --config recipes/mini/lm.yaml [key=value ...]`` (or under ``accelerate launch``).
Reads token manifests written by ``dualtts extract-tokens`` (``codes`` paths + ``phonemes``) and the
phoneme table of ``dualtts prepare`` (``symbols.json``); the codebook size and frame rate come from the
``tokenizer.json`` next to the manifest unless the model config sets them.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from dualtts.data.manifest import load_codes, read_manifest, tokenizer_info
from dualtts.data.sampler import BucketBatchSampler
from dualtts.data.text import SymbolTable
from dualtts.lm.config import get_lm_config
from dualtts.lm.model import SemanticLM, collate, lm_loss
from dualtts.training.loop import TrainConfig, loader_options


@dataclass
class LMTrainConfig:
    model: str | dict = "tiny"          # preset, YAML, checkpoint folder, or {"preset": NAME, **fields}
    init: str | None = None             # an LM checkpoint to start from
    train_manifest: str = ""            # token manifest (dualtts extract-tokens)
    val_manifest: str | None = None
    symbols: str = ""                   # phoneme table (symbols.json of dualtts prepare)
    batch_size: int = 16
    max_batch_seconds: float | None = None  # cap a batch's total speech duration (bucketed batches)
    text_dropout: float = 0.0           # share of utterances trained without their text (classifier-free guidance)
    train: TrainConfig = field(default_factory=TrainConfig)


class TokenDataset(Dataset):
    """Utterances of a token manifest -> ``(phoneme ids [Lp], first-layer tokens [F])``, held in memory."""

    def __init__(self, manifest: str | Path, symbols: SymbolTable):
        self.items, self.durations, self.ids = [], [], []
        for u in read_manifest(manifest):
            if not u.phonemes:
                raise ValueError(f"{manifest}: utterance {u.id} has no phonemes (run dualtts prepare first)")
            tokens = torch.from_numpy(load_codes(manifest, u)[0])
            ph = torch.tensor(symbols.encode(u.phonemes, source=f"{manifest}:{u.id}"), dtype=torch.long)
            self.items.append((ph, tokens))
            self.durations.append(u.duration)
            self.ids.append(u.id)
        if not self.items:
            raise ValueError(f"{manifest}: no utterances")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


class TextDropout(Dataset):
    """A view of a :class:`TokenDataset` whose utterance i has no phonemes with probability ``p``, decided by
    ``(seed, epoch, i)`` alone (a resumed run drops the same ones): the unconditional rows of classifier-free
    guidance (``SamplingConfig.cfg_scale``)."""

    def __init__(self, base: TokenDataset, p: float, seed: int, epoch: int):
        self.base, self.p, self.key = base, p, (seed * 1_000_003 + epoch) * 7_919

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        ph, tokens = self.base[i]
        if self.p > 0 and torch.rand((), generator=torch.Generator().manual_seed(self.key + i)) < self.p:
            ph = ph[:0]
        return ph, tokens


class LMTask:
    def __init__(self, cfg: LMTrainConfig):
        from accelerate.utils import set_seed

        self.cfg = cfg
        if not cfg.symbols:
            raise ValueError("symbols: give the phoneme table (symbols.json of dualtts prepare)")
        self.symbols = SymbolTable.load(cfg.symbols)
        set_seed(cfg.train.seed)
        if cfg.init:
            self.lm = SemanticLM.from_pretrained(cfg.init).train()
        else:
            info = tokenizer_info(cfg.train_manifest)
            auto = {"num_phonemes": len(self.symbols)}
            if info:
                auto.update(codebook_size=info["codebook_sizes"][0], frame_rate=info["frame_rate"])
            self.lm = SemanticLM(get_lm_config(cfg.model, defaults=auto))
        if self.lm.cfg.num_phonemes != len(self.symbols):
            raise ValueError(f"{cfg.symbols}: {len(self.symbols)} symbols but the LM has {self.lm.cfg.num_phonemes}")
        self.train_set = TokenDataset(cfg.train_manifest, self.symbols)
        self.val_set = TokenDataset(cfg.val_manifest, self.symbols) if cfg.val_manifest else None

    def modules(self) -> dict:
        return {"lm": self.lm}

    def bind(self, modules: dict, accelerator) -> None:
        self.model, self.acc = modules["lm"], accelerator

    def _collate(self, items):
        return collate(self.lm.cfg, items)

    def train_loader(self, seed: int, epoch: int) -> DataLoader:
        sampler = BucketBatchSampler(self.train_set.durations, batch_size=self.cfg.batch_size,
                                     max_seconds=self.cfg.max_batch_seconds, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        data = TextDropout(self.train_set, self.cfg.text_dropout, seed, epoch) if self.cfg.text_dropout else self.train_set
        return DataLoader(data, batch_sampler=sampler, collate_fn=functools.partial(collate, self.lm.cfg),
                          **loader_options(self.cfg.train))

    def train_step(self, batch: dict, update, step: int) -> dict[str, float]:
        with self.acc.autocast():
            out = _loss(self.model, batch)
        norm = update("lm", out["loss"])
        return {"loss": float(out["loss"].detach()), "acc": float(out["acc"]), "grad_norm": norm}

    def validate(self, accelerator, writer, step: int) -> dict[str, float]:
        """Token-weighted loss and top-1 accuracy over the whole validation manifest."""
        if self.val_set is None:
            return {}
        sampler = BucketBatchSampler(self.val_set.durations, batch_size=self.cfg.batch_size, shuffle=False)
        tot, loss, acc = 0, 0.0, 0.0
        for batch in DataLoader(self.val_set, batch_sampler=sampler, collate_fn=self._collate):
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            with accelerator.autocast():
                out = _loss(self.model, batch)
            n = int(out["tokens"])
            tot, loss, acc = tot + n, loss + float(out["loss"]) * n, acc + float(out["acc"]) * n
        return {"loss": loss / tot, "acc": acc / tot}

    def save_extra(self, folder: Path) -> None:
        self.acc.unwrap_model(self.model).save_pretrained(folder / "lm", symbols=self.symbols)


def _loss(model, batch):
    """Through the (possibly DDP-wrapped) module's forward, so gradients synchronise."""
    return lm_loss(model(batch["ids"], batch["attention_mask"])[0], batch["labels"])


def load_lm_train_config(path: str | None, overrides: list[str] = ()) -> LMTrainConfig:
    from dualtts.training.config import load_stage_config

    return load_stage_config(LMTrainConfig, path, overrides, stage="lm")
