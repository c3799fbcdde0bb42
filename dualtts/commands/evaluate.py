"""``dualtts evaluate``: score generated audio against references."""
from __future__ import annotations

import sys

from dualtts.commands.common import csv_list
from dualtts.evaluate import ALL_METRICS, DEFAULT_METRICS, evaluate, format_table, write_report


def cmd_evaluate(a) -> int:
    summary = evaluate(a.ref, a.hyp, metrics=tuple(a.metrics), asr_model=a.asr_model, by=a.by, per_speaker=a.per_speaker)
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
    e.set_defaults(func=cmd_evaluate)
