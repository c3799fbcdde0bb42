"""Make the best-of-N setting that meets the targets of recipes/bench/e2e_tradeoff.json the model's default.

    python recipes/bench/set_default.py --tradeoff recipes/bench/e2e_tradeoff.json \\
        --model recipes/mini/checkpoints/dualtts-mini --results recipes/mini/results.json

Of the settings that meet every target (RTF, time to first audio, held-out WER), the one with the lowest held-out WER
(then the fastest) goes into the model folder's bundle.json (``candidates``, and ``good_enough`` + ``round_size`` for
rounds; Synthesizer reads them) and into results.json as ``default_sampling``. When none meets them, nothing changes
and it says so (exit 1).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dualtts.data.atomic import write_text_atomic  # noqa: E402

KEEP = ("setting", "candidates", "good_enough", "round_size", "mean_candidates_held_out", "wer_held_out",
        "wer_held_out_ci", "rtf", "ttfa_s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tradeoff", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--results", default=None)
    a = ap.parse_args(argv)
    d = json.loads(Path(a.tradeoff).read_text())
    ok = [r for r in d["settings"] if r.get("meets_targets")]
    if not ok:
        print(f"no setting meets the targets {d['targets']}: the model's default is unchanged", file=sys.stderr)
        return 1
    best = min(ok, key=lambda r: (r["wer_held_out"], r["rtf"]))
    bpath = Path(a.model) / "bundle.json"
    b = json.loads(bpath.read_text())
    b["candidates"] = int(best["candidates"])
    for k in ("good_enough", "round_size"):
        b.pop(k, None)
        if best.get("good_enough") is not None:
            b[k] = best[k]
    b["candidates_source"] = f"recipes/bench/set_default.py: {best['setting']} of {a.tradeoff}"
    write_text_atomic(bpath, json.dumps(b, indent=1))
    row = {k: best.get(k) for k in KEEP} | {"source": a.tradeoff}
    if a.results:
        res = json.loads(Path(a.results).read_text())
        res["default_sampling"] = row
        write_text_atomic(Path(a.results), json.dumps(res, indent=1))
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
