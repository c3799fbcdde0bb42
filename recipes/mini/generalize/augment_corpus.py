"""Speaker-augmented copies of a corpus's utterances (dualtts.data.augment, every copy augmented, one seeded draw per
utterance) -> OUT/wav/<id>_aug.wav and OUT/manifest.jsonl (each copy its own speaker: a new voice).

    python recipes/mini/generalize/augment_corpus.py --manifest exp/corpus-v3/manifests/train.jsonl --n 1800 --out exp/voices/aug
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from dualtts.data.atomic import write_text_atomic  # noqa: E402
from dualtts.data.audio import load_audio  # noqa: E402
from dualtts.data.augment import SpeakerAugment  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=1800, help="utterances to copy (a seeded sample)")
    ap.add_argument("--sample-rate", type=int, default=24000)
    a = ap.parse_args(argv)
    rows = [json.loads(x) for x in Path(a.manifest).read_text(encoding="utf-8").splitlines() if x.strip()]
    random.Random(1).shuffle(rows)
    out = Path(a.out)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    aug, man = SpeakerAugment({"p": 1.0}), []
    for i, r in enumerate(tqdm(rows[: a.n], desc="augment", file=sys.stderr, disable=None)):
        wav, sr = load_audio(r["audio"], a.sample_rate)
        path = (out / "wav" / f"{r['id']}_aug.wav").resolve()
        if not path.is_file():
            tmp = path.with_name(f".{path.name}")
            sf.write(tmp, aug(wav, sr, random.Random(f"aug-{r['id']}")), sr, format="WAV")
            tmp.replace(path)
        man.append({**r, "id": f"{r['id']}_aug", "audio": str(path), "speaker": f"{r['speaker']}_aug{i}"})
    write_text_atomic(out / "manifest.jsonl", "".join(json.dumps(m) + "\n" for m in man))
    print(json.dumps({"out": str(out), "utterances": len(man)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
