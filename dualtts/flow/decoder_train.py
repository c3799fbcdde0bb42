"""Fine-tune the codec's decoder on what the NAR stage hands it, as a task for ``training.Trainer``.

``dualtts train decoder --config recipes/mini/decoder.yaml [key=value ...]``.

At inference the decoder reads ``embed(first layer) + the expected acoustic code vectors`` under the NAR's
predicted distributions (``decode: soft``), a blurrier latent than the true codes' it was trained on. Here the
frozen NAR fills the acoustic layers of real utterances from their true first-layer tokens (a prefix of the
utterance as the voice prompt, as in NAR training), and the decoder learns to turn that soft latent back into
the recorded audio (multi-scale mel loss on crops after the prompt): the ground-truth-aligned fine-tuning
vocoders get on predicted features. A ``true_prob`` share of the rows reads the true all-layer latent, so the
codec keeps reconstructing its own codes. Everything but the decoder stays frozen; checkpoints are whole
codecs (``<step>/codec``), usable wherever the original codec was; :func:`write_tuned_decoder` puts just the
decoder into the acoustic stage's folder, where the ``Synthesizer`` and ``flow-generate`` load it over the codec's
own (:func:`flow.infer.attach_tuned_decoder`) and leave codec resynthesis to the original.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from dualtts.codec.losses import MultiScaleMelLoss
from dualtts.codec.model import DualCodec
from dualtts.data.audio import load_audio
from dualtts.data.manifest import read_codes
from dualtts.flow.nar import AcousticNAR
from dualtts.flow.train import collate_codes, read_states
from dualtts.training.config import load_stage_config
from dualtts.training.loop import TrainConfig, loader_options


@dataclass
class DecoderTrainConfig:
    codec: str = ""                  # the DualCodec whose decoder is tuned (folder or hub id)
    nar: str = ""                    # the trained NAR stage (dualtts train nar) that feeds it
    train_manifest: str = ""         # token manifests (dualtts extract-tokens; all layers) with their audio
    val_manifest: str | None = None
    lm_states: str | None = None     # the NAR's LM states (dualtts lm-states), when it reads them
    batch_size: int = 16
    window_frames: int = 100         # the span the NAR sees (prompt + target)
    crop_frames: int = 32            # the decoded crop, after the prompt
    prompt_min: float = 0.1          # the prompt: this fraction of the window...
    prompt_max: float = 0.5          # ...up to this one
    true_prob: float = 0.5           # rows that read the true all-layer latent instead of the NAR's
    # the NAR's distributions flattened by a temperature drawn per row from this range: on the voices it was trained
    # on it is surer than on new ones, and the decoder should learn the blur it meets on new voices
    soft_temperature: tuple[float, float] = (1.0, 1.0)
    # also learn a projection of the LM's states added to the decoder's input (the NAR's ``decoder_cond``; saved
    # with the NAR as ``<step>/nar``): the decoder hears the text directly, not only through the expected codes
    state_adapter: bool = False
    # start from the decoder already tuned for this NAR (``decoder.safetensors`` in the NAR's folder), not the codec's
    from_tuned: bool = False
    val_utterances: int = 64
    train: TrainConfig = field(default_factory=TrainConfig)


class WindowDataset(Dataset):
    """Random windows of ``frames``: (codes [Q, f], LM states [f, C] or None, wav [f * hop]), f <= frames."""

    def __init__(self, utts, codes, states, frames: int, hop: int, sample_rate: int, seed: int = 0, epoch: int = 0,
                 random_start: bool = True):
        self.utts, self.codes, self.states, self.frames, self.hop, self.sr = utts, codes, states, frames, hop, sample_rate
        rng = random.Random(seed * 7919 + epoch)
        self.starts = [rng.randint(0, max(0, c.shape[1] - frames)) if random_start else 0 for c in codes]

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, i: int):
        s = self.starts[i]
        c = self.codes[i][:, s: s + self.frames]
        wav = load_audio(self.utts[i].audio, self.sr)[0][s * self.hop: (s + c.shape[1]) * self.hop]
        wav = np.pad(wav, (0, c.shape[1] * self.hop - len(wav)))
        x = None if self.states is None else torch.from_numpy(np.array(self.states[i][s: s + self.frames], dtype=np.float32))
        return torch.from_numpy(c), x, torch.from_numpy(wav)


def collate_windows(items: list) -> dict[str, torch.Tensor]:
    """-> collate_codes' ``codes [B, Q, F]``, ``mask [B, F]`` (``cond``) + ``wav [B, 1, F * hop]`` (zero-padded)."""
    out = collate_codes([(c, x) if x is not None else c for c, x, _ in items])
    T = max(len(w) for *_, w in items)
    out["wav"] = torch.stack([torch.nn.functional.pad(w, (0, T - len(w))) for *_, w in items])[:, None]
    return out


