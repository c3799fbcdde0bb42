"""Token extraction: a manifest's audio -> per-utterance codes (all layers) + a manifest with ``codes`` paths.

Batched (utterances of similar length together), sharded across processes under ``accelerate launch``
(each rank takes every N-th utterance), resumable (finished ``<id>.npy`` files are kept), with a
progress bar; unreadable audio is skipped and listed in ``skipped.txt``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dualtts.data.atomic import atomic_path, write_text_atomic
from dualtts.data.audio import AudioError, load_audio
from dualtts.data.manifest import read_manifest, write_manifest


def extract_tokens(tokenizer, manifest: str | Path, out: str | Path, batch_size: int = 8, max_seconds: float = 60.0,
                   device: str | torch.device = "cpu") -> dict:
    from accelerate import PartialState

    state = PartialState()
    out = Path(out)
    codes_dir = out / "codes"
    codes_dir.mkdir(parents=True, exist_ok=True)
    utts = read_manifest(manifest)
    mine = sorted(utts[state.process_index:: state.num_processes], key=lambda u: u.duration)
    todo = [u for u in mine if not (codes_dir / f"{u.id}.npy").is_file()]
    dtype = np.int16 if max(tokenizer.codebook_sizes) <= 32768 else np.int32
    skipped: list[str] = []
    bar = tqdm(total=len(todo), desc=f"tokens[{state.process_index}]", unit="utt", file=sys.stderr,
               disable=None if state.is_main_process else True)
    for i in range(0, len(todo), batch_size):
        batch, wavs = [], []
        for u in todo[i: i + batch_size]:
            try:
                wav, _ = load_audio(u.audio, tokenizer.sample_rate, max_seconds=max_seconds, min_seconds=0.05)
            except AudioError as e:
                skipped.append(str(e))
                continue
            batch.append(u)
            wavs.append(torch.from_numpy(wav))
        if batch:
            lengths = [len(w) for w in wavs]
            x = torch.zeros(len(wavs), 1, max(lengths))
            for b, w in enumerate(wavs):
                x[b, 0, : len(w)] = w
            codes = tokenizer.encode(x.to(device), lengths=lengths).cpu().numpy()
            for b, u in enumerate(batch):
                n = int(np.ceil(lengths[b] * tokenizer.frame_rate / tokenizer.sample_rate - 1e-9))
                with atomic_path(codes_dir / f"{u.id}.npy") as tmp:
                    with open(tmp, "wb") as f:
                        np.save(f, codes[b, :, :n].astype(dtype))
        bar.update(len(todo[i: i + batch_size]))
    bar.close()
    if skipped:
        (out / f"skipped.rank{state.process_index}.txt").write_text("\n".join(skipped) + "\n")
    state.wait_for_everyone()
    summary = {}
    if state.is_main_process:
        all_skipped = [l for p in sorted(out.glob("skipped.rank*.txt")) for l in p.read_text().splitlines() if l]
        rows = []
        for u in utts:
            f = codes_dir / f"{u.id}.npy"
            if f.is_file():
                u.extra["codes"] = str(Path("codes") / f.name)
                u.audio = str(Path(u.audio).resolve())
                rows.append(u)
        write_manifest(out / "manifest.jsonl", rows)
        write_text_atomic(out / "skipped.txt", "".join(l + "\n" for l in all_skipped))
        write_text_atomic(out / "tokenizer.json", json.dumps({"sample_rate": tokenizer.sample_rate, "frame_rate": tokenizer.frame_rate,
                                                              "codebook_sizes": list(tokenizer.codebook_sizes)}))
        summary = {"out": str(out), "utterances": len(rows), "skipped": len(all_skipped), "processes": state.num_processes}
    return summary
