"""``dualtts evaluate``: score generated audio against references."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from dualtts.commands.common import csv_list
from dualtts.evaluate import ALL_METRICS, DEFAULT_METRICS, evaluate, format_table, merge_reports, write_report


def cmd_evaluate(a) -> int:
    old = None
    if a.update:
        if not a.out:
            raise ValueError("--update adds metrics to the report of --out: give --out")
        if Path(a.out).is_file():
            old = json.loads(Path(a.out).read_text())
            todo = [m for m in a.metrics if m not in old["overall"]]
            if not todo:
                print(f"{a.out}: has {', '.join(a.metrics)} already")
                return 0
            a.metrics = todo
    summary = evaluate(a.ref, a.hyp, metrics=tuple(a.metrics), asr_model=a.asr_model, by=a.by, per_speaker=a.per_speaker)
    if old is not None:
        summary = merge_reports(old, summary)
    print(format_table(summary))
    if summary["missing_hypotheses"]:
        print(f"note: {summary['missing_hypotheses']} reference(s) had no hypothesis and were not scored", file=sys.stderr)
    if a.out:
        write_report(summary, a.out)
        print(f"wrote {a.out}")
    return 0


def add_parsers(sub) -> None:
    e = sub.add_parser("evaluate", help="score generated audio against references (WER, NLL, SIM, DNSMOS, PESQ, STOI, mel)")
    e.add_argument("--ref", required=True, help="reference corpus folder or JSONL manifest")
    e.add_argument("--hyp", required=True, help="folder of <id>.wav to score")
    e.add_argument("--out", help="write the full report (per item too) as JSON")
    e.add_argument("--metrics", type=csv_list, default=list(DEFAULT_METRICS),
                   help=f"comma-separated, from {','.join(ALL_METRICS)} (nll: the ASR's per-token negative log-likelihood "
                        "of the reference text, an intelligibility score that does not saturate like WER)")
    e.add_argument("--asr-model", default="base", help="base (offline default), tiny.en, a CTranslate2 folder, or a hub name")
    e.add_argument("--by", choices=["auto", "speaker", "engine"], default="auto")
    e.add_argument("--per-speaker", type=int, default=None, help="score at most N clips per speaker (seeded sample)")
    e.add_argument("--update", action="store_true",
                   help="--out holds an earlier report of the same clips: compute only the metrics it lacks and add them")
    e.set_defaults(func=cmd_evaluate)