class DecoderTask:
    def __init__(self, cfg: DecoderTrainConfig):
        from accelerate.utils import set_seed

        if not cfg.codec or not cfg.nar:
            raise ValueError("decoder training needs codec= (the DualCodec) and nar= (the NAR stage that feeds it)")
        self.cfg = cfg
        set_seed(cfg.train.seed)
        self.codec = DualCodec.from_pretrained(cfg.codec)
        self.codec.requires_grad_(False)
        self.codec.decoder.requires_grad_(True)
        self.nar = AcousticNAR.from_pretrained(cfg.nar).requires_grad_(False)
        if cfg.from_tuned:
            from dualtts.flow.infer import TUNED_DECODER, attach_tuned_decoder

            if not attach_tuned_decoder(self.nar, self.codec):
                raise ValueError(f"from_tuned: {cfg.nar} has no {TUNED_DECODER} to start from")
        if cfg.state_adapter and self.nar.latent_cond is None:
            self.nar = _with_latent_cond(self.nar, self.codec.cfg.latent_dim)
        self.trained = self.codec.decoder if self.nar.latent_cond is None else _DecoderAndStates(self.codec.decoder, self.nar.latent_cond)
        self.hop, self.sr = self.codec.cfg.hop_length, self.codec.sample_rate
        self.mel_loss = MultiScaleMelLoss(self.sr)
        need = cfg.crop_frames + 2
        self.train_data = self._read(cfg.train_manifest, need)
        self.val_data = self._read(cfg.val_manifest, need, cfg.val_utterances) if cfg.val_manifest else None

    def _read(self, manifest: str, min_frames: int, limit: int | None = None):
        utts, codes = read_codes(manifest)
        keep = [i for i, c in enumerate(codes) if c.shape[1] >= min_frames][:limit]
        if not keep:
            raise ValueError(f"{manifest}: no utterance has the {min_frames} frames a crop needs")
        utts, codes = [utts[i] for i in keep], [codes[i] for i in keep]
        if codes[0].shape[0] != self.nar.cfg.num_quantizers:
            raise ValueError(f"{manifest}: codes have {codes[0].shape[0]} layers; the NAR fills {self.nar.cfg.num_quantizers}")
        states = read_states(self.cfg.lm_states, utts, codes) if self.cfg.lm_states else None
        if (states is None) != (not self.nar.cfg.cond_dim):
            raise ValueError(f"the NAR reads LM states of width {self.nar.cfg.cond_dim}: set lm_states accordingly")
        return utts, codes, states

    def modules(self) -> dict:
        return {"decoder": self.trained}

    def bind(self, modules: dict, accelerator) -> None:
        self.acc, self.trained = accelerator, modules["decoder"]
        self.decoder = self.trained.decoder if isinstance(self.trained, _DecoderAndStates) else self.trained
        self.codec.to(accelerator.device)
        self.nar.to(accelerator.device).eval()

    def _loader(self, data, seed: int, epoch: int, shuffle: bool, random_start: bool = True) -> DataLoader:
        ds = WindowDataset(*data, self.cfg.window_frames, self.hop, self.sr, seed, epoch, random_start)
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        return DataLoader(ds, batch_size=self.cfg.batch_size, shuffle=shuffle, collate_fn=collate_windows, generator=g,
                          drop_last=shuffle and len(ds) >= self.cfg.batch_size, **(loader_options(self.cfg.train) if shuffle else {}))

    def train_loader(self, seed: int, epoch: int) -> DataLoader:
        return self._loader(self.train_data, seed, epoch, shuffle=True)

    @torch.no_grad()
    def latents(self, batch: dict, frac: torch.Tensor, use_true: torch.Tensor, temp=1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's input ``[B, D, F]`` (the NAR's soft latent at ``temp``, or the true one on ``use_true``
        rows) and each row's prompt length ``[B]`` (``frac`` of its frames, leaving a crop after it)."""
        codes, mask = batch["codes"], batch["mask"]
        L = mask.sum(1)
        plen = torch.minimum((frac * L).long(), L - self.cfg.crop_frames).clamp(min=0)
        true = self.codec.embed(codes)
        if not use_true.all():  # some rows read the NAR
            _, probs = self.nar.sample(codes, plen, cond=batch.get("cond"), soft=True, key_mask=mask, soft_temperature=temp)
            z = self.codec.embed(codes[:, :1]) + self.codec.embed_acoustic_probs(probs)
            true = torch.where(use_true.view(-1, 1, 1), true, z)
        return true, plen

    def offset(self, batch: dict) -> torch.Tensor | float:
        """The LM states' projection ``[B, D, F]`` added to every row's latent (with gradient), or 0."""
        return 0.0 if self.nar.latent_cond is None else self.nar.latent_offset(batch["cond"])

    def _crops(self, z: torch.Tensor, wav: torch.Tensor, starts: torch.Tensor):
        C, hop = self.cfg.crop_frames, self.hop
        zc = torch.stack([z[b, :, s: s + C] for b, s in enumerate(starts.tolist())])
        wc = torch.stack([wav[b, :, s * hop: (s + C) * hop] for b, s in enumerate(starts.tolist())])
        return zc, wc

    def train_step(self, batch: dict, update, step: int) -> dict[str, float]:
        cfg, B = self.cfg, batch["codes"].shape[0]
        g = torch.Generator().manual_seed(cfg.train.seed * 100003 + step)
        frac = cfg.prompt_min + (cfg.prompt_max - cfg.prompt_min) * torch.rand(B, generator=g)
        use_true = torch.rand(B, generator=g) < cfg.true_prob
        lo, hi = cfg.soft_temperature
        temp = lo + (hi - lo) * torch.rand(B, generator=g)
        dev = batch["codes"].device
        z, plen = self.latents(batch, frac.to(dev), use_true.to(dev), temp.to(dev))
        z = z + self.offset(batch)
        room = (batch["mask"].sum(1) - cfg.crop_frames - plen).cpu()
        starts = plen.cpu() + (torch.rand(B, generator=g) * (room + 1)).long()
        zc, wc = self._crops(z, batch["wav"], starts)
        with self.acc.autocast():
            fake = self.decoder(zc)
        loss = self.mel_loss(fake.float(), wc)
        norm = update("decoder", loss)
        return {"loss": float(loss.detach()), "grad_norm": norm}

    @torch.no_grad()
    def validate(self, accelerator, writer, step: int) -> dict[str, float]:
        """Mel loss on the held-out utterances' frames after a fixed 30 % prompt: from the NAR's soft latent
        (``loss``) and from the true codes (``mel_true``)."""
        if not self.val_data:
            return {}
        res: dict[str, list] = {"loss": [], "mel_true": []}
        for batch in self._loader(self.val_data, 0, 0, shuffle=False, random_start=False):
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            B, dev = batch["codes"].shape[0], batch["codes"].device
            for key, true in (("loss", False), ("mel_true", True)):
                z, plen = self.latents(batch, torch.full((B,), 0.3, device=dev), torch.full((B,), true, device=dev))
                z = z + self.offset(batch)
                L = batch["mask"].sum(1)
                for b in range(B):  # whole target span per utterance
                    s, e = int(plen[b]), int(L[b])
                    fake = self.decoder(z[b:b + 1, :, s:e]).float()
                    res[key].append(float(self.mel_loss(fake, batch["wav"][b:b + 1, :, s * self.hop: e * self.hop])))
        return {k: float(np.mean(v)) for k, v in res.items()}

    def save_extra(self, folder) -> None:
        self.codec.decoder = self.acc.unwrap_model(self.decoder)
        self.codec.save_pretrained(folder / "codec")
        if self.nar.latent_cond is not None:  # the NAR with its trained states' projection
            self.nar.save_pretrained(folder / "nar")


