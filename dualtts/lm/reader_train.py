"""Token-reader training as a task for ``training.Trainer``: ``dualtts train reader --config recipes/mini/reader.yaml``.

Reads the LM's token manifests (``dualtts extract-tokens``: first-layer tokens + phonemes) and phoneme table;
validation reports the CTC loss per phoneme and the greedy phoneme error rate (``per``) on the true tokens.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from dualtts.data.manifest import tokenizer_info
from dualtts.data.sampler import BucketBatchSampler
from dualtts.data.text import SymbolTable
from dualtts.lm.reader import TokenReader, ctc_per_utterance, get_reader_config, phoneme_error_rate, skip_ids
from dualtts.lm.train import TokenDataset
from dualtts.training.loop import TrainConfig


@dataclass
class ReaderTrainConfig:
    model: str | dict = "tiny"       # preset, YAML, checkpoint folder, or {"preset": NAME, **fields}
    train_manifest: str = ""         # token manifest (dualtts extract-tokens)
    val_manifest: str | None = None
    symbols: str = ""                # the LM's phoneme table (symbols.json of dualtts prepare)
    init: str | None = None          # a reader checkpoint to continue from (its config and weights; `model` is ignored)
    batch_size: int = 32
    train: TrainConfig = field(default_factory=TrainConfig)


class ReaderTask:
    def __init__(self, cfg: ReaderTrainConfig):
        from accelerate.utils import set_seed

        if not cfg.symbols:
            raise ValueError("symbols: give the phoneme table (symbols.json of dualtts prepare)")
        self.cfg = cfg
        self.symbols = SymbolTable.load(cfg.symbols)
        set_seed(cfg.train.seed)
        info = tokenizer_info(cfg.train_manifest)
        auto = {"num_phonemes": len(self.symbols), "skip_ids": skip_ids(self.symbols)}
        if info:
            auto["codebook_size"] = info["codebook_sizes"][0]
        if cfg.init:
            self.reader = TokenReader.from_pretrained(cfg.init).float().train()
            if self.reader.cfg.num_phonemes != len(self.symbols):
                raise ValueError(f"{cfg.init}: the reader reads {self.reader.cfg.num_phonemes} phonemes but {cfg.symbols} "
                                 f"has {len(self.symbols)}")
        else:
            self.reader = TokenReader(get_reader_config(cfg.model, defaults=auto))
        self.train_set = TokenDataset(cfg.train_manifest, self.symbols)
        self.val_set = TokenDataset(cfg.val_manifest, self.symbols) if cfg.val_manifest else None

    def modules(self) -> dict:
        return {"reader": self.reader}

    def bind(self, modules: dict, accelerator) -> None:
        self.model, self.acc = modules["reader"], accelerator

    def _collate(self, items):
        return self.reader.batch([t for _, t in items], [p for p, _ in items])

    def train_loader(self, seed: int, epoch: int) -> DataLoader:
        sampler = BucketBatchSampler(self.train_set.durations, batch_size=self.cfg.batch_size, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        return DataLoader(self.train_set, batch_sampler=sampler, collate_fn=self._collate, num_workers=0)

    def train_step(self, batch: dict, update, step: int) -> dict[str, float]:
        with self.acc.autocast():
            loss = _loss(self.model, batch)
        norm = update("reader", loss)
        return {"loss": float(loss.detach()), "grad_norm": norm}

    @torch.no_grad()
    def validate(self, accelerator, writer, step: int) -> dict[str, float]:
        """CTC loss per phoneme and greedy phoneme error rate over the validation manifest."""
        if self.val_set is None:
            return {}
        reader = accelerator.unwrap_model(self.model)
        was = reader.training
        reader.eval()
        sampler = BucketBatchSampler(self.val_set.durations, batch_size=self.cfg.batch_size, shuffle=False)
        loss = n = 0.0
        hyps, refs = [], []
        for idx in sampler:
            items = [self.val_set[i] for i in idx]
            b = reader.batch([t for _, t in items], [p for p, _ in items])
            loss += float(reader.ctc(b, zero_infinity=True).sum())
            n += float(b["target_lengths"].sum())
            hyps += reader.read([t for _, t in items])
            refs += [reader.targets(p).tolist() for p, _ in items]
        reader.train(was)
        return {"loss": loss / max(n, 1), "per": phoneme_error_rate(hyps, refs)}

    def save_extra(self, folder: Path) -> None:
        self.acc.unwrap_model(self.model).save_pretrained(folder / "reader")


def _loss(model, batch):
    """Through the (possibly DDP-wrapped) module's forward, so gradients synchronise."""
    cfg = model.module.cfg if hasattr(model, "module") else model.cfg
    per = ctc_per_utterance(model(batch["tokens"], batch["mask"]), batch, cfg.num_phonemes, zero_infinity=True)
    return per.sum() / batch["target_lengths"].sum().clamp(min=1)


def load_reader_train_config(path: str | None, overrides: list[str] = ()) -> ReaderTrainConfig:
    from dualtts.training.config import load_stage_config

    return load_stage_config(ReaderTrainConfig, path, overrides, stage="reader")
