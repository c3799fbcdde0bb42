"""Checkpoint folders, the one place they are written, read and found, for every model (codec, LM, flow) and
the TTS bundle: ``model.safetensors`` (weights only, never a pickle) + ``config.yaml`` (safe YAML).

- :func:`resolve_checkpoint`: a local folder, or a hub repo id (``owner/name``) downloaded with the files.
- :func:`save_checkpoint` / :func:`load_state` / :func:`read_config`: atomic write; safetensors + safe YAML read.
- :class:`DictConfig`, :func:`preset_config`: model-config dataclasses from presets, YAML, folders or dicts.
- :class:`Pretrained`: ``save_pretrained`` / ``from_pretrained`` (device, dtype) for a model class;
  :func:`resolve_device`: ``--device auto`` for every command; :func:`quantize_for_cpu`: bf16 / int8 inference weights.

Imports nothing from ``training``: loading a model for inference never pulls in the training loop.
"""
from __future__ import annotations

import os
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import yaml

from dualtts.data.atomic import atomic_path, write_text_atomic

T = TypeVar("T")
WEIGHTS, CONFIG = "model.safetensors", "config.yaml"


def resolve_device(device=None) -> torch.device:
    """``"auto"`` / None: the CUDA GPU when there is one, else the CPU; anything else as given (``"cuda:1"``)."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_checkpoint(path_or_id: str | os.PathLike, what: str, files: tuple[str, ...] = (CONFIG, WEIGHTS)) -> Path:
    """A local checkpoint folder holding ``files``, or a hub repo id (``owner/name``) downloaded with them."""
    path = Path(path_or_id)
    if not path.exists():
        s = str(path_or_id)
        if s.count("/") == 1 and not s.startswith((".", "/")):
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(s, allow_patterns=list(files)))
        else:
            raise FileNotFoundError(f"{path_or_id}: {what} checkpoint not found")
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: not a {what} checkpoint folder")
    for f in files:
        if not (path / f).is_file():
            raise FileNotFoundError(f"{path}: missing {f} (not a {what} checkpoint)")
    return path


def config_dict(config: Any) -> dict:
    """A dataclass, an object with ``to_dict``, or a dict -> a plain dict."""
    if hasattr(config, "to_dict"):
        return config.to_dict()
    return asdict(config) if is_dataclass(config) else dict(config)


def save_checkpoint(path: str | os.PathLike, state_dict: dict, config: Any) -> Path:
    """Write ``model.safetensors`` and ``config.yaml`` atomically into the folder ``path``."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with atomic_path(path / WEIGHTS) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in state_dict.items()}, str(tmp))
    write_text_atomic(path / CONFIG, yaml.safe_dump(config_dict(config), sort_keys=False))
    return path


def load_state(path: str | os.PathLike) -> dict:
    """The weights of a checkpoint folder (safetensors: no code runs); a damaged file is a one-line error."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    f = Path(path) / WEIGHTS
    try:
        return load_file(str(f))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{f}: not a readable safetensors file ({' '.join(str(e).split())[:120]})") from None


def read_config(path: str | os.PathLike) -> dict:
    """``config.yaml`` of a folder (or a YAML file) through the safe loader (no ``!!python`` tags)."""
    p = Path(path)
    p = p / CONFIG if p.is_dir() else p
    try:
        d = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ValueError(f"{p}: not a valid config ({' '.join(str(e).split())[:120]})") from None
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise ValueError(f"{p}: expected a mapping of config fields")
    return d


class DictConfig:
    """``to_dict`` / ``from_dict`` for a model-config dataclass; ``WHAT`` names it in errors."""

    WHAT = "model"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        return config_from_dict(cls, d, cls.WHAT)


def config_from_dict(cls: type[T], d: dict, what: str) -> T:
    """A model-config dataclass from a dict, naming unknown fields."""
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {what} config field(s): {', '.join(sorted(unknown))}")
    return cls(**d)


def preset_config(cls: type[T], presets: dict[str, dict], spec: str | dict, what: str, defaults: dict | None = None,
                  **overrides) -> T:
    """A preset name, a YAML file, a checkpoint folder (its ``config.yaml``), or a dict
    (``{"preset": NAME, **fields}``) -> ``cls``; ``defaults`` under a preset or dict's fields, ``overrides`` on top."""
    defaults = defaults or {}
    if isinstance(spec, dict):
        d = dict(spec)
        base = presets[d.pop("preset")] if "preset" in d else {}
        return config_from_dict(cls, {**defaults, **base, **d, **overrides}, what)
    if spec in presets:
        return config_from_dict(cls, {**defaults, **presets[spec], **overrides}, what)
    p = Path(spec)
    if not (p.is_file() or (p / CONFIG).is_file()):
        raise FileNotFoundError(f"{spec}: not a {what} preset ({', '.join(presets)}), YAML file or checkpoint")
    return config_from_dict(cls, {**read_config(p), **overrides}, what)


class Pretrained:
    """``save_pretrained`` / ``from_pretrained`` for a model whose ``cfg`` is its config. A subclass sets
    ``WHAT`` and ``config_from_folder``; it may override ``checkpoint_state`` (what is saved) and
    ``load_checkpoint_state`` (how the weights go in)."""

    WHAT = "model"

    @classmethod
    def config_from_folder(cls, path: Path):
        raise NotImplementedError

    def checkpoint_state(self) -> dict:
        return self.state_dict()

    def load_checkpoint_state(self, state: dict, path: Path) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{path}: weights do not match the {self.WHAT} config "
                             f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")

    def save_pretrained(self, path: str | os.PathLike) -> Path:
        """Write ``model.safetensors`` + ``config.yaml`` atomically into the folder ``path``."""
        return save_checkpoint(path, self.checkpoint_state(), self.cfg)

    @classmethod
    def from_pretrained(cls, path_or_id: str | os.PathLike, device="cpu", dtype=None):
        """A folder written by :meth:`save_pretrained`, or a hub repo id with the same files; in eval mode on
        ``device`` (``"auto"``: :func:`resolve_device`; ``dtype``: cast the weights, e.g. ``torch.float16``)."""
        path = resolve_checkpoint(path_or_id, cls.WHAT)
        try:
            cfg = cls.config_from_folder(path)
        except (ValueError, TypeError) as e:  # another model's config, or a damaged one: name the folder
            msg = " ".join(str(e).split())
            raise ValueError(msg if str(path) in msg else f"{path}: {msg} (not a {cls.WHAT} checkpoint?)") from None
        model = cls(cfg)
        model.load_checkpoint_state(load_state(path), path)
        model.checkpoint_dir = path
        model = model.to(resolve_device(device))
        return (model.to(dtype) if dtype is not None else model).eval()


def quantize_for_cpu(model: torch.nn.Module, mode: str) -> torch.nn.Module:
    """Inference weights: ``none`` (as is), ``bf16``, or ``int8`` (dynamic int8 Linear layers, CPU only)."""
    if mode in ("none", "fp32", None):
        return model
    if mode == "bf16":
        return model.to(torch.bfloat16)
    if mode == "int8":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    raise ValueError(f"quantize {mode!r}: expected none, bf16 or int8")
