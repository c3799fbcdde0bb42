"""Rejection-sampling fine-tuning data (issue "Real time by default"): the LM's own best-of-N samples on training text,
as a token manifest the LM can be trained on, so that one sample comes closer to what best of N picks.

    python recipes/mini/generalize/rft_data.py --model exp/generalize/bundle --manifest exp/generalize/train.jsonl \\
        --utterances 2400 --candidates 8 --out exp/generalize/rft

``--utterances`` rows of the manifest (a seeded random choice), each said after the next chosen row of the same
speaker as its prompt, exactly as synthesis prompts the LM; ``--candidates`` samples per row (recipes/bench/
best_of_tradeoff.py's draw: candidate k with seed + k; reused when present), the token reader's best one kept. Each
kept row is the whole sequence the LM reads at synthesis: the prompt's phonemes and the target's, the prompt's tokens
then the chosen ones (codes ``[1, F]``). Rows whose best score is above the ``--keep`` quantile are left out.
Writes OUT/manifest.jsonl (+ tokenizer.json next to it) and OUT/summary.json.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "recipes" / "bench"))
from best_of_tradeoff import draw  # noqa: E402
from dualtts.data.atomic import write_text_atomic  # noqa: E402
from dualtts.data.manifest import load_codes, tokenizer_info  # noqa: E402
from dualtts.zeroshot import zero_shot_pairs  # noqa: E402


def subset(manifest: Path, n: int, out: Path, seed: int = 0) -> Path:
    """``n`` seeded random rows of a token manifest, grouped by speaker, codes paths made absolute."""
    rows = [json.loads(x) for x in manifest.read_text(encoding="utf-8").splitlines() if x.strip()]
    rows = random.Random(seed).sample(rows, min(n, len(rows)))
    for r in rows:
        if not Path(r["codes"]).is_absolute():
            r["codes"] = str((manifest.parent / r["codes"]).resolve())
    rows.sort(key=lambda r: (r["speaker"], r["id"]))
    write_text_atomic(out, "".join(json.dumps(r) + "\n" for r in rows))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="model folder whose LM and token reader sample and choose")
    ap.add_argument("--manifest", required=True, help="token manifest of training text (phonemes + codes)")
    ap.add_argument("--utterances", type=int, default=2400)
    ap.add_argument("--candidates", type=int, default=8)
    ap.add_argument("--keep", type=float, default=0.9, help="keep rows whose best reader score is within this quantile")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs-per-batch", type=int, default=4, help="rows sampled together (speed only)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    sub = subset(Path(a.manifest), a.utterances, out / "subset.jsonl", a.seed)
    cands = draw(a.model, str(sub), out, a.candidates, None, a.seed, a.pairs_per_batch)
    best = {cid: float(sc.min()) for cid, (sc, _) in cands.items()}
    limit = float(np.quantile(list(best.values()), a.keep))
    info = tokenizer_info(a.manifest)
    rate = float(info.get("frame_rate", 25.0))
    codes_dir = out / "codes"
    codes_dir.mkdir(exist_ok=True)
    lines, kept = [], 0
    for tgt, pr in zero_shot_pairs(sub):
        scores, rows = cands[tgt.id]
        if best[tgt.id] > limit:
            continue
        seq = np.concatenate([load_codes(sub, pr)[0], rows[int(np.argmin(scores))]]).astype(np.int32)[None]
        np.save(codes_dir / f"{tgt.id}.npy", seq)
        lines.append(json.dumps({"id": f"rft-{tgt.id}", "audio": "", "duration": round(seq.shape[1] / rate, 3),
                                 "speaker": tgt.speaker, "text": f"{pr.text} {tgt.text}",
                                 "phonemes": f"{pr.phonemes} {tgt.phonemes}", "codes": f"codes/{tgt.id}.npy"}))
        kept += 1
    src_tok = Path(a.manifest).parent / "tokenizer.json"
    if src_tok.is_file():
        shutil.copy(src_tok, out / "tokenizer.json")
    else:
        write_text_atomic(out / "tokenizer.json", json.dumps(info))
    write_text_atomic(out / "manifest.jsonl", "".join(x + "\n" for x in lines))
    summary = {"model": a.model, "rows": len(cands), "kept": kept, "candidates": a.candidates, "keep_quantile": a.keep,
               "score_limit": round(limit, 4), "best_score_median": round(float(np.median(list(best.values()))), 4),
               "first_score_median": round(float(np.median([float(sc[0]) for sc, _ in cands.values()])), 4)}
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