class _DecoderAndStates(nn.Module):
    """What trains when the LM states' projection trains with the decoder: one module, one optimizer."""

    def __init__(self, decoder: nn.Module, states: nn.Module):
        super().__init__()
        self.decoder, self.states = decoder, states.requires_grad_(True)


def _with_latent_cond(nar: AcousticNAR, latent_dim: int) -> AcousticNAR:
    """``nar`` with a fresh (zero) projection of its LM states onto a ``latent_dim`` decoder input."""
    if not nar.cfg.cond_dim:
        raise ValueError("state_adapter: the NAR reads no LM states (cond_dim 0), so there are none to project")
    return nar.rebuilt("latent_cond.", decoder_cond=latent_dim).requires_grad_(False).eval()


def write_tuned_decoder(codec_dir, stage_dir) -> int:
    """The decoder of ``codec_dir`` (a codec checkpoint of this training) -> ``stage_dir/decoder.safetensors``, fp16,
    where :func:`flow.infer.attach_tuned_decoder` finds it. Returns the file's bytes."""
    from pathlib import Path

    from safetensors.torch import load_file, save_file

    from dualtts.flow.infer import TUNED_DECODER

    sd = load_file(str(Path(codec_dir) / "model.safetensors"))
    dec = {k[len("decoder."):]: (v.half() if v.is_floating_point() else v).contiguous() for k, v in sd.items() if k.startswith("decoder.")}
    if not dec:
        raise ValueError(f"{codec_dir}: no decoder weights in model.safetensors (not a codec checkpoint?)")
    out = Path(stage_dir) / TUNED_DECODER
    tmp = out.with_name(out.name + ".tmp")
    save_file(dec, str(tmp))
    tmp.replace(out)
    return out.stat().st_size


def load_decoder_train_config(path: str | None, overrides: list[str] = ()) -> DecoderTrainConfig:
    return load_stage_config(DecoderTrainConfig, path, overrides, stage="decoder")
