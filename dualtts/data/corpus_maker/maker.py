"""Build a LibriTTS-shaped corpus at 24 kHz from the installed speech engines, one speaker per voice.

Layout (what :func:`data.corpora.libritts.read_libritts` reads)::

    OUT/train-synth/<speaker>/<chapter>/<speaker>_<chapter>_<nnnnnn>_000000.wav  (16-bit mono, 24 kHz)
    OUT/train-synth/<speaker>/<chapter>/<...>.normalized.txt  and  .original.txt
    OUT/test-synth/...                                                         (held-out speakers)

Or, with ``layout="libritts"``, LibriTTS's own subset names: ``OUT/train-clean-100`` (training speakers),
``OUT/dev-clean`` (``dev_speakers`` of them) and ``OUT/test-clean`` (the held-out ones), e.g. to dry-run
``recipes/libritts/run.sh``. Always::

    OUT/SPEAKERS.tsv   speaker, engine, voice, gender, accent, group, heldout, subset
    OUT/corpus.json    the settings and voices; a re-run with the same ones resumes, others are refused

Held-out speakers are whole voice groups, spread over engines.
"""
from __future__ import annotations

import csv
import io
import json
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from dualtts.data.atomic import write_text_atomic
from dualtts.data.audio import loudness_normalize, save_audio, trim_silence
from dualtts.data.corpus_maker.engines import (ENGINES, INSTALL_HINT, EngineError, Voice, available_voices, engine_available,
                                       synthesize)
from dualtts.data.corpus_maker.sentences import sentence_pool
from dualtts.data.text import normalize_text

SPEAKER_FIELDS = ("speaker", "engine", "voice", "gender", "accent", "group", "heldout", "subset")
TRAIN_SUBSET, TEST_SUBSET = "train-synth", "test-synth"
LAYOUTS = {"synth": {"train": TRAIN_SUBSET, "test": TEST_SUBSET},
           "libritts": {"train": "train-clean-100", "dev": "dev-clean", "test": "test-clean"}}
FIRST_SPEAKER_ID = 9000
CHAPTER = "1"


@dataclass
class CorpusSpec:
    out: Path
    speakers: int = 30              # 0: every usable voice
    utterances: int = 20
    engines: list[str] | None = None
    holdout: int = 4
    seed: int = 0
    sample_rate: int = 24000
    allow_noncommercial: bool = False
    jobs: int = 2
    exclude: tuple[str, ...] = ()   # voice keys to leave out (e.g. found unusable by a screen)
    voices: list[Voice] | None = None  # explicit voices (e.g. regrouped by a screen); default: all installed
    text: str = "harvard"           # harvard | mixed (Harvard + `generated` grammar sentences) | varied (+ word sentences)
    generated: int = 0              # sentences added by text="mixed" or "varied"
    heldout_sentences: int = 0      # Harvard sentences only the held-out speakers say (unseen text in test)
    layout: str = "synth"           # subset folder names: synth (train-synth, test-synth) | libritts (train-clean-100, ...)
    dev_speakers: int = 0           # layout libritts: training-voice speakers put in dev-clean instead
    text_file: str | None = None    # training speakers' sentences from this file (one per line) instead of `text`;
    #                                 held-out speakers say only the `heldout_sentences` Harvard ones (none if 0)


