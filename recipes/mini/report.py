"""Collect the mini codec runs into a table (codec_results.md / .json) and loss curves (loss_curves.png).

    python recipes/mini/report.py --runs exp/mini --out recipes/mini [--name codec_results --curves loss_curves]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()] if path.is_file() else []


def _runs(root: Path) -> list[Path]:
    return [r for r in sorted(root.glob("codec-*")) if r.is_dir() and not r.name.endswith("-init")]


def _segments(log: list[dict]) -> list[dict]:
    """The last log line of each training process (wall_s restarts at 0 on resume)."""
    return [r for i, r in enumerate(log) if i + 1 == len(log) or log[i + 1]["wall_s"] < r["wall_s"]]


def decode_rtf(checkpoint: Path, seconds: float = 10.0, repeats: int = 3) -> float:
    """Real-time factor of decoding all layers of ``seconds`` of audio (batch 1, 2 threads, median of ``repeats``)."""
    import sys

    import torch

    from dualtts.codec import DualCodec

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from common import median_time  # the benchmarks' timing

    torch.set_num_threads(2)
    codec = DualCodec.from_pretrained(checkpoint).eval()
    frames = int(seconds * codec.frame_rate)
    codes = torch.stack([torch.randint(0, n, (1, frames)) for n in codec.codebook_sizes], dim=1)  # [1, Q, F]
    return round(median_time(lambda: codec.decode(codes), repeats) / seconds, 4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="exp/mini")
    ap.add_argument("--out", default="recipes/mini")
    ap.add_argument("--name", default="codec_results", help="table: <out>/<name>.md and .json")
    ap.add_argument("--curves", default="loss_curves", help="plot: <out>/<curves>.png")
    ap.add_argument("--decode-speed", action="store_true", help="also time each trained codec's decoder (10 s, batch 1, 2 threads)")
    a = ap.parse_args()
    runs, out = Path(a.runs), Path(a.out)
    rows = []
    gt = runs / "eval-ground-truth.json"
    if gt.is_file():
        o = json.loads(gt.read_text())["overall"]
        rows.append({"codec": "ground truth", "layers": "-", "n": o["n"], "wer": o.get("wer"), "nll": o.get("nll")})
    for run in _runs(runs):
        log = _jsonl(run / "train_log.jsonl")
        wall = sum(r["wall_s"] for r in _segments(log)) if log and "wall_s" in log[-1] else None
        speed = {"train_steps_per_s": round(log[-1]["step"] / wall, 3) if wall else None}
        if a.decode_speed:
            speed["decode_rtf"] = decode_rtf(run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip() / "codec")
        for q in ("all", "1"):
            f = run / f"eval-q{q}.json"
            if not f.is_file():
                continue
            o = json.loads(f.read_text())["overall"]
            rows.append({"codec": run.name, "layers": q if q != "all" else "all", "n": o["n"], "steps": log[-1]["step"] if log else None,
                         "train_min": round(wall / 60, 1) if wall else None, **speed, **{k: o.get(k) for k in ("wer", "nll", "stoi", "pesq", "mel", "sim")}})
    cols = ["codec", "layers", "steps", "train_min", "train_steps_per_s", "decode_rtf", "n", "wer", "nll", "stoi", "pesq", "mel", "sim"]
    cols = [c for c in cols if any(r.get(c) is not None for r in rows)]
    fmt = lambda v: "-" if v is None else (f"{v:.3f}" if isinstance(v, float) and abs(v) >= 0.1 else f"{v:.4f}" if isinstance(v, float) else str(v))
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    (out / f"{a.name}.md").write_text("\n".join(md) + "\n")
    (out / f"{a.name}.json").write_text(json.dumps(rows, indent=1))
    print("\n".join(md))

    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logs = {run.name: (_jsonl(run / "train_log.jsonl"), _jsonl(run / "validation.jsonl")) for run in _runs(runs)}
    logs = {k: v for k, v in logs.items() if v[0]}
    gan = any("d_loss" in r for log, _ in logs.values() for r in log)
    timed = bool(logs) and all(len(_segments(log)) == 1 and "wall_s" in log[-1] for log, _ in logs.values())
    panels = ["train mel loss"] + (["GAN losses"] if gan else []) + ["held-out STOI (all layers o, RVQ-1 x)"]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    for name, (log, val) in logs.items():
        steps = [r["step"] for r in log]
        # x: training minutes when every run logged its wall time in one process (equal-budget comparisons), else steps
        x = (lambda st: [float(np.interp(v, steps, [r["wall_s"] / 60 for r in log])) for v in st]) if timed else (lambda st: st)
        axes[0].plot(x(steps), [r["mel"] for r in log], label=name)
        if gan:
            axes[1].plot(x(steps), [r.get("d_loss", float("nan")) for r in log], label=f"{name} disc")
            axes[1].plot(x(steps), [r.get("adv", float("nan")) for r in log], "--", label=f"{name} adv")
        if val:
            line = axes[-1].plot(x([v["step"] for v in val]), [v.get("stoi_all") for v in val], "o-", label=name)[0]
            axes[-1].plot(x([v["step"] for v in val]), [v.get("stoi_rvq1") for v in val], "x--", color=line.get_color())
    for ax, t in zip(axes, panels):
        ax.set_title(t)
        ax.set_xlabel("training minutes" if timed else "step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"{a.curves}.png", dpi=90)


if __name__ == "__main__":
    main()
