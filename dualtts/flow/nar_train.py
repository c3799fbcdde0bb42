"""NAR acoustic-stage training as a task for ``training.Trainer``.

``dualtts train nar --config recipes/mini/nar.yaml [key=value ...]``. Reads the token manifests the flow
stage reads (all layers, ``dualtts extract-tokens``), and optionally the LM's states (``dualtts lm-states``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader

from dualtts.data.manifest import read_codes, tokenizer_info
from dualtts.flow.nar import AcousticNAR, get_nar_config
from dualtts.flow.train import CodesDataset, collate_codes, read_states
from dualtts.training.config import load_stage_config
from dualtts.training.loop import TrainConfig, loader_options


@dataclass
class NARTrainConfig:
    model: str | dict = "tiny"       # preset, YAML, checkpoint folder, or {"preset": NAME, **fields}
    init: str | None = None
    train_manifest: str = ""
    val_manifest: str | None = None
    lm_states: str | None = None     # folder of <id>.npy LM states (dualtts lm-states) to condition on (read per batch)
    batch_size: int = 16
    max_frames: int = 150
    train: TrainConfig = field(default_factory=TrainConfig)


class NARTask:
    def __init__(self, cfg: NARTrainConfig):
        from accelerate.utils import set_seed

        self.cfg = cfg
        self.train_utts, self.train_codes = read_codes(cfg.train_manifest)
        self.val_utts, self.val_codes = read_codes(cfg.val_manifest) if cfg.val_manifest else ([], [])
        self.train_states = self.val_states = None
        if cfg.lm_states:
            self.train_states = read_states(cfg.lm_states, self.train_utts, self.train_codes)
            self.val_states = read_states(cfg.lm_states, self.val_utts, self.val_codes)
        set_seed(cfg.train.seed)
        Q = self.train_codes[0].shape[0]
        if Q < 2:
            raise ValueError(f"{cfg.train_manifest}: codes have {Q} layer; the NAR stage needs the acoustic layers too")
        have = self.train_states[0].shape[1] if self.train_states else 0
        if cfg.init:
            self.nar = _init_from(cfg.init, have)
        else:
            info = tokenizer_info(cfg.train_manifest)
            sizes = info.get("codebook_sizes") or [int(max(c[k].max() for c in self.train_codes)) + 1 for k in range(Q)]
            auto = dict(codebook_size=sizes[0], acoustic_codebook_size=max(sizes[1:]), num_quantizers=Q,
                        frame_rate=float(info.get("frame_rate", 12.5)),
                        cond_dim=have)
            self.nar = AcousticNAR(get_nar_config(cfg.model, defaults=auto))
        if self.nar.cfg.cond_dim != have:
            raise ValueError(f"the NAR takes LM states of width {self.nar.cfg.cond_dim} but lm_states gives {have or 'none'}")

    def modules(self) -> dict:
        return {"nar": self.nar}

    def bind(self, modules: dict, accelerator) -> None:
        self.model, self.acc = modules["nar"], accelerator

    def train_loader(self, seed: int, epoch: int) -> DataLoader:
        ds = CodesDataset(self.train_codes, self.cfg.max_frames, seed, epoch, self.train_states)
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        return DataLoader(ds, batch_size=self.cfg.batch_size, shuffle=True, collate_fn=collate_codes, generator=g,
                          drop_last=len(ds) >= self.cfg.batch_size, **loader_options(self.cfg.train))

    def train_step(self, batch: dict, update, step: int) -> dict[str, float]:
        with self.acc.autocast():
            out = self.model.loss(batch["codes"], batch["mask"], batch.get("cond"))
        norm = update("nar", out["loss"])
        return {"loss": float(out["loss"].detach()), "acc": float(out["acc"]), "grad_norm": norm}

    @torch.no_grad()
    def validate(self, accelerator, writer, step: int) -> dict[str, float]:
        """Cross-entropy and top-1 of every acoustic layer on the validation utterances (fixed prompt spans)."""
        if not self.val_codes:
            return {}
        nar = accelerator.unwrap_model(self.model)
        was = nar.training
        nar.eval()
        res: dict[str, list] = {"loss": [], "acc": []}
        for i in range(0, len(self.val_codes), self.cfg.batch_size):
            ds = CodesDataset(self.val_codes[i: i + self.cfg.batch_size], self.cfg.max_frames,
                              states=self.val_states[i: i + self.cfg.batch_size] if self.val_states else None)
            ds.starts = [0] * len(ds)
            batch = {k: v.to(accelerator.device) for k, v in collate_codes([ds[j] for j in range(len(ds))]).items()}
            B = batch["codes"].shape[0]
            for j in range(1, nar.cfg.num_quantizers):
                g = torch.Generator().manual_seed(j)
                out = nar.loss(batch["codes"], batch["mask"], batch.get("cond"), generator=g,
                               layer=torch.full((B,), j, device=accelerator.device), train=False)
                res["loss"].append(float(out["loss"]))
                res["acc"].append(float(out["acc"]))
                res.setdefault(f"acc/q{j + 1}", []).append(float(out["acc"]))
        nar.train(was)
        return {k: float(np.mean(v)) for k, v in res.items()}

    def save_extra(self, folder) -> None:
        self.acc.unwrap_model(self.model).save_pretrained(folder / "nar")


def _init_from(path: str, cond_dim: int) -> AcousticNAR:
    """A NAR checkpoint to start from; if it read LM states of another width (a new LM), every weight but the
    states' projection is taken over and that projection starts afresh (said on stderr)."""
    import sys

    nar = AcousticNAR.from_pretrained(path)
    if nar.cfg.cond_dim == cond_dim or not (nar.cfg.cond_dim and cond_dim):
        return nar.train()
    fresh = nar.rebuilt("cond_proj.", cond_dim=cond_dim)
    print(f"{path}: reads LM states of width {nar.cfg.cond_dim}, these are {cond_dim}: the states' projection starts afresh",
          file=sys.stderr)
    return fresh.train()


def load_nar_train_config(path: str | None, overrides: list[str] = ()) -> NARTrainConfig:
    return load_stage_config(NARTrainConfig, path, overrides, stage="nar")
