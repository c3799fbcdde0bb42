"""Weights published by others in their own layout, read into our classes: the DualCodec authors' TTS models
(hub repo ``amphion/dualcodec-tts``: ``dualcodec_valle_ar_12hzv1.safetensors``, ``dualcodec_valle_nar_12hzv1
.safetensors``, fp16, no config file; the sizes are those of the package's ``conf_tts`` YAML files).

:class:`Published` adds to :class:`data.checkpoint.Pretrained` a ``from_pretrained`` that takes the hub repo id,
a folder holding the published file, or the file itself (safetensors only: no code runs), and still reads a
folder written by our ``save_pretrained`` (``config.yaml`` + ``model.safetensors``, the same keys).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from dualtts.data.checkpoint import CONFIG, Pretrained, resolve_device

TTS_REPO = "amphion/dualcodec-tts"


def _download(repo: str, filename: str) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, filename))
    except Exception as e:  # offline, no such repo or file: one line, with the reason
        why = " ".join(str(e).split())[:160]
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
        hint = " (HF_HUB_OFFLINE is set: the hub is not reachable)" if offline else ""
        raise OSError(f"cannot download {filename} from the hub repo {repo}{hint}; with the file on disk pass it "
                      f"(or its folder) instead ({type(e).__name__}: {why})") from None


def published_file(path_or_id: str | os.PathLike, filename: str) -> Path | None:
    """The published weights file for ``path_or_id``: the file itself (any ``*.safetensors``), a folder holding
    ``filename`` (a hub snapshot), or the hub repo id (downloaded); None for one of our checkpoint folders."""
    p = Path(path_or_id)
    if p.is_file():
        if p.suffix != ".safetensors":
            raise ValueError(f"{p}: expected a .safetensors file (the published weights)")
        return p
    if p.is_dir():
        if (p / filename).is_file():
            return p / filename
        if (p / CONFIG).is_file():
            return None
        raise FileNotFoundError(f"{p}: neither {filename} nor a checkpoint ({CONFIG}) in this folder")
    s = str(path_or_id)
    if s.count("/") == 1 and not s.startswith((".", "/")):
        return _download(s, filename)
    raise FileNotFoundError(f"{path_or_id}: no such file or folder (and not a hub repo id)")


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file -> its tensors (as stored: the published ones are fp16)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{path}: not a readable safetensors file ({' '.join(str(e).split())[:120]})") from None


class Published(Pretrained):
    """A model whose default config is the published one. A subclass sets ``PUBLISHED_FILE`` and ``get_config``
    (a preset name, YAML or checkpoint folder -> its config; preset ``published`` = the published sizes); its
    ``state_dict`` keys are the published keys (so one key set serves both forms)."""

    PUBLISHED_FILE = ""
    get_config = None  # staticmethod(spec) -> config

    @classmethod
    def default_config(cls):
        return cls.get_config("published")

    @classmethod
    def config_from_folder(cls, path):
        return cls.get_config(str(path))

    def load_checkpoint_state(self, state: dict, path: Path) -> None:
        """Strict: every key of the layout, nothing else, every shape equal (one-line errors naming the file). RoPE
        frequency buffers (saved by transformers before 4.31, recomputed here) are dropped."""
        state = {k: v for k, v in state.items() if not k.endswith("rotary_emb.inv_freq")}
        own = self.state_dict()
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(f"{path}: weights do not match the {self.WHAT} layout "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        bad = [k for k in own if tuple(state[k].shape) != tuple(own[k].shape)]
        if bad:
            raise ValueError(f"{path}: {bad[0]} has shape {tuple(state[bad[0]].shape)}, the {self.WHAT} config expects "
                             f"{tuple(own[bad[0]].shape)} (another model size? pass cfg=)")
        self.load_state_dict(state)

    @classmethod
    def from_pretrained(cls, path_or_id: str | os.PathLike = TTS_REPO, device="cpu", dtype=None, cfg=None):
        """The published weights (the hub repo, a folder with ``PUBLISHED_FILE``, or that file; ``cfg``: the
        config, default the published sizes), or one of our checkpoint folders. In eval mode on ``device``;
        the weights are cast to the model's dtype (float32) unless ``dtype`` is given (e.g. ``torch.float16``)."""
        f = published_file(path_or_id, cls.PUBLISHED_FILE)
        if f is None:
            return super().from_pretrained(path_or_id, device, dtype)
        model = cls(cfg if cfg is not None else cls.default_config())
        model.load_checkpoint_state(load_weights(f), f)
        model.checkpoint_dir = f.parent
        model = model.to(resolve_device(device))
        return (model.to(dtype) if dtype is not None else model).eval()
