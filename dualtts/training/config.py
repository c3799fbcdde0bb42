"""Entry-point helpers shared by every stage: YAML + ``key=value`` overrides into a training-config
dataclass. (Model configs and checkpoint folders: :mod:`data.checkpoint`.)"""
from __future__ import annotations

import types
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from dualtts.training.loop import TrainConfig

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
