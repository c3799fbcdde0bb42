"""A plain folder of audio with a CSV of ``path,text[,speaker]`` (header optional).

Paths are relative to the CSV's folder (or absolute). Without a speaker column every file's
parent folder name is its speaker.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from dualtts.data.audio import audio_info
from dualtts.data.manifest import Utterance


def read_csv_folder(csv_path: str | os.PathLike) -> list[Utterance]:
    """Read the CSV; a missing or unreadable audio file raises AudioError naming it."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: CSV not found")
    with open(csv_path, encoding="utf-8", newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "text"]:
        rows = rows[1:]
    out, seen = [], set()
    for n, row in enumerate(rows, 1):
        if len(row) < 2 or not row[1].strip():
            raise ValueError(f"{csv_path}: row {n}: expected path,text[,speaker], got {row!r}")
        path = Path(row[0].strip())
        path = path if path.is_absolute() else (csv_path.parent / path)
        sr, frames, _ = audio_info(path)
        speaker = row[2].strip() if len(row) > 2 and row[2].strip() else path.parent.name
        uid = path.stem if path.stem not in seen else f"{speaker}_{path.stem}_{n}"
        seen.add(uid)
        out.append(Utterance(id=uid, audio=str(path.resolve()), duration=round(frames / sr, 4), speaker=speaker, text=row[1].strip()))
    if not out:
        raise ValueError(f"{csv_path}: no rows")
    return out
