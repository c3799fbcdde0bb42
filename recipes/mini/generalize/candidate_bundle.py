"""The candidate model folder of recipes/mini/generalize.sh: a copy of the base model (OUT, its flow/ already folded
onto the new LM's states by fold_states.py) with the continued LM and token reader put in as fp16, and bundle.json
saying where each part came from.

    python recipes/mini/generalize/candidate_bundle.py --lm exp/generalize/lm/checkpoints/step-1000/lm \\
        --reader exp/generalize/reader/checkpoints/step-600/reader --base-commit 9bb3749 \\
        --fold exp/generalize/flow-folded/fold_states.json --out exp/generalize/bundle.tmp
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from dualtts.bundle import relative_paths  # noqa: E402
from dualtts.data.atomic import write_text_atomic  # noqa: E402
from dualtts.lm.model import SemanticLM  # noqa: E402
from dualtts.lm.reader import TokenReader  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lm", required=True)
    ap.add_argument("--reader", required=True)
    ap.add_argument("--base-commit", required=True, help="the git commit whose dualtts-mini is the base")
    ap.add_argument("--fold", required=True, help="fold_states.json of the folded flow/ (fold_states.py)")
    ap.add_argument("--out", required=True, help="the base model's copy, its flow/ folded")
    a = ap.parse_args(argv)
    out = Path(a.out)
    fold = Path(a.fold)
    if not fold.is_file():
        raise SystemExit(f"error: {fold} is missing: fold the base's flow/ onto the new LM first (fold_states.py)")
    SemanticLM.from_pretrained(a.lm).half().save_pretrained(out / "lm")
    TokenReader.from_pretrained(a.reader).half().save_pretrained(out / "reader")
    b = json.loads((out / "bundle.json").read_text(encoding="utf-8"))
    b["generalize"] = relative_paths({
        "base": f"git {a.base_commit}:recipes/mini/checkpoints/dualtts-mini (recipes/mini/speak.sh)",
        "lm": a.lm, "reader": a.reader, "recipe": "recipes/mini/generalize.sh",
        "flow": "the base's flow/, its LM-state projections folded onto the new LM (recipes/mini/generalize/fold_states.py)",
        "fold": {k: v for k, v in json.loads(fold.read_text()).items() if k.startswith(("r2", "fit_", "check_", "ridge", "as_"))},
    }, ROOT)
    sizes = b.setdefault("sizes_bytes", {})
    for part in ("lm", "reader", "flow"):
        sizes[part] = (out / part / "model.safetensors").stat().st_size
    b["total_MB"] = round(sum(f.stat().st_size for f in out.rglob("*.safetensors")) / 2 ** 20, 1)
    write_text_atomic(out / "bundle.json", json.dumps(b, indent=1))
    print(json.dumps({"out": str(out), "total_MB": b["total_MB"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
