"""One training loop for every stage, on accelerate (CPU, one GPU, DDP, multi-node alike).

A stage supplies a *task* object:

- ``modules() -> dict[str, nn.Module]``: every trainable module by name ("generator", "discriminator"...);
  each gets its own AdamW and warmup + cosine schedule (``TrainConfig.optim`` overrides per name);
- ``train_step(batch, update, step) -> dict[str, float]``: computes losses and calls ``update(name, loss)``
  for each optimizer in the order it wants (a GAN: discriminator first, then generator); ``update``
  does backward, clipping, the optimizer and scheduler step, and zeroes the gradients;
- ``validate(loader, accelerator, writer, step) -> dict[str, float]`` (optional);
- ``train_loader(seed)`` / ``val_loader()`` returning DataLoaders whose order depends only on the
  seed and epoch (``set_epoch``), so a resumed run sees exactly the batches it would have.

Checkpoints (``out_dir/checkpoints/step-N``) hold each module's weights as safetensors, optimizer,
scheduler and RNG states (loaded with ``weights_only=True``) and ``state.json``; they are written
to a temporary folder and renamed, and ``out_dir/checkpoints/latest`` names the newest. Resuming
continues the same sequence of batches and random numbers: a run of N steps equals M steps plus
a resume for N - M steps.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm


@dataclass
class TrainConfig:
    out_dir: str = "exp/run"
    max_steps: int = 1000
    stop_at: int | None = None         # stop after this step; the lr schedule still spans max_steps (a schedule cut short)
    lr: float = 1e-4
    betas: tuple[float, float] = (0.8, 0.9)
    weight_decay: float = 0.0
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    mixed_precision: str = "no"        # no | bf16 | fp16 (GPU) | auto; weights and optimizer state stay fp32
    compile: bool = False              # torch.compile each module (first-step time logged; eager fallback on failure)
    seed: int = 0
    log_every: int = 10
    val_every: int = 500
    save_every: int = 500
    keep_checkpoints: int = 2
    best_metric: str | None = None     # a validation key (lower is better, e.g. "loss"): also keep checkpoints/best
    cpu: bool = False
    optim: dict = field(default_factory=dict)  # per-module overrides, e.g. {"discriminator": {"lr": 2e-4}}
    max_bad_steps: int = 10            # a NaN/inf loss skips its step (counted); this many in a row stop training
    num_workers: int = 0               # DataLoader worker processes reading the batches ahead (0: in the training process);
                                       # the batches are the same either way (each item depends on seed, epoch and index)
    pin_memory: bool | None = None     # page-locked batches, copied to the GPU without blocking; None: when training on CUDA


def loader_options(cfg: TrainConfig) -> dict:
    """The DataLoader keywords every stage's loaders take from :class:`TrainConfig`: workers and pinned memory."""
    pin = cfg.pin_memory if cfg.pin_memory is not None else (torch.cuda.is_available() and not cfg.cpu)
    opts = {"num_workers": max(0, int(cfg.num_workers)), "pin_memory": bool(pin)}
    if opts["num_workers"]:
        opts["prefetch_factor"] = 4
    return opts


