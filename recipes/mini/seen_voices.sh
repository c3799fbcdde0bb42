#!/usr/bin/env bash
# The shipped acoustic stage on SEEN voices: 6 training speakers x 20 training utterances (every 4th speaker, every
# 25th utterance of exp/corpus-v3's training split), true first-layer tokens + NAR + tuned decoder, against the codec's
# resynthesis and the ground truth on the same clips (recipes/mini/speak_experiments.md, ninth session; ~9 min, 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."; export HF_HUB_OFFLINE=1 PATH=$PWD/${VENV:-.venv}/bin:$PATH
python - <<'PY'
import collections, json
rows = [json.loads(l) for l in open("exp/corpus-v3/manifests/train.jsonl")]
pick = sorted({r["speaker"] for r in rows})[::4][:6]
by = collections.defaultdict(list)
for r in rows:
    if r["speaker"] in pick:
        by[r["speaker"]].append(r)
open("exp/corpus-v3/manifests/seen.jsonl", "w").write("".join(json.dumps(r) + "\n" for s in pick for r in by[s][::25][:20]))
PY
O=exp/seen-voices; mkdir -p $O
B=recipes/mini/checkpoints/dualtts-mini; M=exp/corpus-v3/manifests/seen.jsonl; T=$O/tokens
[ -f $T/manifest.jsonl ] || dualtts extract-tokens --tokenizer dualcodec:$B/codec --manifest $M --out $T > /dev/null
[ -d $O/seen-true ] || dualtts flow-generate --flow $B/flow --lm $B/lm --tokenizer dualcodec:$B/codec --manifest $T/manifest.jsonl \
  --out $O/seen-true > /dev/null 2> $O/seen-true.log
dualtts evaluate --ref $M --hyp $O/seen-true --metrics wer,nll,sim --by speaker --out $O/eval-seen-true.json --update > /dev/null
[ -d $O/seen-codec ] || dualtts reconstruct --tokenizer dualcodec:$B/codec --manifest $M --out $O/seen-codec > /dev/null 2>&1
dualtts evaluate --ref $M --hyp $O/seen-codec --metrics wer,nll,sim --by speaker --out $O/eval-seen-codec.json --update > /dev/null
dualtts evaluate --ref $M --hyp exp/corpus-v3/corpus --metrics wer,nll --by speaker --out $O/eval-seen-gt.json --update > /dev/null
for n in seen-gt seen-codec seen-true; do python -c "import json; print('$n', json.load(open('$O/eval-$n.json'))['overall'])"; done
