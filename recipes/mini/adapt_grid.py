"""Test-time adaptation of the NAR to the prompt (AcousticNAR.adapted): the shipped NAR's cross-entropy of each
TARGET's true acoustic codes (true first layer, prompt = the first 3 s of the speaker's next utterance), before and
after adapting on the prompt, for a small grid of learning rates and steps. Tune on dev voices, not the test's:

    dualtts extract-tokens --tokenizer dualcodec:recipes/mini/checkpoints/dualtts-mini/codec \
        --manifest DEV_SUBSET.jsonl --out exp/adapt/tokens
    python recipes/mini/adapt_grid.py exp/adapt/tokens/manifest.jsonl 12
"""
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import numpy as np, torch
from dualtts.flow.infer import load_acoustic_stage
from dualtts.lm.model import SemanticLM
from dualtts.zeroshot import zero_shot_pairs, pair_states
from dualtts.data.manifest import load_codes
B = 'recipes/mini/checkpoints/dualtts-mini'
man, per = sys.argv[1], int(sys.argv[2])
nar = load_acoustic_stage(B + '/flow'); lm = SemanticLM.from_pretrained(B + '/lm'); sym = lm.symbols()
P = 75
items = []
with torch.inference_mode():
    for tgt, pr in zero_shot_pairs(man, per):
        t, p = load_codes(man, tgt), load_codes(man, pr)
        cond = pair_states(lm, sym, pr.phonemes, tgt.phonemes, p[0], t[0], tgt.id)
        Pn = min(P, p.shape[1])
        cond = torch.cat([cond[:Pn], cond[p.shape[1]:]])
        items.append((torch.as_tensor(p[:, :Pn].astype(np.int64)), torch.as_tensor(t.astype(np.int64)), cond))

def target_ce(model, pc, tc, cond):
    codes = torch.cat([pc, tc], 1)[None]; Pn = pc.shape[1]; Fn = codes.shape[-1]
    pmask = (torch.arange(Fn) < Pn)[None]
    ce = []
    for j in range(1, codes.shape[1]):
        lg = model(codes, torch.tensor([j]), pmask, None, cond[None].float())[0, Pn:]
        ce.append(float(torch.nn.functional.cross_entropy(lg.float(), codes[0, j, Pn:])))
    return float(np.mean(ce))

with torch.inference_mode():
    base = float(np.mean([target_ce(nar, *it) for it in items]))
    print('steps 0', round(base, 4), flush=True)
    for lr, steps in itertools.product([3e-5, 1e-4], [10, 30]):
        t0 = time.time()
        v = [target_ce(nar.adapted(pc, cond[:pc.shape[1]], steps=steps, lr=lr), pc, tc, cond) for pc, tc, cond in items]
        print(f'lr {lr} steps {steps}', round(float(np.mean(v)), 4), f'{(time.time()-t0)/len(items):.2f} s/item', flush=True)
