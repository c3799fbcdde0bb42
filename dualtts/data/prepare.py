"""Corpus -> phonemized, speaker-disjoint JSONL manifests (``train.jsonl dev.jsonl test.jsonl``).

Used by ``dualtts prepare``. For a corpus made by the offline corpus maker, its ``SPEAKERS.tsv``
decides the test speakers (held-out flag) and the voice groups kept together.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from tqdm import tqdm

from dualtts.data.corpus_maker.maker import read_speakers_table
from dualtts.data.manifest import Utterance, split_by_speaker, write_manifest
from dualtts.data.text import Phonemizer, SymbolTable


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
    split_by: str = "speaker",
) -> dict[str, int]:
    """Phonemize, split and write manifests plus ``symbols.json``. Returns split sizes.

    ``split_by``: ``speaker`` (speaker-disjoint random splits of the given fractions) or ``subset``
    (LibriTTS's own: utterances of ``test-*`` subset folders -> test, ``dev-*`` -> dev, the rest -> train)."""
    out_dir = Path(out_dir)
    if split_by not in ("speaker", "subset"):
        raise ValueError(f"split_by {split_by!r}: expected speaker or subset")
    if split_by == "subset":
        missing = [u.id for u in utts if "subset" not in u.extra]
        if missing:
            raise ValueError(f"split by subset: {len(missing)} utterance(s) have no subset (e.g. {missing[0]}); "
                             "read them with the LibriTTS reader")
        if not any(_subset_split(u.extra["subset"]) == "train" for u in utts):
            raise ValueError("split by subset: no training subset (every folder is test-* or dev-*)")
    phonemize_all(utts, language)
    if split_by == "subset":
        splits: dict[str, list[Utterance]] = {"train": [], "dev": [], "test": []}
        for u in utts:
            splits[_subset_split(u.extra["subset"])].append(u)
        return _write(splits, utts, out_dir)
    test_speakers, groups = [], None
    table = Path(corpus_root, "SPEAKERS.tsv") if corpus_root else None
    if table is not None and table.is_file():
        rows = read_speakers_table(table)
        test_speakers = [r["speaker"] for r in rows if r.get("heldout") == "1"]
        groups = {r["speaker"]: r["group"] for r in rows}
        test_fraction = 0.0 if test_speakers else test_fraction
    splits = split_by_speaker(utts, dev_fraction, test_fraction, seed, test_speakers, groups)
    return _write(splits, utts, out_dir)


def _subset_split(subset: str) -> str:
    return "test" if subset.startswith("test") else "dev" if subset.startswith("dev") else "train"


def _write(splits: dict[str, list[Utterance]], utts: list[Utterance], out_dir: Path) -> dict[str, int]:
    for name, rows in splits.items():
        write_manifest(out_dir / f"{name}.jsonl", rows)
    SymbolTable.build(u.phonemes for u in utts).save(out_dir / "symbols.json")
    return {k: len(v) for k, v in splits.items()}
