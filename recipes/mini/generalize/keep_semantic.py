"""A codec fine-tuned with its semantic stream frozen (``freeze: [semantic_encoder, semantic_vq]``), with that stream
copied back from the codec it started from, bit for bit (the VQ's dead-code restarts write into a frozen codebook), so
its first-layer tokens are the old codec's: the LM and the token reader, which read only those, stay valid. Checks it
on a few clips and says so.

    python recipes/mini/generalize/keep_semantic.py --tuned exp/voices/codec-aug/checkpoints/step-1000/codec \\
        --base recipes/mini/checkpoints/dualtts-mini/codec --out exp/voices/codec
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
SEMANTIC = ("semantic_encoder.", "semantic_vq.", "ssl.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tuned", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--check", default="exp/corpus-v3/manifests/dev.jsonl", help="a manifest whose first clips are checked")
    a = ap.parse_args(argv)
    tuned, base, out = Path(a.tuned), Path(a.base), Path(a.out)
    sd, old = load_file(tuned / "model.safetensors"), load_file(base / "model.safetensors")
    moved = 0
    for k in sd:
        if k.startswith(SEMANTIC):
            moved += int(not torch.equal(sd[k], old[k].to(sd[k].dtype)))
            sd[k] = old[k].to(sd[k].dtype)
    out.mkdir(parents=True, exist_ok=True)
    save_file(sd, out / "model.safetensors")
    shutil.copy(tuned / "config.yaml", out / "config.yaml")
    from dualtts.codec.model import DualCodec
    from dualtts.data.audio import load_audio

    m_old, m_new = DualCodec.from_pretrained(str(base)).eval(), DualCodec.from_pretrained(str(out)).eval()
    rows = [json.loads(x) for x in Path(a.check).read_text(encoding="utf-8").splitlines()[:8]]
    same = 0
    for r in rows:
        wav, _ = load_audio(r["audio"], m_old.sample_rate)
        x = torch.from_numpy(wav)[None, None]
        same += int(torch.equal(m_old.encode(x)[:, 0], m_new.encode(x)[:, 0]))
    print(json.dumps({"out": str(out), "semantic_tensors_restored": moved, "first_layer_identical": f"{same}/{len(rows)}"}))
    if same != len(rows):
        raise SystemExit(f"error: {out}: first-layer tokens differ from {base} on {len(rows) - same} clips")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