def read_sentences(path: str | Path) -> list[str]:
    """Distinct non-empty lines of a UTF-8 text file, in file order; ValueError naming the file if there are none."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: no such sentence file")
    lines = list(dict.fromkeys(x.strip() for x in p.read_text(encoding="utf-8").splitlines() if x.strip()))
    if not lines:
        raise ValueError(f"{p}: no sentences in the file")
    return lines


def assign_sentences(spec: CorpusSpec, rows: list[dict]) -> dict[str, list[str]]:
    """Each speaker's sentences. Held-out speakers draw only from ``heldout_sentences`` Harvard sentences
    that no training speaker says; training speakers walk through a seeded shuffle of the rest, one
    after another, so the corpus holds as many distinct sentences as it can."""
    harvard = sentence_pool("harvard")
    pool = read_sentences(spec.text_file) if spec.text_file else sentence_pool(spec.text, spec.generated, spec.seed)
    k = spec.heldout_sentences
    if k < 0 or k >= len(harvard):
        raise ValueError(f"heldout_sentences must be in [0, {len(harvard) - 1}], got {k}")
    order = list(range(len(harvard)))
    random.Random(f"{spec.seed}-heldout-sentences").shuffle(order)
    held_idx = set(order[:k])
    held = [harvard[i] for i in sorted(held_idx)]
    if spec.text_file:  # the file's sentences, less any held-out one (the file is not indexed like the Harvard pool)
        train = [s for s in pool if s not in set(held)]
    else:
        train = [s for i, s in enumerate(pool) if i not in held_idx]
    if spec.utterances > len(train):
        raise ValueError(f"at most {len(train)} utterances per speaker (the sentence pool; add generated ones with text=mixed)")
    random.Random(f"{spec.seed}-sentences").shuffle(train)
    out, pos = {}, 0
    for row in rows:
        rng = random.Random(f"{spec.seed}-{row['speaker']}")
        if row["heldout"] == "1" and held:
            out[row["speaker"]] = rng.sample(held, min(spec.utterances, len(held)))
        elif row["heldout"] == "1" and spec.text_file:  # held-out voices stay unheard: they say nothing here
            out[row["speaker"]] = []
        elif k == 0 and spec.text == "harvard":  # the original draw: corpora made before these options resume unchanged
            out[row["speaker"]] = [pool[i] for i in rng.sample(range(len(pool)), spec.utterances)]
        else:
            out[row["speaker"]] = [train[(pos + n) % len(train)] for n in range(spec.utterances)]
            pos += spec.utterances
    return out


def pick_voices(voices: list[Voice], n: int) -> list[Voice]:
    """Round-robin over engines (catalog order within an engine) so ``n`` voices span many engines."""
    by_engine: dict[str, list[Voice]] = {}
    for v in voices:
        by_engine.setdefault(v.engine, []).append(v)
    picked: list[Voice] = []
    while len(picked) < n and any(by_engine.values()):
        for e in ENGINES:
            if by_engine.get(e) and len(picked) < n:
                picked.append(by_engine[e].pop(0))
    return picked


def pick_heldout(voices: list[Voice], k: int, seed: int) -> set[str]:
    """Choose ``k`` held-out voices as whole groups, one engine after another; returns voice keys."""
    if k <= 0:
        return set()
    rng = random.Random(seed)
    groups: dict[str, list[Voice]] = {}
    for v in voices:
        groups.setdefault(v.group, []).append(v)
    if len(groups) < 2:
        raise ValueError(f"cannot hold out speakers: only {len(groups)} voice group(s) among {len(voices)} voices")
    engines = [e for e in ENGINES if any(v.engine == e for v in voices)]
    rng.shuffle(engines)
    held: set[str] = set()
    used_groups: set[str] = set()
    max_held = len(voices) - max(1, len(voices) // 2)  # keep at least half for training
    progress = True
    while len(held) < k and progress:
        progress = False
        for e in engines:
            cands = sorted({v.group for v in voices if v.engine == e} - used_groups)
            cands = [g for g in cands if len(held) + len(groups[g]) <= max_held]
            if not cands or len(held) >= k:
                continue
            g = rng.choice(cands)
            used_groups.add(g)
            held.update(v.key for v in groups[g])
            progress = True
    return held


def speaker_table(voices: list[Voice], held: set[str], layout: str = "synth", dev_speakers: int = 0) -> list[dict]:
    """One row per voice. ``dev_speakers`` (layout libritts): the last non-held-out voices go to the dev subset."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    names = LAYOUTS[layout]
    rest = [v.key for v in voices if v.key not in held]
    if dev_speakers and "dev" not in names:
        raise ValueError(f"dev speakers need a layout with a dev subset (libritts), not {layout!r}")
    if dev_speakers < 0 or (dev_speakers and dev_speakers >= len(rest)):
        raise ValueError(f"dev_speakers must be in [0, {len(rest) - 1}]: {len(rest)} voice(s) are not held out "
                         "and at least one must stay in training")
    dev = set(rest[len(rest) - dev_speakers:]) if dev_speakers else set()
    rows = []
    for i, v in enumerate(voices):
        h = v.key in held
        rows.append({
            "speaker": str(FIRST_SPEAKER_ID + i), "engine": v.engine, "voice": v.key.split(":", 1)[1],
            "gender": v.gender, "accent": v.accent, "group": v.group, "heldout": "1" if h else "0",
            "subset": names["test"] if h else names["dev"] if v.key in dev else names["train"],
        })
    return rows


