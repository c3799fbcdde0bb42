"""Zero-shot evaluation sets and the stage-wise generators used by the recipes.

A *pair* is (target, prompt): a held-out utterance and another utterance of the same speaker that
plays the voice prompt. ``lm_generate`` samples the target's first-layer tokens from phonemes
(prompt text + target text) and the prompt's tokens, and writes them decoded semantic-only
(``OUT/<id>.wav``) with the tokens (``OUT/<id>.npy``), ready for ``dualtts evaluate``.
"""
from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dualtts.data.manifest import Utterance, load_codes, read_manifest


def zero_shot_pairs(manifest: str | Path, per_speaker: int | None = None) -> list[tuple[Utterance, Utterance]]:
    """The first ``per_speaker`` utterances of each speaker, each prompted by the speaker's next utterance."""
    by_spk: dict[str, list[Utterance]] = defaultdict(list)
    for u in read_manifest(manifest):
        by_spk[u.speaker].append(u)
    pairs = []
    for spk, utts in by_spk.items():
        if len(utts) < 2:
            print(f"{manifest}: speaker {spk} has one utterance, no prompt: skipped", file=sys.stderr)
            continue
        n = len(utts) if per_speaker is None else min(per_speaker, len(utts))
        pairs += [(utts[i], utts[(i + 1) % len(utts)]) for i in range(n)]
    if not pairs:
        raise ValueError(f"{manifest}: no speaker with two or more utterances")
    return pairs


