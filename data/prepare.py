"""Corpus -> phonemized, speaker-disjoint JSONL manifests (``train.jsonl dev.jsonl test.jsonl``).

Used by ``dualtts prepare``. For a corpus made by the offline corpus maker, its ``SPEAKERS.tsv``
decides the test speakers (held-out flag) and the voice groups kept together.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from tqdm import tqdm

from data.corpus_maker.maker import read_speakers_table
from data.manifest import Utterance, split_by_speaker, write_manifest
from data.text import Phonemizer, SymbolTable


def phonemize_all(utts: list[Utterance], language: str = "en-us", batch: int = 256) -> list[Utterance]:
    """Fill ``phonemes`` in place (batched espeak-ng calls, progress bar)."""
    ph = Phonemizer(language)
    for i in tqdm(range(0, len(utts), batch), desc="phonemizing", unit="batch", file=sys.stderr, disable=None):
        chunk = utts[i : i + batch]
        for u, p in zip(chunk, ph.batch([u.text for u in chunk], sources=[u.audio for u in chunk])):
            u.phonemes = p
    return utts


def prepare_manifests(
    utts: list[Utterance],
    out_dir: str | os.PathLike,
    corpus_root: str | os.PathLike | None = None,
    language: str = "en-us",
    dev_fraction: float = 0.05,
    test_fraction: float = 0.05,
    seed: int = 0,
) -> dict[str, int]:
    """Phonemize, split by speaker and write manifests plus ``symbols.json``. Returns split sizes."""
    out_dir = Path(out_dir)
    phonemize_all(utts, language)
    test_speakers, groups = [], None
    table = Path(corpus_root, "SPEAKERS.tsv") if corpus_root else None
    if table is not None and table.is_file():
        rows = read_speakers_table(table)
        test_speakers = [r["speaker"] for r in rows if r.get("heldout") == "1"]
        groups = {r["speaker"]: r["group"] for r in rows}
        test_fraction = 0.0 if test_speakers else test_fraction
    splits = split_by_speaker(utts, dev_fraction, test_fraction, seed, test_speakers, groups)
    for name, rows in splits.items():
        write_manifest(out_dir / f"{name}.jsonl", rows)
    SymbolTable.build(u.phonemes for u in utts).save(out_dir / "symbols.json")
    return {k: len(v) for k, v in splits.items()}