def fast_bf16_cpu() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX). Without it, PyTorch's bf16 matmuls and
    convolutions fall back to slow paths: on an AVX2-only CPU a bf16 matmul ran about 180x slower than fp32."""
    try:
        flags = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_precision(mode: str, cpu: bool = False) -> str:
    """``auto``: bf16 on a CUDA GPU that supports it or a CPU with native bf16, else fp32 ("no")."""
    if mode != "auto":
        return mode
    if torch.cuda.is_available() and not cpu:
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if fast_bf16_cpu() else "no"


def _release_other_precision(precision: str) -> None:
    """accelerate keeps one process-wide state; a second training in the same single process (e.g. ``dualtts
    finetune``'s LM then NAR, or a script that trains twice) with another precision would be refused. Release it
    then; a launched multi-process run never trains twice with different settings, and keeps its state."""
    from accelerate.state import AcceleratorState

    if AcceleratorState._shared_state and AcceleratorState().num_processes == 1 \
            and str(AcceleratorState().mixed_precision) != precision:
        AcceleratorState._reset_state(reset_partial_state=True)


def cosine_with_warmup(step: int, warmup: int, total: int, min_ratio: float) -> float:
    if step < warmup:
        return (step + 1) / max(1, warmup)
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


class Trainer:
    def __init__(self, cfg: TrainConfig, task):
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, set_seed

        self.cfg, self.task = cfg, task
        self.out = Path(cfg.out_dir)
        # a GAN step or a quantizer-bypass step leaves some parameters without gradients
        ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
        self.precision = resolve_precision(cfg.mixed_precision, cfg.cpu)
        _release_other_precision(self.precision)
        self.accelerator = Accelerator(mixed_precision=self.precision, cpu=cfg.cpu, kwargs_handlers=[ddp])
        set_seed(cfg.seed)
        mods = task.modules()
        self.names = list(mods)
        self.compiled, self.first_step_s = False, None
        if cfg.compile:
            for m in mods.values():
                m.compile()  # in place: parameter names (and checkpoints) stay those of the eager module
            self.compiled = True
        self.opts, self.scheds = {}, {}
        for name in self.names:
            o = {"lr": cfg.lr, "betas": tuple(cfg.betas), "weight_decay": cfg.weight_decay, **cfg.optim.get(name, {})}
            params = [p for p in mods[name].parameters() if p.requires_grad]
            opt = torch.optim.AdamW(params, lr=o["lr"], betas=tuple(o["betas"]), weight_decay=o["weight_decay"])
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda s: cosine_with_warmup(s, cfg.warmup_steps, cfg.max_steps, cfg.min_lr_ratio))
            self.opts[name], self.scheds[name] = opt, sched
        prepared = self.accelerator.prepare(*[mods[n] for n in self.names], *[self.opts[n] for n in self.names])
        k = len(self.names)
        self.modules = dict(zip(self.names, prepared[:k]))
        self.opts = dict(zip(self.names, prepared[k:]))
        task.bind(self.modules, self.accelerator)
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.skipped_steps, self.bad_in_a_row, self.step_was_bad = 0, 0, False
        self.best: float | None = None
        self.writer = None

    # --- the loop ---------------------------------------------------------------------------
    def update(self, name: str, loss: torch.Tensor) -> float:
        """Backward ``loss`` into module ``name``'s parameters, clip, step, zero. Returns the grad norm."""
        acc, opt = self.accelerator, self.opts[name]
        # drop gradients another module's loss left here (a generator's adversarial loss flows into the discriminator)
        opt.zero_grad(set_to_none=True)
        finite = torch.isfinite(loss.detach()).all().float()
        if acc.num_processes > 1:  # every rank skips together, or none does
            finite = acc.reduce(finite, reduction="min")
        if not bool(finite):  # skip the update, keep the schedule in step with the step count
            self.step_was_bad = True
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler")
                self.scheds[name].step()
            return float("nan")
        acc.backward(loss)
        norm = acc.clip_grad_norm_(self.modules[name].parameters(), self.cfg.grad_clip) if self.cfg.grad_clip else None
        opt.step()
        self.scheds[name].step()
        opt.zero_grad(set_to_none=True)
        return float(norm) if norm is not None else float("nan")

    def fit(self, resume: bool = True, until: int | None = None) -> dict:
        """Train to ``max_steps`` (or stop early at step ``until`` / ``stop_at``, as an interruption would)."""
        acc, cfg = self.accelerator, self.cfg
        stop = min(cfg.max_steps, until or cfg.stop_at or cfg.max_steps)
        if resume:
            self.load_latest()
        if acc.is_main_process:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # (train_log.jsonl holds the same numbers)
                print("warning: tensorboard is not installed: no tensorboard logs (pip install tensorboard)", file=sys.stderr)
            else:
                self.writer = SummaryWriter(str(self.out / "tensorboard"))
        history: list[dict] = []
        t0 = time.monotonic()  # train_log.jsonl's wall_s: seconds since this process started (or resumed) training
        bar = tqdm(total=cfg.max_steps, initial=self.step, desc="train", file=sys.stderr, disable=not acc.is_main_process or None)
        while self.step < stop:
            loader = self.task.train_loader(cfg.seed, self.epoch)
            loader = acc.prepare_data_loader(loader) if acc.num_processes > 1 else loader
            for i, batch in enumerate(loader):
                if i < self.batch_in_epoch:
                    continue  # resumed mid-epoch: skip what was consumed
                for m in self.modules.values():
                    m.train()
                self.step_was_bad = False
                logs = self._train_step(_to(batch, acc.device))
                self.step += 1
                if self.step_was_bad:
                    self.skipped_steps += 1
                    self.bad_in_a_row += 1
                    if self.bad_in_a_row >= cfg.max_bad_steps:
                        raise RuntimeError(f"training stopped at step {self.step}: the loss was NaN/inf {self.bad_in_a_row} steps "
                                           f"in a row ({self.skipped_steps} skipped in all); lower train.lr or check the data, "
                                           f"then resume from {self.out / 'checkpoints'}")
                else:
                    self.bad_in_a_row = 0
                if self.skipped_steps:
                    logs["skipped_steps"] = self.skipped_steps
                self.batch_in_epoch = i + 1
                logs["lr"] = self.scheds[self.names[0]].get_last_lr()[0]
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    history.append({"step": self.step, **logs})
                    if acc.is_main_process:
                        with open(self.out / "train_log.jsonl", "a", encoding="utf-8") as f:
                            f.write(json.dumps({"step": self.step, **logs, "wall_s": round(time.monotonic() - t0, 1)}) + "\n")
                    if self.writer:
                        for k, v in logs.items():
                            self.writer.add_scalar(f"train/{k}", v, self.step)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in list(logs.items())[:4]})
                bar.update(1)
                improved = False
                if cfg.val_every and self.step % cfg.val_every == 0:
                    improved = self._is_best(self.validate())
                    if acc.num_processes > 1:  # every rank must take the same path into save()
                        from accelerate.utils import broadcast_object_list

                        improved = broadcast_object_list([improved], from_process=0)[0]
                if (cfg.save_every and self.step % cfg.save_every == 0) or self.step == stop or improved:
                    saved = self.save()
                    if improved and saved is not None:
                        self._copy_best(saved)
                if self.step >= stop:
                    break
            else:
                self.epoch += 1
                self.batch_in_epoch = 0
        bar.close()
        if self.writer:
            self.writer.flush()
        return {"step": self.step, "history": history}

    def _train_step(self, batch) -> dict:
        """One step of the task. The first is timed (compilation happens there); if compiling fails, the
        modules go back to eager and the step is taken again."""
        if self.first_step_s is not None:
            return self.task.train_step(batch, self.update, self.step)
        t = time.monotonic()
        try:
            logs = self.task.train_step(batch, self.update, self.step)
        except Exception as e:
            if not self.compiled:
                raise
            print(f"warning: torch.compile failed ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                  "training without compilation", file=sys.stderr)
            for m in self.modules.values():
                self.accelerator.unwrap_model(m)._compiled_call_impl = None
            self.compiled = False
            for o in self.opts.values():
                o.zero_grad(set_to_none=True)
            logs = self.task.train_step(batch, self.update, self.step)
        self.first_step_s = round(time.monotonic() - t, 2)
        if self.accelerator.is_main_process:
            print(f"first step: {self.first_step_s} s{' (torch.compile included)' if self.compiled else ''}", file=sys.stderr)
        return logs

    def validate(self) -> dict:
        if not hasattr(self.task, "validate"):
            return {}
        for m in self.modules.values():
            m.eval()
        with torch.no_grad():
            res = self.task.validate(self.accelerator, self.writer, self.step)
        if self.writer:
            for k, v in res.items():
                self.writer.add_scalar(f"val/{k}", v, self.step)
        if self.accelerator.is_main_process:
            with open(self.out / "validation.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps({"step": self.step, **res}) + "\n")
        return res

    def _is_best(self, res: dict) -> bool:
        v = res.get(self.cfg.best_metric) if self.cfg.best_metric else None
        if v is None or (self.best is not None and v >= self.best):
            return False
        self.best = float(v)
        return True

    def _copy_best(self, ckpt: Path) -> None:
        """``checkpoints/best`` = a copy of ``ckpt`` (replaced atomically), named in ``best.json``."""
        tmp = ckpt.parent / ".tmp-best"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(ckpt, tmp)
        old = ckpt.parent / ".old-best"
        shutil.rmtree(old, ignore_errors=True)
        if (ckpt.parent / "best").exists():
            os.replace(ckpt.parent / "best", old)
        os.replace(tmp, ckpt.parent / "best")
        shutil.rmtree(old, ignore_errors=True)
        _write_atomic(ckpt.parent / "best.json", json.dumps({"step": self.step, self.cfg.best_metric: self.best}))

    # --- checkpoints ------------------------------------------------------------------------
    def save(self) -> Path | None:
        acc = self.accelerator
        acc.wait_for_everyone()
        if not acc.is_main_process:
            return None
        from safetensors.torch import save_file

        root = self.out / "checkpoints"
        final = root / f"step-{self.step}"
        tmp = root / f".tmp-step-{self.step}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for n in self.names:
            sd = acc.unwrap_model(self.modules[n]).state_dict()
            save_file({k: v.detach().contiguous().cpu() for k, v in sd.items()}, str(tmp / f"{n}.safetensors"))
            torch.save({"optimizer": self.opts[n].state_dict(), "scheduler": self.scheds[n].state_dict()}, tmp / f"{n}.optim.pt")
        torch.save({"torch": torch.get_rng_state(), "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
                    "numpy_pos": np.random.get_state()[2], "python": torch.tensor(random.getstate()[1], dtype=torch.int64), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
                   tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps({"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                                                    "best": self.best, "skipped_steps": self.skipped_steps,
                                                    "config": asdict(self.cfg)}, indent=1))
        if hasattr(self.task, "save_extra"):  # (building a model to save it must not move the training's random stream)
            with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []):
                self.task.save_extra(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        _write_atomic(root / "latest", final.name)
        for old in sorted(root.glob("step-*"), key=lambda p: int(p.name[5:]))[: -self.cfg.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def load_latest(self) -> bool:
        latest = self.out / "checkpoints" / "latest"
        if not latest.is_file():
            return False
        self.load(self.out / "checkpoints" / latest.read_text().strip())
        return True

    def load(self, ckpt: Path) -> None:
        from safetensors.torch import load_file

        acc = self.accelerator
        for n in self.names:
            acc.unwrap_model(self.modules[n]).load_state_dict(load_file(str(ckpt / f"{n}.safetensors")))
            st = torch.load(ckpt / f"{n}.optim.pt", map_location="cpu", weights_only=True)
            self.opts[n].load_state_dict(st["optimizer"])
            self.scheds[n].load_state_dict(st["scheduler"])
        rng = torch.load(ckpt / "rng.pt", map_location="cpu", weights_only=True)
        torch.set_rng_state(rng["torch"])
        np.random.set_state(("MT19937", rng["numpy"].numpy().astype(np.uint32), int(rng["numpy_pos"]), 0, 0.0))
        random.setstate((3, tuple(int(x) for x in rng["python"].tolist()), None))
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        state = json.loads((ckpt / "state.json").read_text())
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.best = state.get("best")
        self.skipped_steps = state.get("skipped_steps", 0)


def _to(batch, device):
    if isinstance(batch, torch.Tensor):  # (from pinned memory the copy does not block the host)
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to(v, device) for v in batch)
    return batch


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