def lm_generate(lm, tokenizer, symbols, manifest: str | Path, out: str | Path, per_speaker: int | None = None,
                batch_size: int = 8, seed: int = 0, reader=None, candidates: int = 1, **sampling) -> dict:
    """Generate every pair's target tokens and write them decoded semantic-only (the best of ``candidates``
    samples by the token ``reader``, :mod:`lm.rerank`). Returns a summary."""
    from dualtts.lm.rerank import generate_best_of

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = zero_shot_pairs(manifest, per_speaker)
    from dualtts.data.audio import save_audio

    lengths, gen_s = [], 0.0
    for i in tqdm(range(0, len(pairs), batch_size), desc="lm-generate", unit="batch", file=sys.stderr, disable=None):
        chunk = pairs[i: i + batch_size]
        phon, prompts, n_target, t_ids = [], [], [], []
        for tgt, pr in chunk:
            src = f"{manifest}:{tgt.id}"
            t_ph = symbols.encode(tgt.phonemes or "", source=src)
            phon.append(torch.tensor(symbols.encode(f"{pr.phonemes or ''} {tgt.phonemes or ''}", source=src)))
            prompts.append(torch.from_numpy(load_codes(manifest, pr)[0]))
            n_target.append(len(t_ph))
            t_ids.append(t_ph)
        t0 = time.perf_counter()
        toks = generate_best_of(lm, reader, phon, prompts, t_ids, candidates=candidates, seed=seed, target_phonemes=n_target,
                                **sampling)
        gen_s += time.perf_counter() - t0
        for (tgt, _), row in zip(chunk, toks):
            row = row[row >= 0].cpu()
            lengths.append(len(row))
            np.save(out / f"{tgt.id}.npy", row.numpy().astype(np.int32))
            if len(row) == 0:
                continue
            with torch.inference_mode():
                wav = tokenizer.decode(row[None, None].to(tokenizer.device))
            save_audio(out / f"{tgt.id}.wav", wav[0, 0].float().cpu().numpy(), tokenizer.sample_rate)
    summary = {"out": str(out), "pairs": len(pairs), "candidates": candidates if reader is not None else 1,
               "mean_tokens": float(np.mean(lengths)),
               "empty": int(sum(n == 0 for n in lengths)),
               # the LM's sampling time (batches of batch_size) per second of speech it wrote, decoding not included
               "lm_rtf": round(gen_s / max(sum(lengths) / tokenizer.frame_rate, 1e-9), 4), "batch_size": batch_size}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def lm_states(lm, symbols, manifest: str | Path, out: str | Path, batch_size: int = 32) -> dict:
    """Teacher-forced LM states of every utterance of a token manifest (its phonemes and first-layer
    tokens) -> ``OUT/<id>.npy [F, H]`` float16, the content condition of a flow trained with ``lm_states``."""
    from dualtts.data.atomic import atomic_path

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    utts = read_manifest(manifest)
    for i in tqdm(range(0, len(utts), batch_size), desc="lm-states", unit="batch", file=sys.stderr, disable=None):
        chunk = utts[i: i + batch_size]
        ph = [symbols.encode(u.phonemes or "", source=f"{manifest}:{u.id}") for u in chunk]
        toks = [load_codes(manifest, u)[0] for u in chunk]
        for u, h in zip(chunk, lm.speech_states(ph, toks)):
            with atomic_path(out / f"{u.id}.npy") as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, h.cpu().numpy().astype(np.float16))
    summary = {"out": str(out), "utterances": len(utts), "dim": int(lm.cfg.hidden_size)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def pair_states(lm, symbols, prompt_phonemes: str, target_phonemes: str, prompt_tokens, tokens, source: str) -> torch.Tensor:
    """The LM's states ``[Fp + F, H]`` over a prompt's tokens then the target's, read with the phonemes of
    both texts as in generation: the content condition of a flow with ``cond_dim``."""
    ph = symbols.encode(f"{prompt_phonemes} {target_phonemes}", source=source)
    seq = np.concatenate([np.asarray(prompt_tokens, dtype=np.int64).reshape(-1), np.asarray(tokens, dtype=np.int64).reshape(-1)])
    return lm.speech_states([ph], [seq])[0]


def flow_generate(flow, tokenizer, manifest: str | Path, out: str | Path, per_speaker: int | None = None,
                  tokens_dir: str | Path | None = None, prompt_seconds: float = 3.0, as_codes: bool = False,
                  seed: int = 0, lm=None, **sample_kw) -> dict:
    """Fill in every pair's acoustic layers from its first-layer tokens — the ground truth, or the LM's
    (``tokens_dir/<id>.npy`` of :func:`lm_generate`) — and the first ``prompt_seconds`` of the prompt
    utterance (all layers); write ``OUT/<id>.wav``. ``lm``: the semantic LM whose states condition the
    flow (flows with ``cond_dim``)."""
    from dualtts.data.audio import save_audio
    from dualtts.flow.infer import fill_utterance

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = zero_shot_pairs(manifest, per_speaker)
    if flow.cfg.cond_dim and lm is None:
        raise ValueError("this flow is conditioned on the semantic LM's states: give the LM (--lm)")
    symbols = lm.symbols() if lm is not None and flow.cfg.cond_dim else None
    done, wall, audio_s = 0, 0.0, 0.0
    for tgt, pr in tqdm(pairs, desc="flow-generate", unit="utt", file=sys.stderr, disable=None):
        if tokens_dir is not None:
            tokens = np.load(Path(tokens_dir) / f"{tgt.id}.npy", allow_pickle=False)
        else:
            tokens = load_codes(manifest, tgt)[0]
        if len(tokens) == 0:
            continue
        prompt_codes = load_codes(manifest, pr)
        cond = None
        if symbols is not None:
            cond = pair_states(lm, symbols, pr.phonemes or "", tgt.phonemes or "", prompt_codes[0], tokens, f"{manifest}:{tgt.id}")
        t0 = time.perf_counter()
        wav = fill_utterance(flow, tokenizer, tokens.astype(np.int64), prompt_codes, prompt_seconds=prompt_seconds,
                             as_codes=as_codes, seed=seed, cond=cond, **sample_kw)
        wall += time.perf_counter() - t0
        audio_s += len(tokens) / tokenizer.frame_rate
        n = int(round(tgt.duration * tokenizer.sample_rate)) if tokens_dir is None else wav.shape[-1]
        save_audio(out / f"{tgt.id}.wav", wav[0, 0, :n].float().cpu().numpy(), tokenizer.sample_rate)
        done += 1
    summary = {"out": str(out), "pairs": len(pairs), "written": done, "prompt_seconds": prompt_seconds,
               "tokens": "lm" if tokens_dir is not None else "ground truth", "as_codes": as_codes, **sample_kw,
               # the acoustic stage + the codec's decoding (not the LM states) per second of speech, one utterance at a time
               "acoustic_rtf": round(wall / max(audio_s, 1e-9), 4)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