def read_speakers_table(path: str | Path) -> list[dict]:
    """Read ``SPEAKERS.tsv`` written by :func:`make_corpus`."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _write_table(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SPEAKER_FIELDS, delimiter="\t", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def make_corpus(spec: CorpusSpec, log=print) -> dict:
    """Synthesize the corpus described by ``spec``; returns a summary dict.

    Missing engines are reported and skipped; asking for more speakers than installed voices
    raises ValueError naming what is missing.
    """
    missing = [e for e in (spec.engines or ENGINES) if not engine_available(e)]
    for e in missing:
        log(f"engine {e}: not installed (skipped) — to add it: {INSTALL_HINT[e]}")
    voices = spec.voices if spec.voices is not None else available_voices(spec.engines, spec.allow_noncommercial)
    voices = [v for v in voices if v.key not in set(spec.exclude)]
    if not voices:
        raise ValueError("no speech engine with voices is installed: run recipes/setup_voices.sh (or apt-get install espeak-ng)")
    n_speakers = spec.speakers or len(voices)  # 0: every usable voice
    if n_speakers > len(voices):
        raise ValueError(f"asked for {spec.speakers} speakers but only {len(voices)} voices are installed "
                         f"({', '.join(sorted({v.engine for v in voices}))}); install more with recipes/setup_voices.sh")
    voices = pick_voices(voices, n_speakers)
    held = pick_heldout(voices, spec.holdout, spec.seed)
    rows = speaker_table(voices, held, spec.layout, spec.dev_speakers)
    sentences = assign_sentences(spec, rows)
    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    recipe = {"seed": spec.seed, "utterances": spec.utterances, "sample_rate": spec.sample_rate, "speakers": rows}
    if spec.text != "harvard" or spec.heldout_sentences:
        recipe.update(text=spec.text, generated=spec.generated, heldout_sentences=spec.heldout_sentences)
    if spec.text_file:
        recipe.update(text_file=str(spec.text_file), text_file_sentences=len(read_sentences(spec.text_file)))
    if spec.layout != "synth":  # corpora made before this option resume unchanged
        recipe.update(layout=spec.layout, dev_speakers=spec.dev_speakers)
    recipe_path = out / "corpus.json"
    if recipe_path.is_file() and json.loads(recipe_path.read_text(encoding="utf-8")) != recipe:
        raise ValueError(f"{out}: holds a corpus made with other settings or voices (see {recipe_path.name}); "
                         "use a new --out folder, or the same settings to resume")
    write_text_atomic(recipe_path, json.dumps(recipe, indent=1))
    _write_table(out / "SPEAKERS.tsv", rows)

    jobs = []
    for row, v in zip(rows, voices):
        for n, text in enumerate(sentences[row["speaker"]]):
            uid = f"{row['speaker']}_{CHAPTER}_{n:06d}_000000"
            jobs.append((v, text, out / row["subset"] / row["speaker"] / CHAPTER / uid))

    def run(job):
        v, text, stem = job
        if stem.with_suffix(".wav").exists() and stem.with_suffix(".normalized.txt").exists():
            return v, None, 0.0  # resumable: keep what a previous run finished
        wav = synthesize(v, text, spec.sample_rate)
        wav = loudness_normalize(trim_silence(wav, spec.sample_rate), target_dbfs=-23.0)
        write_text_atomic(stem.with_suffix(".original.txt"), text)
        write_text_atomic(stem.with_suffix(".normalized.txt"), normalize_text(text))
        save_audio(stem.with_suffix(".wav"), wav, spec.sample_rate)  # written last: marks the item done
        return v, None, len(wav) / spec.sample_rate

    failures: list[str] = []
    seconds = 0.0
    with ThreadPoolExecutor(max(1, spec.jobs)) as pool:
        futures = [pool.submit(run, j) for j in jobs]
        for fut in tqdm(futures, desc="synthesizing", unit="utt", file=sys.stderr, disable=None):
            try:
                _, _, s = fut.result()
                seconds += s
            except EngineError as e:
                failures.append(str(e))
    for f in failures[:10]:
        log(f"failed: {f}")
    summary = {
        "out": str(out), "speakers": len(rows), "heldout": sorted(r["speaker"] for r in rows if r["heldout"] == "1"),
        "engines": sorted({v.engine for v in voices}), "utterances": len(jobs) - len(failures),
        "failed": len(failures), "new_audio_hours": round(seconds / 3600, 3), "missing_engines": missing,
    }
    log(f"corpus: {summary['speakers']} speakers from {len(summary['engines'])} engines "
        f"({', '.join(summary['engines'])}), {summary['utterances']} utterances, "
        f"{len(summary['heldout'])} held out -> {out}")
    return summary
