"""Entry-point helpers shared by every stage: YAML + ``key=value`` overrides into a dataclass config,
and the checkpoint folder format (``model.safetensors`` + ``config.yaml``) of trained models."""
from __future__ import annotations

import os
import types
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from training.loop import TrainConfig

T = TypeVar("T")


def apply_overrides(d: dict, overrides: list[str] | tuple[str, ...], schema: type | None = None) -> dict:
    """``a.b=value`` strings into the nested dict ``d``. Values are parsed as YAML, then read as the type of
    the dataclass field they set when ``schema`` (a dataclass, nested dataclass fields followed) is given:
    ``mixed_precision=no`` stays the string "no" for a ``str`` field, ``lr=1e-4`` is a float for a ``float`` one."""
    for o in overrides:
        key, sep, val = o.partition("=")
        if not sep:
            raise ValueError(f"override {o!r}: expected key=value")
        node = d
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = parse_value(val, field_type(schema, parts) if schema else None)
    return d


def field_type(cls: type, parts: list[str]) -> Any:
    """The annotated type of the dotted field ``parts`` of dataclass ``cls`` (None when not a field)."""
    tp: Any = cls
    for p in parts:
        if not (isinstance(tp, type) and is_dataclass(tp)):
            return None
        hints = typing.get_type_hints(tp)
        if p not in hints:
            return None
        tp = hints[p]
    return tp


def parse_value(raw: str, tp: Any = None) -> Any:
    """YAML-parse ``raw``; when that gives a value ``tp`` does not accept, read it as ``tp`` instead."""
    v = yaml.safe_load(raw)
    if tp is None:
        return v
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    accepted = tuple(typing.get_origin(a) or a for a in args if a is not type(None))
    if v is None and type(None) in args:
        return None
    if float in accepted and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, accepted) and not (isinstance(v, bool) and bool not in accepted):
        return v
    if float in accepted:
        try:
            return float(raw)
        except ValueError:
            pass
    if str in accepted:
        return raw
    return v


def load_stage_config(cls: type[T], path: str | None, overrides: list[str] | tuple[str, ...] = (), stage: str = "") -> T:
    """A stage's training config: YAML (its fields, ``train:`` for :class:`TrainConfig`) + overrides."""
    d = yaml.safe_load(Path(path).read_text(encoding="utf-8")) if path else {}
    d = apply_overrides(d or {}, overrides, schema=cls)
    train = TrainConfig(**d.pop("train", {}))
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {stage or cls.__name__} training field(s): {', '.join(sorted(unknown))}")
    return cls(**d, train=train)


def resolve_checkpoint(path_or_id: str | os.PathLike, files: tuple[str, ...], what: str) -> Path:
    """A local checkpoint folder holding ``files``, or a hub repo id (``owner/name``) downloaded with them."""
    path = Path(path_or_id)
    if not path.exists():
        s = str(path_or_id)
        if s.count("/") == 1 and not s.startswith((".", "/")):
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(s, allow_patterns=list(files)))
        else:
            raise FileNotFoundError(f"{path_or_id}: {what} checkpoint not found")
    for f in files:
        if not (path / f).is_file():
            raise FileNotFoundError(f"{path}: missing {f} (not a {what} checkpoint)")
    return path


def save_checkpoint(path: str | os.PathLike, state_dict: dict, config: Any) -> Path:
    """Write ``model.safetensors`` and ``config.yaml`` (a dataclass or dict) atomically into the folder ``path``."""
    from dataclasses import asdict

    from safetensors.torch import save_file

    from data.atomic import atomic_path, write_text_atomic

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with atomic_path(path / "model.safetensors") as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in state_dict.items()}, str(tmp))
    cfg = asdict(config) if is_dataclass(config) else dict(config)
    write_text_atomic(path / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    return path


def load_state(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "model.safetensors"))


class DictConfig:
    """``to_dict`` / ``from_dict`` for a model-config dataclass; ``WHAT`` names it in errors."""

    WHAT = "model"

    def to_dict(self) -> dict:
        from dataclasses import asdict

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
    if p.is_dir():
        p = p / "config.yaml"
    if not p.is_file():
        raise FileNotFoundError(f"{spec}: not a {what} preset ({', '.join(presets)}), YAML file or checkpoint")
    return config_from_dict(cls, {**(yaml.safe_load(p.read_text(encoding="utf-8")) or {}), **overrides}, what)
