"""``dualtts make-corpus | prepare | phonemize``: corpora and manifests."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from data.corpora import read_csv_folder, read_hf_dataset, read_libritts
from data.corpus_maker import available_voices, CorpusSpec, engine_available, ENGINES, make_corpus
from data.corpus_maker.engines import INSTALL_HINT
from data.prepare import prepare_manifests
from data.text import Phonemizer
from dualtts.commands.common import csv_list


def _speakers(s: str) -> int:
    if s == "all":
        return 0
    n = int(s)
    if n < 1:
        raise argparse.ArgumentTypeError("must be >= 1 or 'all'")
    return n


def cmd_make_corpus(a) -> int:
    if a.list_engines:
        voices = available_voices(None, a.allow_noncommercial)
        for e in ENGINES:
            vs = [v.key.split(":", 1)[1] for v in voices if v.engine == e]
            state = f"{len(vs)} voice(s): {', '.join(vs)}" if engine_available(e) and vs else f"missing — {INSTALL_HINT[e]}"
            print(f"{e:10s} {state}")
        return 0
    if a.out is None:
        raise SystemExit("error: --out is required")
    spec = CorpusSpec(out=Path(a.out), speakers=a.speakers, utterances=a.utterances, engines=a.engines,
                      holdout=a.holdout, seed=a.seed, jobs=a.jobs, allow_noncommercial=a.allow_noncommercial,
                      text=a.text, generated=a.generated, heldout_sentences=a.heldout_sentences)
    if a.screen_wer is not None:
        from dualtts.voices import regroup, screen_voices

        voices = available_voices(a.engines, a.allow_noncommercial)
        rows = screen_voices(voices, asr_model=a.screen_model)
        bad = {r["key"] for r in rows if not r["wer"] <= a.screen_wer}
        voices, merged = regroup([v for v in voices if v.key not in bad], [r for r in rows if r["key"] not in bad])
        for r in rows:
            flag = "DROPPED" if r["key"] in bad else "ok"
            print(f"voice {r['key']:34s} WER {r['wer']:.2f}  f0 {r['f0_hz']:6.1f} Hz  {flag}")
        for x, y, c in merged:
            print(f"near-duplicate voices {x} ~ {y} (cosine {c}): kept in one group")
        spec.voices = voices
        report = [{k: v for k, v in r.items() if k != "embedding"} for r in rows]
        Path(a.out).mkdir(parents=True, exist_ok=True)
        from data.atomic import write_text_atomic

        write_text_atomic(Path(a.out) / "voice_screen.json", json.dumps(report, indent=1))
    summary = make_corpus(spec)
    print(json.dumps(summary))
    return 0


def cmd_prepare(a) -> int:
    skipped: list[str] = []
    if a.kind == "libritts":
        utts = read_libritts(a.corpus, subsets=a.subsets, skipped=skipped)
    elif a.kind == "csv":
        utts = read_csv_folder(a.corpus)
    else:
        utts = read_hf_dataset(a.corpus, Path(a.out) / "audio", split=a.split, limit=a.limit)
    for s in skipped[:20]:
        print(f"skipped: {s}", file=sys.stderr)
    root = a.corpus if a.kind == "libritts" else None
    sizes = prepare_manifests(utts, a.out, corpus_root=root, language=a.language, dev_fraction=a.dev_fraction,
                              test_fraction=a.test_fraction, seed=a.seed)
    print(json.dumps({"out": a.out, **sizes, "skipped": len(skipped)}))
    return 0


def cmd_phonemize(a) -> int:
    ph = Phonemizer(a.language)
    for t in a.text:
        print(ph(t))
    return 0


def add_parsers(sub) -> None:
    m = sub.add_parser("make-corpus", help="synthesize an offline LibriTTS-shaped corpus from installed TTS voices")
    m.add_argument("--out", help="output folder")
    m.add_argument("--speakers", type=_speakers, default=30, help="number of speakers (one per voice), or 'all'")
    m.add_argument("--utterances", type=int, default=20, help="utterances per speaker")
    m.add_argument("--engines", type=csv_list, default=None, help="comma list (default: every installed engine)")
    m.add_argument("--holdout", type=int, default=4, help="held-out (test) speakers, whole voice groups spread over engines")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--text", choices=["harvard", "mixed"], default="harvard",
                   help="sentences: the Harvard list, or Harvard plus --generated grammar sentences")
    m.add_argument("--generated", type=int, default=0, help="grammar sentences added by --text mixed")
    m.add_argument("--heldout-sentences", type=int, default=0,
                   help="Harvard sentences said only by the held-out speakers (test text unseen in training)")
    m.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    m.add_argument("--allow-noncommercial", action="store_true", help="also use CC-BY-NC voices (RHVoice evgeniy-eng, lyubov)")
    m.add_argument("--screen-wer", type=float, default=None, metavar="MAX_WER",
                   help="measure every voice first (ASR WER, pitch, speaker embedding); drop voices above MAX_WER "
                        "and group near-duplicate voices")
    m.add_argument("--screen-model", default="tiny.en", help="ASR model for --screen-wer (tiny.en, base, a folder)")
    m.add_argument("--list-engines", action="store_true", help="show which engines and voices are installed, then exit")
    m.set_defaults(func=cmd_make_corpus)

    pr = sub.add_parser("prepare", help="corpus -> phonemized speaker-disjoint manifests (train/dev/test.jsonl)")
    pr.add_argument("--corpus", required=True, help="LibriTTS-style folder, CSV file, or HF dataset id / parquet path")
    pr.add_argument("--kind", choices=["libritts", "csv", "hf"], default="libritts")
    pr.add_argument("--out", required=True)
    pr.add_argument("--subsets", type=csv_list, default=None, help="LibriTTS subset folders to read")
    pr.add_argument("--split", default="train", help="HF dataset split")
    pr.add_argument("--limit", type=int, default=None, help="HF: read at most this many rows")
    pr.add_argument("--language", default="en-us")
    pr.add_argument("--dev-fraction", type=float, default=0.05)
    pr.add_argument("--test-fraction", type=float, default=0.05)
    pr.add_argument("--seed", type=int, default=0)
    pr.set_defaults(func=cmd_prepare)

    ph = sub.add_parser("phonemize", help="print the phoneme string of each text")
    ph.add_argument("text", nargs="+")
    ph.add_argument("--language", default="en-us")
    ph.set_defaults(func=cmd_phonemize)
