"""WER against speed for each best-of-N setting (issue "Real time by default"): one chart and one JSON.

    python recipes/bench/best_of_tradeoff.py ... --out exp/tradeoff          # WER on the 102 held-out clips per setting
    python recipes/bench/e2e_tradeoff.py --tradeoff exp/tradeoff/tradeoff.json --out-dir recipes/bench

For every setting of the trade-off file (best of N; rounds of R stopping at a reader score), this measures
- the streaming RTF and time to first audio of ``dualtts bench``'s end-to-end measurement (the model's default voice,
  the bench sentences, ``--threads`` torch threads, each setting in a fresh process);
- the WER on the first ``--natural`` sentences of recipes/mini/generalize/natural_test.txt in the default voice
  (audio kept under ``--work``; reused when present).
Writes OUT_DIR/e2e_tradeoff.json and e2e_tradeoff.png (WER against RTF, the targets drawn) and puts the rows into
OUT_DIR/e2e_speed.json as ``settings`` (``dualtts bench --parts e2e`` keeps them).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from dualtts.bench import measure_e2e  # noqa: E402
from dualtts.bench_timing import machine, run_isolated  # noqa: E402
from dualtts.data.atomic import write_text_atomic  # noqa: E402

TARGETS = {"rtf": 0.5, "ttfa_s": 1.0, "wer_held_out": 0.467}


def sampling_of(row: dict) -> dict:
    """Synthesizer settings of a trade-off row."""
    kw = {"candidates": int(row["candidates"])}
    if row.get("good_enough") is not None:
        kw.update(good_enough=float(row["good_enough"]), round_size=int(row["round_size"]))
    return kw


def natural_wer(model: str, sampling: dict, n: int, work: Path) -> dict:
    """WER of the first ``n`` natural test sentences said in the default voice with ``sampling``."""
    sys.path.insert(0, str(ROOT / "recipes" / "mini"))
    import generalize_eval as ge
    from dualtts import Synthesizer
    from dualtts.evaluate import bootstrap_ci, evaluate

    items = [{"id": f"n{i:04d}", "text": t} for i, t in enumerate(ge.natural_sentences(ge.NATURAL, 100)[:n])]
    if not all((work / f"{it['id']}.wav").is_file() for it in items):
        ge.synthesize_all(Synthesizer.from_pretrained(model), items, work, f"natural {work.name}", **sampling)
    ref = ge.write_manifest([{**it, "audio": "", "speaker": "default"} for it in items], work.parent / f"{work.name}_ref.jsonl")
    ev = evaluate(ref, work, metrics=("wer",))
    return {"wer": ev["overall"]["wer"], "wer_ci": bootstrap_ci(ev["items"], "wer"), "n": ev["n"]}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, mark, label in (("wer_held_out", "o", "102 held-out engine clips"), ("wer_natural", "s", "natural sentences")):
        pts = [(r["rtf"], r[key], r["setting"]) for r in rows if r.get(key) is not None and r.get("rtf") is not None]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=mark, label=label)
            for x, y, name in pts:
                ax.annotate(name.replace("best_of_", "N=").replace("rounds_", "r"), (x, y), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
    ax.axvline(TARGETS["rtf"], ls="--", c="gray", lw=1)
    ax.axhline(TARGETS["wer_held_out"], ls=":", c="gray", lw=1)
    ax.set_xlabel("streaming RTF (2 CPU threads; lower is faster)")
    ax.set_ylabel("WER (Whisper base)")
    ax.set_title("Best-of-N settings: WER against speed (targets dashed/dotted)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tradeoff", required=True, help="tradeoff.json of best_of_tradeoff.py (the 102 held-out clips)")
    ap.add_argument("--model", default=None, help="model folder (default: the trade-off file's)")
    ap.add_argument("--sentences", default="1,4", help="bench sentences per streaming measurement (comma list)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--natural", type=int, default=50, help="natural sentences scored per setting (0: none)")
    ap.add_argument("--work", default="exp/e2e-tradeoff", help="natural-sentence audio per setting")
    ap.add_argument("--only", default="", help="comma list of settings to measure (default: all)")
    ap.add_argument("--out-dir", default=str(ROOT / "recipes" / "bench"))
    a = ap.parse_args(argv)
    tr = json.loads(Path(a.tradeoff).read_text())
    model = a.model or tr["model"]
    only = {x for x in a.only.split(",") if x}
    rows = []
    for name, row in tr["settings"].items():
        if only and name not in only:
            continue
        kw = sampling_of(row)
        timing = [run_isolated(measure_e2e, a.threads, model, int(n), "cpu", a.repeats, 16, 1, kw)
                  for n in a.sentences.split(",")]
        ok = [t for t in timing if "rtf" in t]
        r = {"setting": name, **kw, "mean_candidates_held_out": row.get("mean_candidates"), "wer_held_out": row["wer"],
             "wer_held_out_ci": row.get("wer_ci"), "wer_held_out_minus_best_of_max": row.get("minus_best_of_max"),
             "rtf": round(sum(t["wall_s"] for t in ok) / sum(t["audio_s"] for t in ok), 4) if ok else None,
             "ttfa_s": round(statistics.median(t["ttfa_s"] for t in ok), 3) if ok else None, "by_length": timing}
        if a.natural:
            nat = natural_wer(model, kw, a.natural, Path(a.work) / name)
            r.update(wer_natural=nat["wer"], wer_natural_ci=nat["wer_ci"], natural_n=nat["n"])
        r["meets_targets"] = bool(r["rtf"] is not None and r["rtf"] <= TARGETS["rtf"] and r["ttfa_s"] <= TARGETS["ttfa_s"]
                                  and r["wer_held_out"] <= TARGETS["wer_held_out"])
        print(json.dumps({k: v for k, v in r.items() if k != "by_length"}), flush=True)
        rows.append(r)
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = {"model": str(Path(model).resolve().relative_to(ROOT)) if Path(model).resolve().is_relative_to(ROOT) else model,
              "targets": TARGETS, "machine": machine(a.threads, full=True), "held_out_clips": tr.get("clips"),
              "tradeoff": a.tradeoff, "mode": "streaming, the default voice, 16 steps; rtf: wall / audio over "
              f"sentences {a.sentences}; ttfa_s: median", "settings": rows}
    write_text_atomic(out / "e2e_tradeoff.json", json.dumps(report, indent=1))
    plot(rows, out / "e2e_tradeoff.png")
    speed = out / "e2e_speed.json"
    d = json.loads(speed.read_text()) if speed.is_file() else {}
    d["settings"] = [{k: v for k, v in r.items() if k != "by_length"} for r in rows]
    write_text_atomic(speed, json.dumps(d, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
