"""Flow-stage training as a task for ``training.Trainer``.

``dualtts train flow --config recipes/mini/flow.yaml [key=value ...]``. Reads token manifests (all layers,
``dualtts extract-tokens``) and the tokenizer they came from (frozen; only its ``embed`` is used).
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dualtts.data.manifest import read_codes
from dualtts.flow.config import get_flow_config
from dualtts.flow.model import AcousticFlow
from dualtts.flow.infer import fill_utterance, split_latent
from dualtts.training.loop import TrainConfig, loader_options


@dataclass
class FlowTrainConfig:
    model: str | dict = "tiny"       # preset, YAML, checkpoint folder, or {"preset": NAME, **fields}
    init: str | None = None
    tokenizer: str = ""              # dualcodec:PATH | mimi:ID | encodec:ID (the one the tokens came from)
    train_manifest: str = ""
    val_manifest: str | None = None
    batch_size: int = 16
    max_frames: int = 200            # random crop of longer utterances
    stats_utterances: int = 200      # utterances for the latent mean/std
    val_utterances: int = 4          # decoded in validation (mel distance, speaker similarity)
    val_steps: int = 16
    lm_states: str | None = None     # folder of <id>.npy [F, C] semantic-LM states (`dualtts lm-states`) to condition on
    train: TrainConfig = field(default_factory=TrainConfig)


def read_states(folder: str | Path, utts: list, codes: list[np.ndarray], lazy: bool = True) -> "StatesFiles | list[np.ndarray]":
    """The LM states ``<id>.npy [F, C]`` of each utterance, frame-aligned with its codes. Only the files' headers
    are read here (shape and type checked); ``lazy`` (the default) hands back :class:`StatesFiles`, which reads an
    item's frames when a batch needs them: all of LibriTTS's states (~40 GB at fp16) never sit in memory at once.
    ``lazy=False``: every array loaded now (a list)."""
    paths, shapes = [], []
    for u, c in zip(utts, codes):
        p = Path(folder) / f"{u.id}.npy"
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no LM states for utterance {u.id} (run dualtts lm-states on its manifest)")
        shape, dtype = npy_header(p)
        if len(shape) != 2 or shape[0] != c.shape[1] or not np.issubdtype(dtype, np.floating):
            raise ValueError(f"{p}: states of shape {shape} ({dtype}); expected [{c.shape[1]}, C] floats (one per frame of its codes)")
        paths.append(str(p))
        shapes.append(shape)
    states = StatesFiles(paths, shapes)
    return states if lazy else [states[i].copy() for i in range(len(states))]


def npy_header(path: str | Path) -> tuple[tuple[int, ...], np.dtype]:
    """``(shape, dtype)`` of a ``.npy`` file from its header alone."""
    with open(path, "rb") as f:
        try:
            major, _ = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(f)
        except ValueError as e:
            raise ValueError(f"{path}: not a readable .npy file ({e})") from None
    return tuple(shape), dtype


class StatesFiles(Sequence):
    """LM states read per item: ``states[i]`` is ``<id>.npy`` as a read-only memory map ``[F, C]``, so slicing it
    (a training crop) reads only those frames from disk; ``states[a:b]`` is another :class:`StatesFiles`. Holds
    paths and shapes only (cheap to hand to DataLoader workers)."""

    def __init__(self, paths: list[str], shapes: list[tuple[int, ...]]):
        self.paths, self.shapes = list(paths), list(shapes)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return StatesFiles(self.paths[i], self.shapes[i])
        if not math.prod(self.shapes[i]):
            return np.load(self.paths[i], allow_pickle=False)  # (an empty array cannot be memory-mapped)
        return np.load(self.paths[i], mmap_mode="r", allow_pickle=False)


class CodesDataset(Dataset):
    """Random crops of ``max_frames``: codes [Q, F] (and their LM states [F, C] when given)."""

    def __init__(self, codes: list[np.ndarray], max_frames: int, seed: int = 0, epoch: int = 0, states=None):
        self.codes, self.states, self.max_frames = codes, states, max_frames
        self.rng = random.Random(seed * 7919 + epoch)
        self.starts = [self.rng.randint(0, max(0, c.shape[1] - max_frames)) for c in codes]

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, i: int):
        s, e = self.starts[i], self.starts[i] + self.max_frames
        c = torch.from_numpy(self.codes[i][:, s:e])
        return c if self.states is None else (c, torch.from_numpy(np.array(self.states[i][s:e], dtype=np.float32)))


def collate_codes(items: list) -> dict[str, torch.Tensor]:
    """codes [Q, F_i] (or ``(codes, states [F_i, C])``) -> ``codes [B, Q, F]`` (right-padded with 0),
    ``mask [B, F]`` (and ``cond [B, F, C]``)."""
    pairs = [it if isinstance(it, tuple) else (it, None) for it in items]
    F_ = max(c.shape[1] for c, _ in pairs)
    codes = torch.zeros(len(items), pairs[0][0].shape[0], F_, dtype=torch.long)
    mask = torch.zeros(len(items), F_, dtype=torch.bool)
    for b, (c, _) in enumerate(pairs):
        codes[b, :, : c.shape[1]], mask[b, : c.shape[1]] = c, True
    out = {"codes": codes, "mask": mask}
    if pairs[0][1] is not None:
        out["cond"] = torch.zeros(len(items), F_, pairs[0][1].shape[1])
        for b, (c, x) in enumerate(pairs):
            out["cond"][b, : x.shape[0]] = x
    return out


def flow_matching_loss(flow: AcousticFlow, tokens, semantic, x1, mask, generator=None, t=None, train: bool = True,
                       cond=None) -> dict:
    """Conditional flow-matching loss on real, non-prompt frames.

    tokens: [B, F]; semantic: [B, D, F]; x1: [B, F, D] normalised acoustic latent; mask: [B, F] real frames;
    cond: [B, F, C] LM states (dropped with the semantic condition).
    Random per row: the prompt prefix, condition/prompt dropout (``train``), the flow time (unless ``t``).
    """
    cfg, B, F_ = flow.cfg, x1.shape[0], x1.shape[1]
    dev = x1.device
    u = lambda *s: torch.rand(*s, generator=generator, device="cpu").to(dev)
    lengths = mask.sum(1)
    frac = cfg.prompt_min + (cfg.prompt_max - cfg.prompt_min) * u(B)
    plen = (frac * lengths).long()
    drop_cond = (u(B) < cfg.cond_dropout) if train else torch.zeros(B, dtype=torch.bool, device=dev)
    drop_prompt = drop_cond | ((u(B) < cfg.prompt_dropout) if train else torch.zeros_like(drop_cond))
    plen = torch.where(drop_prompt, torch.zeros_like(plen), plen)
    pmask = torch.arange(F_, device=dev)[None] < plen[:, None]
    tokens = torch.where(drop_cond[:, None], torch.full_like(tokens, cfg.codebook_size), tokens)
    sem = semantic.transpose(1, 2) * (~drop_cond)[:, None, None]
    cond = cond * (~drop_cond)[:, None, None] if cond is not None else None
    if t is None:
        t = torch.sigmoid(torch.randn(B, generator=generator)).to(dev) if cfg.time_sampling == "logit_normal" else u(B)
    x0 = torch.randn(x1.shape, generator=generator).to(dev)
    tt = t.view(B, 1, 1)
    x_t = (1 - tt) * x0 + tt * x1
    v = flow(x_t, t, tokens, sem, x1, pmask, mask, cond)
    keep = (mask & ~pmask)[..., None].to(v.dtype)
    loss = (((v.float() - (x1 - x0)) ** 2) * keep).sum() / (keep.sum() * x1.shape[-1]).clamp(min=1)
    return {"loss": loss}


class FlowTask:
    def __init__(self, cfg: FlowTrainConfig):
        from accelerate.utils import set_seed

        from dualtts.codec.tokenizer import load_tokenizer, tokenizer_spec

        self.cfg = cfg
        if not cfg.tokenizer:
            raise ValueError("tokenizer: give the tokenizer the tokens came from (dualcodec:PATH | mimi:ID | encodec:ID)")
        self.tokenizer = load_tokenizer(tokenizer_spec(cfg.tokenizer))
        self.train_utts, self.train_codes = read_codes(cfg.train_manifest)
        self.val_utts, self.val_codes = read_codes(cfg.val_manifest) if cfg.val_manifest else ([], [])
        Q = self.train_codes[0].shape[0]
        if Q < 2:
            raise ValueError(f"{cfg.train_manifest}: codes have {Q} layer; the flow stage needs the acoustic layers too")
        self.train_states = self.val_states = None
        if cfg.lm_states:
            self.train_states = read_states(cfg.lm_states, self.train_utts, self.train_codes)
            self.val_states = read_states(cfg.lm_states, self.val_utts, self.val_codes)
        set_seed(cfg.train.seed)
        if cfg.init:
            self.flow = AcousticFlow.from_pretrained(cfg.init).train()
        else:
            sizes = self.tokenizer.codebook_sizes
            with torch.no_grad():
                z = self.tokenizer.embed(torch.from_numpy(self.train_codes[0][None, :1]))
            auto = dict(latent_dim=z.shape[1], codebook_size=sizes[0], frame_rate=float(self.tokenizer.frame_rate),
                        cond_dim=self.train_states[0].shape[1] if self.train_states else 0)
            self.flow = AcousticFlow(get_flow_config(cfg.model, defaults=auto))
            self._latent_stats()
        want = self.flow.cfg.cond_dim
        have = self.train_states[0].shape[1] if self.train_states else 0
        if want != have:
            raise ValueError(f"the flow takes LM states of width {want} but lm_states gives {have or 'none'}"
                             + (" (set lm_states: the folder of dualtts lm-states)" if not have else ""))

    @torch.no_grad()
    def _latent_stats(self) -> None:
        """Per-channel mean/std of the acoustic latent over up to ``stats_utterances`` training utterances."""
        acc = [split_latent(self.tokenizer, torch.from_numpy(c)[None])[1][0].T for c in self.train_codes[: self.cfg.stats_utterances]]
        a = torch.cat(acc)
        self.flow.latent_mean.copy_(a.mean(0))
        self.flow.latent_std.copy_(a.std(0).clamp(min=1e-4))

    def modules(self) -> dict:
        return {"flow": self.flow}

    def bind(self, modules: dict, accelerator) -> None:
        self.model, self.acc = modules["flow"], accelerator
        self.tokenizer.to(accelerator.device)

    def train_loader(self, seed: int, epoch: int) -> DataLoader:
        ds = CodesDataset(self.train_codes, self.cfg.max_frames, seed, epoch, self.train_states)
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        return DataLoader(ds, batch_size=self.cfg.batch_size, shuffle=True, collate_fn=collate_codes, generator=g,
                          drop_last=len(ds) >= self.cfg.batch_size, **loader_options(self.cfg.train))

    def _inputs(self, batch):
        codes, mask = batch["codes"], batch["mask"]
        with torch.no_grad():
            sem, acoustic = split_latent(self.tokenizer, codes)
        flow = self.acc.unwrap_model(self.model)
        return codes[:, 0], sem, flow.normalize(acoustic), mask, batch.get("cond")

    def train_step(self, batch: dict, update, step: int) -> dict[str, float]:
        tokens, sem, x1, mask, cond = self._inputs(batch)
        with self.acc.autocast():
            out = flow_matching_loss(self.model, tokens, sem, x1, mask, cond=cond)
        norm = update("flow", out["loss"])
        return {"loss": float(out["loss"].detach()), "grad_norm": norm}

    def validate(self, accelerator, writer, step: int) -> dict[str, float]:
        """Latent loss at fixed t (0.25/0.5/0.75, fixed noise and prompts); for ``val_utterances``
        utterances sampled with a prompt from another utterance of the speaker: against the original audio,
        mel distance, STOI, PESQ and speaker similarity (data.features.validation_metrics)."""
        if not self.val_codes:
            return {}
        flow = accelerator.unwrap_model(self.model)
        g = torch.Generator().manual_seed(0)
        losses = []
        for i in range(0, len(self.val_codes), self.cfg.batch_size):
            ds = CodesDataset(self.val_codes[i: i + self.cfg.batch_size], self.cfg.max_frames,
                              states=self.val_states[i: i + self.cfg.batch_size] if self.val_states else None)
            ds.starts = [0] * len(ds)
            batch = collate_codes([ds[j] for j in range(len(ds))])
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            tokens, sem, x1, mask, cond = self._inputs(batch)
            for t in (0.25, 0.5, 0.75):
                tt = torch.full((x1.shape[0],), t, device=x1.device)
                losses.append(float(flow_matching_loss(flow, tokens, sem, x1, mask, generator=g, t=tt, train=False, cond=cond)["loss"]))
        res = {"loss": float(np.mean(losses))}
        res.update(self._decoded_metrics(flow, writer, step))
        return res

    def _decoded_metrics(self, flow, writer, step) -> dict[str, float]:
        from dualtts.data.audio import load_audio, resample
        from dualtts.data.features import validation_metrics

        by_spk = defaultdict(list)
        for i, u in enumerate(self.val_utts):
            by_spk[u.speaker].append(i)
        pairs = [(ix[0], ix[1]) for ix in by_spk.values() if len(ix) > 1][: self.cfg.val_utterances]
        res: dict[str, list[float]] = defaultdict(list)
        sr = self.tokenizer.sample_rate
        for n, (i, j) in enumerate(pairs):
            u = self.val_utts[i]
            cond = None  # the prompt's states come from another utterance: teacher-forced states of each, joined
            if self.val_states:
                cond = np.concatenate([self.val_states[j], self.val_states[i]]).astype(np.float32)
            wav = fill_utterance(flow, self.tokenizer, self.val_codes[i][0], self.val_codes[j], prompt_seconds=3.0,
                                 steps=self.cfg.val_steps, cond=cond)[0, 0].float().cpu().numpy()
            ref, _ = load_audio(u.audio, sr, max_seconds=60)
            for k, v in validation_metrics(resample(ref, sr, 16000), resample(wav, sr, 16000), sim=True).items():
                res[k].append(v)
            if writer is not None and n < 2:
                writer.add_audio(f"val/{u.id}", torch.from_numpy(wav)[None].clamp(-1, 1), step, sample_rate=sr)
        return {k: float(np.nanmean(v)) for k, v in res.items()}

    def save_extra(self, folder: Path) -> None:
        self.acc.unwrap_model(self.model).save_pretrained(folder / "flow")


def load_flow_train_config(path: str | None, overrides: list[str] = ()) -> FlowTrainConfig:
    from dualtts.training.config import load_stage_config

    return load_stage_config(FlowTrainConfig, path, overrides, stage="flow")
