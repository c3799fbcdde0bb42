"""Codec training: the DualCodec generator and its discriminators as a task for ``training.Trainer``.

``dualtts train codec --config recipes/mini/codec.yaml [section.key=value ...]``
(or ``accelerate launch -m dualtts.cli train codec --config ...`` for several processes/GPUs).
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dualtts.codec.config import DualCodecConfig, get_config
from dualtts.codec.discriminators import Discriminator
from dualtts.codec.feature_cache import TeacherCache
from dualtts.codec.hf_train import TrainableHFCodec, is_hf_model
from dualtts.codec.losses import ComplexSTFTLoss, MultiScaleMelLoss, discriminator_loss, feature_matching_loss, generator_adv_loss
from dualtts.codec.model import DualCodec
from dualtts.data.audio import AudioError, load_audio
from dualtts.data.checkpoint import load_state, resolve_checkpoint
from dualtts.data.manifest import read_manifest
from dualtts.data.robust import BadFileLog, SkipUnreadable
from dualtts.training.loop import TrainConfig, loader_options

# the paper's weights; "complex" (phase-aware complex-STFT loss, ours) is off by default
LOSS_WEIGHTS = {"mel": 15.0, "adv": 1.0, "fm": 2.0, "codebook": 1.0, "commitment": 0.25, "semantic": 15.0, "complex": 0.0}


@dataclass
class CodecTrainConfig:
    model: str | dict = "tiny-12hz"     # preset name, YAML path, checkpoint folder, or a dict of config fields; or a
                                        # Mimi / EnCodec from its config: "hf:mimi-tiny", {kind: mimi, ...} (codec.hf_train)
    init: str | None = None             # checkpoint to start from (e.g. the output of `dualtts codec-stats`)
    ssl_stats_from: str | None = None   # or: a fresh model that takes only the SSL mean/std from this checkpoint
    warm_start: str | None = None       # or: a fresh `model` taking every same-shaped tensor of this checkpoint
                                        # (e.g. a 25 Hz codec from a 12.5 Hz one: all but the frame-size layers)
    train_manifest: str = ""
    val_manifest: str | None = None
    segment_seconds: float = 0.96
    batch_size: int = 8
    val_utterances: int = 8
    loss: dict = field(default_factory=lambda: dict(LOSS_WEIGHTS))
    gan: bool = True
    gan_start_step: int = 0
    disc_channels: int = 32
    # a folder for the frozen teacher's features, computed once per whole utterance and sliced for each
    # crop (crops then start on the codec's frame grid); null: run the teacher on every crop
    teacher_cache: str | None = None
    # unreadable training files are skipped (each said once, listed in <out_dir>/bad_files.txt); more than
    # this fraction of the manifest unreadable stops the training
    max_bad_fraction: float = 0.01
    # speaker augmentation of each training crop (dualtts.data.augment.SpeakerAugmentConfig fields; null: none)
    augment: dict | None = None
    # parameter-name prefixes kept frozen, e.g. [semantic_encoder, semantic_vq] keeps the first-layer tokens as they
    # are (the LM and token reader stay valid) while the acoustic layers and the decoder learn
    freeze: list = field(default_factory=list)
    train: TrainConfig = field(default_factory=TrainConfig)


class CropDataset(Dataset):
    """Random fixed-length crops (zero-padded when shorter), reproducible from (seed, epoch, index).

    With a :class:`TeacherCache` (and ``align`` = the codec's hop), crops start on the frame grid and
    items are ``{"wav": [1, T], "teacher": [D_ssl, F50]}``: the cached features of the padded crop."""

    def __init__(self, paths: list[str], sample_rate: int, segment: int, seed: int = 0, epoch: int = 0,
                 cache: TeacherCache | None = None, align: int = 1, augment=None):
        self.paths, self.sr, self.segment, self.seed, self.epoch = paths, sample_rate, segment, seed, epoch
        self.cache, self.align, self.augment = cache, align, augment

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        wav, _ = load_audio(self.paths[i], self.sr)
        rng = random.Random(f"{self.seed}-{self.epoch}-{i}")
        start = 0
        if len(wav) > self.segment:
            # align 1 keeps the original draw (same crops as before); otherwise any frame-grid start that fits
            start = rng.randrange(0, (len(wav) - self.segment) // self.align + (self.align > 1)) * self.align
            wav = wav[start: start + self.segment]
        else:
            wav = np.pad(wav, (0, self.segment - len(wav)))
        if self.augment is not None:  # after the crop, length kept: cached teacher features still line up
            wav = self.augment(wav, self.sr, rng)
        x = torch.from_numpy(np.ascontiguousarray(wav))[None]
        if self.cache is None:
            return x
        padded = -(-self.segment // self.align) * self.align
        return {"wav": x, "teacher": TeacherCache.slice(self.cache.get(self.paths[i]), start, padded, self.sr)}


def warm_start(model: torch.nn.Module, checkpoint: str) -> dict:
    """Copy every tensor of ``checkpoint`` whose name and shape match into ``model``; says what was left out."""
    sd, own = load_state(resolve_checkpoint(checkpoint, "codec")), model.state_dict()
    same = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(same, strict=False)
    skipped = sorted(k for k in sd if k not in same)
    print(f"warm start from {checkpoint}: {len(same)} tensors copied, {len(skipped)} of other shape or name "
          f"({', '.join(skipped[:4])}{', ...' if len(skipped) > 4 else ''})", file=sys.stderr)
    return {"copied": len(same), "skipped": skipped}


class CodecTask:
    def __init__(self, cfg: CodecTrainConfig):
        from accelerate.utils import set_seed

        self.cfg = cfg
        set_seed(cfg.train.seed)  # the same initial weights for the same seed
        self.hf = is_hf_model(cfg.model)  # init: a transformers folder; no SSL teacher
        if self.hf:
            if cfg.ssl_stats_from or cfg.warm_start:
                raise ValueError("ssl_stats_from / warm_start are for DualCodec; a Mimi / EnCodec continues with init: FOLDER")
            self.codec = TrainableHFCodec.from_pretrained(cfg.init, cfg.model) if cfg.init else TrainableHFCodec.from_spec(cfg.model)
        elif cfg.init:
            self.codec = DualCodec.from_pretrained(cfg.init).train()
        else:
            self.codec = DualCodec(model_config(cfg.model))
            if cfg.ssl_stats_from:
                sd = load_state(cfg.ssl_stats_from)
                self.codec.ssl.mean.copy_(sd["ssl.mean"])
                self.codec.ssl.std.copy_(sd["ssl.std"])
            if cfg.warm_start:
                self.warm_started = warm_start(self.codec, cfg.warm_start)
        if cfg.freeze:
            frozen = 0
            for n, q in self.codec.named_parameters():
                q.requires_grad_(not n.startswith(tuple(cfg.freeze)))
                frozen += not q.requires_grad
            if not frozen:
                raise ValueError(f"freeze: no parameter name starts with any of {cfg.freeze}")
        self.augment = None
        if cfg.augment is not None:
            from dualtts.data.augment import SpeakerAugment

            self.augment = SpeakerAugment(cfg.augment)
        self.disc = Discriminator(channels=cfg.disc_channels) if cfg.gan else None
        self.mel_loss = MultiScaleMelLoss(self.codec.sample_rate)
        self.complex_loss = ComplexSTFTLoss()
        self.w = {**LOSS_WEIGHTS, **cfg.loss}
        self.train_paths = [u.audio for u in read_manifest(cfg.train_manifest)]
        if not self.train_paths:
            raise ValueError(f"{cfg.train_manifest}: no utterances")
        self.val_utts = read_manifest(cfg.val_manifest)[: cfg.val_utterances] if cfg.val_manifest else []
        self.cache = None
        if cfg.teacher_cache and not self.hf and self.codec.cfg.semantic_mode != "none":
            self.cache = TeacherCache(cfg.teacher_cache, self.codec.ssl, self.codec.sample_rate)
            self.cache.fill(self.train_paths)

    def modules(self) -> dict:
        mods = {"generator": self.codec}
        if self.disc is not None:
            mods["discriminator"] = self.disc
        return mods

    def bind(self, modules: dict, accelerator) -> None:
        self.g, self.d, self.acc = modules["generator"], modules.get("discriminator"), accelerator

    def train_loader(self, seed: int, epoch: int) -> DataLoader:
        seg = int(self.cfg.segment_seconds * self.codec.sample_rate)
        ds = CropDataset(self.train_paths, self.codec.sample_rate, seg, seed, epoch, self.cache,
                         self.codec.cfg.hop_length if self.cache else 1, self.augment)
        bad = BadFileLog(Path(self.cfg.train.out_dir) / "bad_files.txt", self.train_paths, self.cfg.max_bad_fraction)
        ds = SkipUnreadable(ds, bad, self.train_paths)  # an unreadable file: the next item instead (resume stays exact)
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        return DataLoader(ds, batch_size=self.cfg.batch_size, shuffle=True, drop_last=len(ds) >= self.cfg.batch_size,
                          generator=g, **loader_options(self.cfg.train))

    def train_step(self, batch, update, step: int) -> dict[str, float]:
        w, logs = self.w, {}
        wav, teacher = (batch["wav"], batch["teacher"]) if isinstance(batch, dict) else (batch, None)
        out = self.g(wav, teacher)
        fake = out["audio"]
        use_gan = self.d is not None and step >= self.cfg.gan_start_step
        if use_gan:
            d_loss = discriminator_loss(self.d(wav), self.d(fake.detach()))
            logs["d_loss"], logs["d_grad"] = float(d_loss.detach()), update("discriminator", d_loss)
        mel = self.mel_loss(fake, wav)
        loss = w["mel"] * mel + w["codebook"] * out["codebook_loss"] + w["commitment"] * out["commitment_loss"] \
            + w["semantic"] * out["semantic_loss"]
        if w["complex"]:
            cx = self.complex_loss(fake, wav)
            loss = loss + w["complex"] * cx
            logs["complex"] = float(cx.detach())
        if use_gan:
            real_outs, fake_outs = self.d(wav), self.d(fake)
            adv, fm = generator_adv_loss(fake_outs), feature_matching_loss(real_outs, fake_outs)
            loss = loss + w["adv"] * adv + w["fm"] * fm
            logs.update(adv=float(adv.detach()), fm=float(fm.detach()))
        logs.update(mel=float(mel.detach()), semantic=float(out["semantic_loss"].detach()), codebook=float(out["codebook_loss"].detach()),
                    commitment=float(out["commitment_loss"].detach()), g_loss=float(loss.detach()))
        logs["g_grad"] = update("generator", loss)
        logs.update(self.acc.unwrap_model(self.g).usage())  # codebook perplexity / size, recent batches
        return logs

    def validate(self, accelerator, writer, step: int) -> dict[str, float]:
        """Held-out utterances, whole: mel distance / STOI / PESQ for all layers and RVQ-1 only."""
        if not self.val_utts or not accelerator.is_main_process:
            return {}
        codec = accelerator.unwrap_model(self.g).eval()
        res: dict[str, list[float]] = {}
        # an unreadable held-out file is left out (said once, listed in bad_files.txt beside the training's own)
        # instead of stopping the training at its first validation
        bad, unreadable = BadFileLog(Path(self.cfg.train.out_dir) / "bad_files.txt", [u.audio for u in self.val_utts], 1.0), 0
        for n, u in enumerate(self.val_utts):
            try:
                wav, sr = load_audio(u.audio, codec.sample_rate, max_seconds=30)
            except (AudioError, OSError) as e:
                bad.add(u.audio, getattr(e, "problem", None) or str(e) or type(e).__name__)
                unreadable += 1
                continue
            x = torch.from_numpy(wav).to(accelerator.device)[None, None]
            codes = codec.encode(x)
            for tag, q in (("all", codes.shape[1]), ("rvq1", 1)):
                y = codec.decode(codes[:, :q], lengths=x.shape[-1])
                for k, v in reconstruction_metrics(x[0, 0].cpu().numpy(), y[0, 0].cpu().numpy(), sr, self.mel_loss).items():
                    res.setdefault(f"{k}_{tag}", []).append(v)
                if writer is not None and n < 2:
                    writer.add_audio(f"val/{u.id}_{tag}", y[0].cpu().clamp(-1, 1), step, sample_rate=sr)
        codec.train()
        out = {k: float(np.nanmean(v)) for k, v in res.items()}
        if unreadable:
            out["unreadable"] = unreadable
        return out

    def save_extra(self, folder: Path) -> None:
        self.acc.unwrap_model(self.g).save_pretrained(folder / "codec")


def model_config(model: str | dict) -> DualCodecConfig:
    """A preset name / YAML / checkpoint, a dict of fields, or ``{"preset": NAME, **overrides}``."""
    if isinstance(model, dict):
        d = dict(model)
        base = get_config(d.pop("preset")).to_dict() if "preset" in d else {}
        if isinstance(d.get("ssl"), dict) and isinstance(base.get("ssl"), dict):
            d["ssl"] = {**base["ssl"], **d["ssl"]}
        return DualCodecConfig.from_dict({**base, **d})
    return get_config(model)


def reconstruction_metrics(ref: np.ndarray, hyp: np.ndarray, sr: int, mel_loss: MultiScaleMelLoss) -> dict[str, float]:
    """Mel distance (the training loss's measure), STOI and PESQ-wb (16 kHz) when installed."""
    from dualtts.data.audio import resample
    from dualtts.data.features import validation_metrics

    out = validation_metrics(resample(ref, sr, 16000), resample(hyp, sr, 16000))
    out["mel"] = float(mel_loss(torch.from_numpy(hyp)[None, None], torch.from_numpy(ref)[None, None]))
    return out


def load_train_config(path: str | None, overrides: list[str] = ()) -> CodecTrainConfig:
    """YAML (sections: the CodecTrainConfig fields, ``train:`` for TrainConfig) + ``a.b=value`` overrides."""
    from dualtts.training.config import load_stage_config

    return load_stage_config(CodecTrainConfig, path, overrides, stage="codec")
