"""WER against LM cost for best-of-N settings, from one draw of N_MAX candidates per clip (issue "Real time by default").

    python recipes/bench/best_of_tradeoff.py --model recipes/mini/checkpoints/dualtts-mini \
        --manifest exp/generalize/tokens-v3/test/manifest.jsonl --ref exp/corpus-v3/manifests/test.jsonl --out exp/tradeoff

Candidate k of a clip is sampled with seed ``seed + k`` and rows do not depend on each other (lm.sampler), so the first
N of the N_MAX candidates are exactly what best-of-N samples, and rounds stopping at a reader score (``good_enough``,
lm.rerank) are the same candidates too: one LM draw serves every setting. Each setting's chosen tokens then go through
the acoustic stage (``dualtts flow-generate``) and Whisper (``dualtts evaluate``). Writes OUT/tradeoff.json: per setting
the WER (and its 95 % interval), the mean number of candidates sampled, and the paired WER difference to best of
N_MAX. Speed per setting comes from ``dualtts bench --parts e2e`` (its RTF scales with the candidates sampled).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dualtts.data.atomic import write_text_atomic  # noqa: E402
from dualtts.data.manifest import load_codes  # noqa: E402
from dualtts.evaluate import bootstrap_ci, paired_bootstrap  # noqa: E402
from dualtts.zeroshot import zero_shot_pairs  # noqa: E402


def draw(model: str, manifest: str, out: Path, n_max: int, per_speaker: int | None, seed: int, pairs_per_batch: int = 1) -> dict:
    """Every pair's n_max candidates and their reader scores -> OUT/draw/<id>.npz (reused when present).
    ``pairs_per_batch`` pairs are sampled as one batch (their rows do not depend on each other: the same candidates,
    fewer decoding steps' overhead)."""
    from dualtts import Synthesizer
    from dualtts.lm.sampler import generate

    tts = Synthesizer.from_pretrained(model)
    lm, reader, sym = tts.lm, tts.reader, tts.symbols
    d = out / "draw"
    d.mkdir(parents=True, exist_ok=True)
    pairs = zero_shot_pairs(manifest, per_speaker)
    todo = [(t, p) for t, p in pairs if not (d / f"{t.id}.npz").is_file()]
    bar = tqdm(total=len(todo), desc="candidates", file=sys.stderr, disable=None)
    for i in range(0, len(todo), pairs_per_batch):
        chunk = todo[i: i + pairs_per_batch]
        t_phs = [sym.encode(t.phonemes or "", source=t.id) for t, _ in chunk]
        phs = [torch.tensor(sym.encode(f"{p.phonemes or ''} {t.phonemes or ''}", source=t.id)) for t, p in chunk]
        prompts = [torch.from_numpy(load_codes(manifest, p)[0]) for _, p in chunk]
        with torch.inference_mode():
            toks = generate(lm, [x for x in phs for _ in range(n_max)], [x for x in prompts for _ in range(n_max)],
                            seed=[seed + k for _ in chunk for k in range(n_max)],
                            target_phonemes=[len(x) for x in t_phs for _ in range(n_max)])
            rows = [t[t >= 0].cpu() for t in toks]
            scores = reader.score(rows, [x for x in t_phs for _ in range(n_max)]).cpu().numpy()
        for j, (t, _) in enumerate(chunk):
            r = rows[j * n_max: (j + 1) * n_max]
            np.savez(d / f"{t.id}.npz", scores=scores[j * n_max: (j + 1) * n_max],
                     **{f"c{k}": x.numpy().astype(np.int32) for k, x in enumerate(r)})
        bar.update(len(chunk))
    bar.close()
    res = {}
    for tgt, _ in pairs:
        z = np.load(d / f"{tgt.id}.npz")
        res[tgt.id] = (z["scores"], [z[f"c{k}"] for k in range(n_max)])
    return res


def choose(scores: np.ndarray, n: int, good_enough: float | None, round_size: int) -> tuple[int, int]:
    """(chosen candidate, candidates sampled) for best-of-n, in rounds when ``good_enough`` is set."""
    if good_enough is None:
        return int(np.argmin(scores[:n])), n
    used = 0
    while used < n:
        used = min(used + round_size, n)
        if scores[:used].min() <= good_enough:
            break
    return int(np.argmin(scores[:used])), used


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--manifest", required=True, help="token manifest of the held-out pairs")
    ap.add_argument("--ref", required=True, help="reference manifest for dualtts evaluate")
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-speaker", type=int, default=17)
    ap.add_argument("--n-max", type=int, default=16)
    ap.add_argument("--best-of", default="1,2,4,8,16")
    ap.add_argument("--good-enough", default="", help="comma list of thresholds for rounds of --round-size up to n-max")
    ap.add_argument("--round-size", default="4", help="comma list of round sizes for --good-enough")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs-per-batch", type=int, default=4, help="pairs sampled together (speed only)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    cands = draw(a.model, a.manifest, out, a.n_max, a.per_speaker, a.seed, a.pairs_per_batch)
    settings = [(f"best_of_{n}", int(n), None, 1) for n in a.best_of.split(",") if n]
    settings += [(f"rounds_{r}_good_{t}", a.n_max, float(t), int(r)) for r in a.round_size.split(",") if r
                 for t in a.good_enough.split(",") if t]
    report = {"model": a.model, "clips": len(cands), "n_max": a.n_max, "settings": {},
              "reader_scores": {"best_of_n_max_quantiles": dict(zip(("10", "25", "50", "75", "90"), np.percentile(
                  [float(sc.min()) for sc, _ in cands.values()], [10, 25, 50, 75, 90]).round(4).tolist()))}}
    evals = {}
    for name, n, t, r in settings:
        d = out / name
        tok = d / "tokens"
        tok.mkdir(parents=True, exist_ok=True)
        used = []
        for cid, (scores, rows) in cands.items():
            k, u = choose(scores, n, t, r)
            used.append(u)
            np.save(tok / f"{cid}.npy", rows[k])
        if not (d / "eval.json").is_file():
            run = ["dualtts", "flow-generate", "--flow", f"{a.model}/flow", "--lm", f"{a.model}/lm", "--tokenizer",
                   f"dualcodec:{a.model}/codec", "--manifest", a.manifest, "--per-speaker", str(a.per_speaker),
                   "--out", str(d / "tts"), "--tokens", str(tok)]
            subprocess.run(run, check=True)
            subprocess.run(["dualtts", "evaluate", "--ref", a.ref, "--hyp", str(d / "tts"), "--metrics", "wer",
                            "--per-speaker", str(a.per_speaker), "--by", "speaker", "--out", str(d / "eval.json")], check=True)
        evals[name] = json.loads((d / "eval.json").read_text())
        report["settings"][name] = {"wer": evals[name]["overall"]["wer"], "wer_ci": bootstrap_ci(evals[name]["items"], "wer"),
                                    "mean_candidates": round(float(np.mean(used)), 3), "candidates": n, "good_enough": t,
                                    "round_size": r if t is not None else None}
    ref_name = f"best_of_{a.n_max}"
    if ref_name in evals:
        for name in evals:
            report["settings"][name]["minus_best_of_max"] = paired_bootstrap(evals[name]["items"], evals[ref_name]["items"], "wer")
    write_text_atomic(out / "tradeoff.json", json.dumps(report, indent=1))
    print(json.dumps({k: {kk: v[kk] for kk in ("wer", "mean_candidates")} for k, v in report["settings"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
