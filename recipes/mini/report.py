"""Collect the mini codec runs into a table (results.md / results.json) and loss curves (loss_curves.png).

    python recipes/mini/report.py --runs exp/mini --out recipes/mini [--name results --curves loss_curves]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="exp/mini")
    ap.add_argument("--out", default="recipes/mini")
    ap.add_argument("--name", default="results", help="table: <out>/<name>.md and .json")
    ap.add_argument("--curves", default="loss_curves", help="plot: <out>/<curves>.png")
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
        for q in ("all", "1"):
            f = run / f"eval-q{q}.json"
            if not f.is_file():
                continue
            o = json.loads(f.read_text())["overall"]
            rows.append({"codec": run.name, "layers": q if q != "all" else "all", "n": o["n"], "steps": log[-1]["step"] if log else None,
                         "train_min": round(wall / 60, 1) if wall else None, **{k: o.get(k) for k in ("wer", "nll", "stoi", "pesq", "mel", "sim")}})
    cols = ["codec", "layers", "steps", "train_min", "n", "wer", "nll", "stoi", "pesq", "mel", "sim"]
    fmt = lambda v: "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    (out / f"{a.name}.md").write_text("\n".join(md) + "\n")
    (out / f"{a.name}.json").write_text(json.dumps(rows, indent=1))
    print("\n".join(md))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for run in _runs(runs):
        log, val = _jsonl(run / "train_log.jsonl"), _jsonl(run / "validation.jsonl")
        if not log:
            continue
        steps = [r["step"] for r in log]
        axes[0].plot(steps, [r["mel"] for r in log], label=f"{run.name} mel")
        axes[1].plot(steps, [r.get("d_loss", float("nan")) for r in log], label=f"{run.name} disc")
        axes[1].plot(steps, [r.get("adv", float("nan")) for r in log], "--", label=f"{run.name} adv")
        if val:
            axes[2].plot([v["step"] for v in val], [v.get("stoi_all") for v in val], "o-", label=f"{run.name} STOI all")
            axes[2].plot([v["step"] for v in val], [v.get("stoi_rvq1") for v in val], "x--", label=f"{run.name} STOI RVQ-1")
    for ax, t in zip(axes, ("train mel loss", "GAN losses", "held-out STOI")):
        ax.set_title(t)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"{a.curves}.png", dpi=90)


if __name__ == "__main__":
    main()
