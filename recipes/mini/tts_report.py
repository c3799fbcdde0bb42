"""Collect the mini TTS-stage runs (recipes/mini/tts.sh) into tts_results.{md,json} and tts_curves.png.

    python recipes/mini/tts_report.py --runs exp/mini --out recipes/mini
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from dualtts.evaluate import paired_bootstrap
from report import _jsonl  # recipes/mini/report.py (the codec report)

ROWS = [  # (evaluation file, what was decoded)
    ("eval-ground-truth.json", "ground-truth audio"),
    ("eval-codec-qall.json", "true tokens, all 8 layers (codec resynthesis)"),
    ("eval-codec-q1.json", "true first-layer tokens, semantic-only decoding"),
    ("eval-flow-gt-tdev.json", "true first-layer tokens + flow (3 s prompt), noise temperature {T} (chosen on dev)"),
    ("eval-lm-q1.json", "LM tokens, semantic-only decoding"),
    ("eval-lm-flow.json", "LM tokens + flow, noise temperature {T} (whole pipeline)"),
]


PAIRED = [  # (system, baseline): is the system above the baseline clip by clip?
    ("eval-flow-gt-tdev.json", "eval-codec-q1.json"),
    ("eval-codec-qall.json", "eval-codec-q1.json"),
    ("eval-lm-flow.json", "eval-lm-q1.json"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="exp/mini")
    ap.add_argument("--out", default="recipes/mini")
    a = ap.parse_args()
    runs, out = Path(a.runs), Path(a.out)
    dev = runs / "tts-eval" / "dev"
    chosen = json.loads((dev / "chosen.json").read_text())["temperature"] if (dev / "chosen.json").is_file() else "?"
    labels = {name: what.format(T=chosen) for name, what in ROWS}
    rows = []
    for name, what in labels.items():
        f = runs / "tts-eval" / name
        if f.is_file():
            o = json.loads(f.read_text())["overall"]
            rows.append({"decoded": what, "n": o["n"], **{k: o.get(k) for k in ("wer", "nll", "sim", "stoi")}})
    cols = ["decoded", "n", "wer", "nll", "sim", "stoi"]
    fmt = lambda v: "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    comparisons = []
    for a_name, b_name in PAIRED:
        fa, fb = runs / "tts-eval" / a_name, runs / "tts-eval" / b_name
        if fa.is_file() and fb.is_file():
            ia, ib = json.loads(fa.read_text())["items"], json.loads(fb.read_text())["items"]
            for m in ("sim", "stoi"):
                c = paired_bootstrap(ia, ib, m)
                if c:
                    comparisons.append({"system": labels[a_name], "baseline": labels[b_name], "metric": m, **c})
    if comparisons:
        md += ["", "Paired per clip (system − baseline on the same clips; 95 % bootstrap CI of the mean; clips where the system is higher):",
               "", "| system | baseline | metric | mean difference | 95 % CI | higher on |", "|---|---|---|---|---|---|"]
        md += [f"| {c['system']} | {c['baseline']} | {c['metric']} | {c['mean']:+.3f} | [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] "
               f"| {c['wins']}/{c['n']} |" for c in comparisons]
    sweep = []
    for f in sorted(dev.glob("eval-flow-t*.json"), key=lambda f: -float(f.stem.split("-t")[-1])):
        o = json.loads(f.read_text())["overall"]
        sweep.append({"temperature": float(f.stem.split("-t")[-1]), "n": o["n"], "sim": o.get("sim"), "stoi": o.get("stoi")})
    if sweep:
        md += ["", f"Flow noise temperature on the dev speakers (true first-layer tokens, {sweep[0]['n']} clips): "
               + ", ".join(f"{r['temperature']}: SIM {r['sim']:.3f} / STOI {r['stoi']:.3f}" for r in sweep)
               + f"; chosen {chosen}."]
        refs = {n: json.loads((dev / f"eval-codec-{n}.json").read_text())["overall"] for n in ("q1", "qall")
                if (dev / f"eval-codec-{n}.json").is_file()}
        if refs:
            md[-1] += " The same dev clips decoded " + ", ".join(
                f"{'semantic-only' if n == 'q1' else 'from all true layers'}: SIM {o['sim']:.3f} / STOI {o['stoi']:.3f}"
                for n, o in refs.items()) + "."
    lm_val, flow_val = _jsonl(runs / "lm-12hz" / "validation.jsonl"), _jsonl(runs / "flow-12hz" / "validation.jsonl")
    md += ["", f"LM validation (step, loss, top-1 acc): {[(r['step'], round(r['loss'], 3), round(r['acc'], 3)) for r in lm_val]}",
           f"flow validation (step, latent loss, mel, sim): "
           f"{[(r['step'], round(r['loss'], 3), round(r.get('mel', float('nan')), 3), round(r.get('sim', float('nan')), 3)) for r in flow_val]}"]
    (out / "tts_results.md").write_text("\n".join(md) + "\n")
    (out / "tts_results.json").write_text(json.dumps({"rows": rows, "paired": comparisons, "dev_temperature": sweep, "temperature": chosen, "lm_validation": lm_val, "flow_validation": flow_val}, indent=1))
    print("\n".join(md))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    lm_log, flow_log = _jsonl(runs / "lm-12hz" / "train_log.jsonl"), _jsonl(runs / "flow-12hz" / "train_log.jsonl")
    if lm_log:
        ax[0].plot([r["step"] for r in lm_log], [r["acc"] for r in lm_log], label="train top-1 acc")
    if lm_val:
        ax[0].plot([r["step"] for r in lm_val], [r["acc"] for r in lm_val], "o-", label="validation top-1 acc")
    ax[0].set_title("semantic LM (tiny)")
    if flow_log:
        ax[1].plot([r["step"] for r in flow_log], [r["loss"] for r in flow_log], label="train")
    if flow_val:
        ax[1].plot([r["step"] for r in flow_val], [r["loss"] for r in flow_val], "o-", label="validation (t = .25/.5/.75)")
        ax[2].plot([r["step"] for r in flow_val], [r.get("sim") for r in flow_val], "o-", label="speaker similarity")
        ax[2].plot([r["step"] for r in flow_val], [r.get("mel") for r in flow_val], "s-", label="mel distance")
    ax[1].set_title("flow (tiny): flow-matching loss")
    ax[2].set_title("flow: decoded validation utterances")
    for x in ax:
        x.set_xlabel("step")
        x.legend()
    fig.tight_layout()
    fig.savefig(out / "tts_curves.png", dpi=100)


if __name__ == "__main__":
    main()
