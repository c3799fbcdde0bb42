"""JSONL manifests: one utterance per line, ``id, audio, duration, speaker, text, phonemes`` (+ ``codes``).

Every stage reads and writes these; writes are atomic. :func:`split_by_speaker` makes
speaker-disjoint train/dev/test splits, keeping voice groups (the same recorded person behind
several engines, say) on one side.
"""
from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from dualtts.data.atomic import atomic_path

REQUIRED = ("id", "audio", "duration", "speaker", "text")


class ManifestError(ValueError):
    """A manifest that cannot be read. One line: ``<file>:<line>: <problem>``."""


@dataclass
class Utterance:
    """One manifest row. ``audio`` is a path (absolute, or relative to the manifest's folder)."""

    id: str
    audio: str
    duration: float
    speaker: str
    text: str
    phonemes: str | None = None
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        if d["phonemes"] is None:
            d.pop("phonemes")
        return {**d, **extra}

    @classmethod
    def from_json(cls, d: dict) -> "Utterance":
        known = {k: d[k] for k in REQUIRED}
        extra = {k: v for k, v in d.items() if k not in REQUIRED and k != "phonemes"}
        return cls(**known, phonemes=d.get("phonemes"), extra=extra)


def write_manifest(path: str | os.PathLike, utterances: Iterable[Utterance | dict]) -> Path:
    """Write rows as JSONL atomically. Returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for u in utterances:
            row = u.to_json() if isinstance(u, Utterance) else u
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: str | os.PathLike, what: str = "manifest") -> list[tuple[int, dict]]:
    """``(line number, object)`` of each non-blank line of a JSONL file; a missing file, bad JSON or a line
    that is not an object raises ManifestError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: {what} not found")
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(f"{path}:{n}: not valid JSON ({e.msg})") from None
            if not isinstance(d, dict):
                raise ManifestError(f"{path}:{n}: expected a JSON object")
            rows.append((n, d))
    return rows


def read_manifest(path: str | os.PathLike, resolve_audio: bool = True) -> list[Utterance]:
    """Read a JSONL manifest. Relative ``audio`` paths are resolved against the manifest's folder."""
    path = Path(path)
    rows, seen = [], {}
    for n, d in read_jsonl(path):
        missing = [k for k in REQUIRED if k not in d]
        if missing:
            raise ManifestError(f"{path}:{n}: missing field(s) {', '.join(missing)}")
        u = Utterance.from_json(d)
        if u.id in seen:
            raise ManifestError(f"{path}:{n}: duplicated id {u.id!r} (first on line {seen[u.id]})")
        seen[u.id] = n
        if resolve_audio and not os.path.isabs(u.audio):
            u.audio = str((path.parent / u.audio).resolve())
        rows.append(u)
    return rows


def split_by_speaker(
    utterances: Sequence[Utterance],
    dev_fraction: float = 0.05,
    test_fraction: float = 0.05,
    seed: int = 0,
    test_speakers: Iterable[str] = (),
    groups: dict[str, str] | None = None,
) -> dict[str, list[Utterance]]:
    """Speaker-disjoint ``{"train", "dev", "test"}`` splits.

    ``test_speakers`` go to test (with everyone in their group). Other groups are shuffled with
    ``seed`` and assigned until dev/test hold about the requested fraction of speakers; each
    split that is asked for gets at least one group when there are at least three groups.
    ``groups`` maps speaker -> group id (speakers missing from it form their own group).
    """
    groups = dict(groups or {})
    speakers = sorted({u.speaker for u in utterances})
    group_of = {s: groups.get(s, s) for s in speakers}
    members: dict[str, list[str]] = {}
    for s in speakers:
        members.setdefault(group_of[s], []).append(s)
    forced = {group_of[s] for s in test_speakers if s in group_of}
    rest = sorted(g for g in members if g not in forced)
    random.Random(seed).shuffle(rest)

    assign: dict[str, str] = {g: "test" for g in forced}
    n_spk = len(speakers)
    want = {"test": round(test_fraction * n_spk), "dev": round(dev_fraction * n_spk)}
    have = {"test": sum(len(members[g]) for g in forced), "dev": 0}
    for split in ("dev", "test"):
        if (dev_fraction if split == "dev" else test_fraction) > 0 and len(members) >= 3:
            want[split] = max(want[split], 1)
    for g in rest:
        split = next((s for s in ("test", "dev") if have[s] < want[s]), "train")
        if split != "train" and not any(v == "train" for v in assign.values()) and g == rest[-1]:
            split = "train"  # never leave train empty
        assign[g] = split
        if split != "train":
            have[split] += len(members[g])
    out: dict[str, list[Utterance]] = {"train": [], "dev": [], "test": []}
    for u in utterances:
        out[assign[group_of[u.speaker]]].append(u)
    return out


def first_per_speaker(utts: Iterable[Utterance], n: int) -> list[Utterance]:
    """The first ``n`` utterances of every speaker, in manifest order."""
    count: dict[str, int] = {}
    out = []
    for u in utts:
        if count.get(u.speaker, 0) < n:
            count[u.speaker] = count.get(u.speaker, 0) + 1
            out.append(u)
    return out


def tokenizer_info(manifest: str | os.PathLike) -> dict:
    """The ``tokenizer.json`` that ``dualtts extract-tokens`` writes next to a token manifest (codebook sizes,
    frame rate), or {} when there is none."""
    p = Path(manifest).parent / "tokenizer.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


def load_codes(manifest: str | os.PathLike, u: Utterance) -> np.ndarray:
    """codes ``[Q, F]`` int64 of a token-manifest row (its ``codes`` path is relative to the manifest's folder)."""
    if not u.extra.get("codes"):
        raise ValueError(f"{manifest}: utterance {u.id} has no 'codes' (run dualtts extract-tokens first)")
    p = Path(u.extra["codes"])
    p = p if p.is_absolute() else Path(manifest).parent / p
    try:
        codes = np.load(p, allow_pickle=False)
    except FileNotFoundError:
        raise ManifestError(f"{manifest}: utterance {u.id}: codes file {p} not found (run dualtts extract-tokens again)") from None
    except (OSError, ValueError, EOFError) as e:  # truncated, empty, not .npy, pickled
        raise ManifestError(f"{manifest}: utterance {u.id}: codes file {p} is unreadable ({' '.join(str(e).split()) or type(e).__name__}); "
                            "run dualtts extract-tokens again") from None
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
        raise ManifestError(f"{manifest}: utterance {u.id}: codes file {p} holds {codes.dtype} {list(codes.shape)}, "
                            "expected integer codes [layers, frames]")
    return codes.astype(np.int64)


def read_codes(manifest: str | os.PathLike) -> tuple[list[Utterance], list[np.ndarray]]:
    """Every row of a token manifest and its codes ``[Q, F]`` int64 (a manifest with no rows is an error)."""
    utts = read_manifest(manifest)
    if not utts:
        raise ValueError(f"{manifest}: no utterances")
    return utts, [load_codes(manifest, u) for u in utts]
