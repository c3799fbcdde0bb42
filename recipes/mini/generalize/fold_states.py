"""Keep an acoustic stage working when its LM is retrained: fold a linear map of the new LM's states onto the old
LM's into the acoustic stage's state projections.

The NAR (``cond_proj``) and the tuned decoder's state projection (``latent_cond``) read the semantic LM's states,
and both are linear in them. When the LM is continued on new text its states move, and an acoustic stage trained on
the old LM's states loses the words (recipes/mini/generalize.md). Fitting ``old ~= new @ M + c`` by ridge regression
on teacher-forced states of the same token sequences, then replacing each projection ``W s + b`` with
``(W M^T) s + (W c + b)``, gives an acoustic stage that reads the new LM's states as if they were the old one's,
with no new weights and no retraining.

    python recipes/mini/generalize/fold_states.py --old-lm recipes/mini/checkpoints/dualtts-mini/lm \\
        --new-lm exp/generalize/bundle/lm --flow recipes/mini/checkpoints/dualtts-mini/flow \\
        --fit exp/generalize/train.jsonl --check exp/generalize/tokens-v3/dev/manifest.jsonl --out exp/generalize/flow-folded

Each fitted sequence is an utterance read after the previous one of the manifest (a prompt, as in synthesis).
Prints JSON: the states' R^2 on the check set before (the new states taken as they are) and after the map.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from dualtts.data.manifest import load_codes, read_manifest  # noqa: E402
from dualtts.data.atomic import write_text_atomic  # noqa: E402
from dualtts.lm.model import SemanticLM  # noqa: E402

PROJECTIONS = ("cond_proj", "latent_cond")  # the linear layers of an AcousticNAR folder that read the LM's states


@torch.inference_mode()
def paired_states(old: SemanticLM, new: SemanticLM, manifest: str, limit: int, seed: int = 0,
                  batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-forced states of both LMs over the same sequences: (new [N, H], old [N, H]) float64, N frames.
    Each sequence: a random manifest row's phonemes and tokens after those of the row before it."""
    from tqdm import tqdm

    utts = read_manifest(manifest)
    picks = sorted(random.Random(seed).sample(range(1, len(utts)), min(limit, len(utts) - 1)))
    sym = old.symbols()
    xs, ys = [], []
    for i in tqdm(range(0, len(picks), batch_size), desc=f"states {Path(manifest).parent.name}", file=sys.stderr, disable=None):
        ph, tok = [], []
        for j in picks[i: i + batch_size]:
            p, u = utts[j - 1], utts[j]
            ph.append(sym.encode(f"{p.phonemes} {u.phonemes}", source=f"{manifest}:{u.id}"))
            tok.append(np.concatenate([load_codes(manifest, p)[0], load_codes(manifest, u)[0]]))
        for h_new, h_old in zip(new.speech_states(ph, tok), old.speech_states(ph, tok)):
            xs.append(h_new.double().numpy())
            ys.append(h_old.double().numpy())
    return np.concatenate(xs), np.concatenate(ys)


def fit_map(x: np.ndarray, y: np.ndarray, ridge: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Ridge least squares ``y ~= x @ M + c``: (M [H, H], c [H])."""
    xa = np.concatenate([x, np.ones((len(x), 1))], 1)
    gram = xa.T @ xa
    gram[np.arange(x.shape[1]), np.arange(x.shape[1])] += ridge * len(x)  # the bias is not shrunk
    w = np.linalg.solve(gram, xa.T @ y)
    return w[:-1], w[-1]


def r2(pred: np.ndarray, y: np.ndarray) -> float:
    return float(1.0 - ((pred - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())


def fold(flow: Path, out: Path, m: np.ndarray, c: np.ndarray) -> list[str]:
    """Copy the acoustic stage folder ``flow`` to ``out`` with each state projection ``W s + b`` replaced by
    ``(W M^T) s + (W c + b)`` (each tensor keeps its dtype). Returns the projections folded."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(flow / "model.safetensors"))
    mt, ct = torch.from_numpy(m), torch.from_numpy(c)
    done = []
    for name in PROJECTIONS:
        w, b = tensors.get(f"{name}.weight"), tensors.get(f"{name}.bias")
        if w is None:
            continue
        w64 = w.double()
        tensors[f"{name}.weight"] = (w64 @ mt.T).to(w.dtype).contiguous()
        tensors[f"{name}.bias"] = (w64 @ ct + b.double()).to(b.dtype).contiguous()
        done.append(name)
    if not done:
        raise SystemExit(f"error: {flow}: no state projection ({', '.join(PROJECTIONS)}) to fold into")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(flow, tmp)
    save_file(tensors, str(tmp / "model.safetensors"))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return done


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old-lm", required=True, help="the LM whose states the acoustic stage was trained on")
    ap.add_argument("--new-lm", required=True, help="the retrained LM that will write and read the tokens")
    ap.add_argument("--flow", required=True, help="the acoustic stage folder (flow/ of a model folder)")
    ap.add_argument("--fit", required=True, help="token manifest to fit the map on (the new LM's training text)")
    ap.add_argument("--check", required=True, help="token manifest to report the fit on (held out)")
    ap.add_argument("--fit-utterances", type=int, default=2000)
    ap.add_argument("--check-utterances", type=int, default=300)
    ap.add_argument("--ridge", type=float, default=1e-3)
    ap.add_argument("--as-fp16", choices=["on", "off"], default="on",
                    help="round both LMs' weights to fp16 first, as the model folder stores them (default on)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    old, new = SemanticLM.from_pretrained(a.old_lm), SemanticLM.from_pretrained(a.new_lm)
    if a.as_fp16 == "on":  # the weights a model folder will hold (fp16), computed in fp32 as the Synthesizer does
        old, new = old.half().float(), new.half().float()
    if old.cfg.hidden_size != new.cfg.hidden_size:
        raise SystemExit(f"error: the LMs' states differ in width ({old.cfg.hidden_size} vs {new.cfg.hidden_size})")
    x, y = paired_states(old, new, a.fit, a.fit_utterances)
    m, c = fit_map(x, y, a.ridge)
    xc, yc = paired_states(old, new, a.check, a.check_utterances, seed=1)
    report = {"fit_frames": len(x), "check_frames": len(xc), "ridge": a.ridge,
              "r2_check_as_is": r2(xc, yc), "r2_check_mapped": r2(xc @ m + c, yc), "r2_fit_mapped": r2(x @ m + c, y)}
    report["folded"] = fold(Path(a.flow), Path(a.out), m, c)
    report.update(old_lm=a.old_lm, new_lm=a.new_lm, as_fp16=a.as_fp16 == "on", flow=a.flow, fit=a.fit, check=a.check)
    write_text_atomic(Path(a.out) / "fold_states.json", json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
