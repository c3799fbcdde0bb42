"""``dualtts make-corpus | prepare | phonemize``: corpora and manifests."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dualtts.data.corpora import download_libritts, read_csv_folder, read_hf_dataset, read_libritts
from dualtts.data.corpora.libritts import LIBRITTS_R_URL, LIBRITTS_URL, SUBSETS
from dualtts.data.corpus_maker import available_voices, CorpusSpec, engine_available, ENGINES, make_corpus
from dualtts.data.corpus_maker.engines import INSTALL_HINT
from dualtts.data.prepare import prepare_manifests
from dualtts.data.text import Phonemizer
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
                      text=a.text, generated=a.generated, heldout_sentences=a.heldout_sentences, text_file=a.text_file, layout=a.layout,
                      dev_speakers=(1 if a.layout == "libritts" else 0) if a.dev_speakers is None else a.dev_speakers)
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
        from dualtts.data.atomic import write_text_atomic

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
    if a.split_by == "subset" and a.kind != "libritts":
        raise SystemExit("error: --split-by subset needs --kind libritts (the subset folders)")
    sizes = prepare_manifests(utts, a.out, corpus_root=root, language=a.language, dev_fraction=a.dev_fraction,
                              test_fraction=a.test_fraction, seed=a.seed, split_by=a.split_by)
    print(json.dumps({"out": a.out, **sizes, "skipped": len(skipped)}))
    return 0


def cmd_download(a) -> int:
    """LibriTTS or LibriTTS-R subsets from openslr into OUT/LibriTTS or OUT/LibriTTS_R. A subset is skipped when
    a previous download finished it, or when its folder is there and no archive of ours lies beside it (a copy
    the user put there): an unpacking that was cut off is done again."""
    bad = [s for s in a.subsets if s not in SUBSETS]
    if bad:
        raise ValueError(f"unknown subset(s) {', '.join(bad)}: expected some of {', '.join(SUBSETS)}")
    r = a.corpus == "libritts-r"
    out = Path(a.out)
    root = out / ("LibriTTS_R" if r else "LibriTTS")
    present, todo = [], []
    for s in a.subsets:
        name = s.replace("-", "_") if r else s  # LibriTTS-R's archives: train_clean_100.tar.gz
        done = (out / f".{name}.done").exists() or ((root / s).is_dir() and not (out / f"{name}.tar.gz").exists())
        (present if done else todo).append(s)
    for s in todo:
        print(f"downloading {a.corpus} {s} -> {root / s}", file=sys.stderr)
        download_libritts([s.replace("-", "_") if r else s], out, base_url=LIBRITTS_R_URL if r else LIBRITTS_URL)
    print(json.dumps({"root": str(root), "downloaded": todo, "present": present}))
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
    m.add_argument("--text", choices=["harvard", "mixed", "varied"], default="harvard",
                   help="sentences: the Harvard list; Harvard plus --generated grammar sentences (mixed); or Harvard plus "
                        "--generated sentences, half grammar and half free word order over ~970 common words and names (varied)")
    m.add_argument("--generated", type=int, default=0, help="sentences added by --text mixed or varied")
    m.add_argument("--text-file", default=None,
                   help="training speakers say these sentences (one per line, e.g. recipes/mini/generalize/natural_text.py's "
                        "output) instead of --text; held-out speakers say only --heldout-sentences Harvard ones (none if 0)")
    m.add_argument("--heldout-sentences", type=int, default=0,
                   help="Harvard sentences said only by the held-out speakers (test text unseen in training)")
    m.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    m.add_argument("--allow-noncommercial", action="store_true", help="also use CC-BY-NC voices (RHVoice evgeniy-eng, lyubov)")
    m.add_argument("--screen-wer", type=float, default=None, metavar="MAX_WER",
                   help="measure every voice first (ASR WER, pitch, speaker embedding); drop voices above MAX_WER "
                        "and group near-duplicate voices")
    m.add_argument("--screen-model", default="tiny.en", help="ASR model for --screen-wer (tiny.en, base, a folder)")
    m.add_argument("--layout", choices=["synth", "libritts"], default="synth",
                   help="subset folders: synth (train-synth, test-synth) or libritts (train-clean-100, dev-clean, "
                        "test-clean: the held-out speakers), e.g. to dry-run recipes/libritts/run.sh")
    m.add_argument("--dev-speakers", type=int, default=None, help="--layout libritts: speakers in dev-clean (default 1)")
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
    pr.add_argument("--split-by", choices=["speaker", "subset"], default="speaker",
                    help="speaker: speaker-disjoint random splits (the fractions above); subset: LibriTTS's own, "
                         "test-* folders -> test, dev-* -> dev, the rest -> train")
    pr.set_defaults(func=cmd_prepare)

    d = sub.add_parser("download", help="download LibriTTS or LibriTTS-R subsets from openslr (resumable)")
    d.add_argument("--corpus", choices=["libritts", "libritts-r"], default="libritts")
    d.add_argument("--subsets", type=csv_list, default=["dev-clean", "test-clean", "train-clean-100"],
                   help=f"comma list from {','.join(SUBSETS)}")
    d.add_argument("--out", required=True, help="folder to hold LibriTTS/ (or LibriTTS_R/)")
    d.set_defaults(func=cmd_download)

    ph = sub.add_parser("phonemize", help="print the phoneme string of each text")
    ph.add_argument("text", nargs="+")
    ph.add_argument("--language", default="en-us")
    ph.set_defaults(func=cmd_phonemize)
