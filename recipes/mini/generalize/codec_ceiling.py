"""How much of a real voice a codec keeps: each clip encoded and decoded with all its layers (no TTS), then scored.
- test: the scorer's 5 real speakers (generalize_eval.real_speakers), up to 3 of each one's clips held back from the
  reference, SIM to the others joined, and WER;
- dev: the real speakers with a single clip, SIM to that clip itself, and WER (the set the prompt EQ was tuned on);
- engine: 20 clips of corpus-v3's dev voices, SIM to the originals.
What the acoustic stage can bring is bounded by ``test_sim``: even true codes score no higher.

    python recipes/mini/generalize/codec_ceiling.py --codec recipes/mini/checkpoints/dualtts-mini/codec --out exp/voices/ceiling/shipped
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from dualtts.data.atomic import write_text_atomic  # noqa: E402
from dualtts.data.audio import load_audio  # noqa: E402


def sets(manifest: Path, engine_manifest: Path, refs: Path) -> dict[str, list[tuple[dict, str]]]:
    """name -> [(clip row, reference wav for SIM)]."""
    from recipes.mini.generalize_eval import joined_reference, real_speakers

    test = []
    for s, d in real_speakers(manifest).items():
        held = d["others"][-3:] if len(d["others"]) >= 4 else d["others"][-1:]
        ref = joined_reference([c for c in d["others"] if c not in held] or [d["prompt"]], refs / f"{s}.wav")
        test += [(c, ref) for c in held]
    rows = [json.loads(x) for x in manifest.read_text(encoding="utf-8").splitlines() if x.strip()]
    n = Counter(r["speaker"] for r in rows)
    eng = [json.loads(x) for x in engine_manifest.read_text(encoding="utf-8").splitlines() if x.strip()][::15][:20]
    return {"test": test, "dev": [(r, r["audio"]) for r in rows if n[r["speaker"]] == 1], "engine": [(r, r["audio"]) for r in eng]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--codec", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--real-manifest", default="exp/real-voices/manifest.jsonl")
    ap.add_argument("--engine-manifest", default="exp/corpus-v3/manifests/dev.jsonl")
    a = ap.parse_args(argv)
    from dualtts import metrics as M
    from dualtts.codec.model import DualCodec

    codec, out = DualCodec.from_pretrained(a.codec).eval(), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {"codec": a.codec}
    for name, items in sets(Path(a.real_manifest), Path(a.engine_manifest), out.parent / "refs").items():
        hyps = []
        for r, _ in items:
            wav, _ = load_audio(r["audio"], codec.sample_rate)
            with torch.inference_mode():
                y = codec.decode(codec.encode(torch.from_numpy(wav)[None, None]))[0, 0].float().numpy()
            hyps.append(str(out / f"{r['id']}.wav"))
            sf.write(hyps[-1], y, codec.sample_rate)
        res[f"{name}_sim"] = round(float(np.mean(M.speaker_similarity([ref for _, ref in items], hyps).items)), 4)
        if name != "engine":
            res[f"{name}_wer"] = round(float(np.mean(M.wer([r["text"] for r, _ in items], hyps).items)), 4)
        res[f"{name}_n"] = len(items)
    write_text_atomic(out / "ceiling.json", json.dumps(res, indent=1))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
