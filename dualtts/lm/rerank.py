"""Best-of-N sampling of the semantic LM, scored by the token reader (:mod:`lm.reader`).

Each sentence is sampled ``candidates`` times (seeds ``seed, seed + 1, ...``, in one batch) and the candidate the
reader finds closest to the target phonemes (lowest CTC loss per phoneme) is kept. With ``candidates=1`` or no
reader this is plain :func:`lm.sampler.generate` with the same seed, so the first candidate is what one sample
would have been.
"""
from __future__ import annotations

import torch

from dualtts.lm.sampler import generate


@torch.inference_mode()
def generate_best_of(lm, reader, phonemes, prompt_tokens, target_ids, candidates: int = 4, seed: int = 0,
                     target_phonemes=None, return_scores: bool = False, good_enough: float | None = None,
                     round_size: int = 4, **sampling):
    """phonemes / prompt_tokens: as :meth:`lm.model.SemanticLM.generate` (B rows); target_ids: list of [Lt_b] the
    target's phoneme ids (what the candidates must say) -> tokens [B, F] padded with -1 (and the chosen
    candidates' scores [B] with ``return_scores``). ``good_enough``: sample in rounds of ``round_size`` (the same
    seeds, in the same order, as all ``candidates`` at once) and stop after the first round in which every row has
    a candidate the reader scores at or below it (CTC loss per phoneme); None: all ``candidates`` in one batch."""
    if good_enough is not None and reader is not None and candidates > round_size:
        return _best_of_in_rounds(lm, reader, phonemes, prompt_tokens, target_ids, candidates, seed, target_phonemes,
                                  return_scores, good_enough, round_size, **sampling)
    B = len(phonemes)
    if len(target_ids) != B:
        raise ValueError(f"{B} phoneme sequences but {len(target_ids)} targets")
    if candidates < 1:
        raise ValueError(f"candidates must be at least 1, got {candidates}")
    if reader is None or candidates == 1:
        toks = generate(lm, phonemes, prompt_tokens, seed=seed, target_phonemes=target_phonemes, **sampling)
        return (toks, torch.zeros(B)) if return_scores else toks
    if reader.cfg.codebook_size != lm.cfg.codebook_size:
        raise ValueError(f"the token reader reads a {reader.cfg.codebook_size} codebook but the LM writes {lm.cfg.codebook_size}")
    N = candidates
    rep = [x for x in range(B) for _ in range(N)]   # row b's candidates sit at b*N .. b*N + N-1
    toks = generate(lm, [phonemes[b] for b in rep], [prompt_tokens[b] for b in rep],
                    seed=[seed + k for _ in range(B) for k in range(N)],
                    target_phonemes=None if target_phonemes is None else [target_phonemes[b] for b in rep], **sampling)
    rows = [t[t >= 0].cpu() for t in toks]
    scores = reader.score(rows, [target_ids[b] for b in rep]).view(B, N).cpu()
    best = scores.argmin(1)
    chosen = [rows[b * N + int(best[b])] for b in range(B)]
    out = torch.full((B, max([len(r) for r in chosen] + [0])), -1, dtype=torch.long)
    for b, r in enumerate(chosen):
        out[b, :len(r)] = r
    out = out.to(toks.device)
    return (out, scores.gather(1, best[:, None])[:, 0]) if return_scores else out


def _best_of_in_rounds(lm, reader, phonemes, prompt_tokens, target_ids, candidates, seed, target_phonemes, return_scores,
                       good_enough, round_size, **sampling):
    """:func:`generate_best_of` in rounds of ``round_size`` candidates, stopping once every row is good enough."""
    B = len(phonemes)
    best_rows: list = [None] * B
    best = torch.full((B,), float("inf"))
    done = 0
    while done < candidates:
        n = min(round_size, candidates - done)
        toks, sc = generate_best_of(lm, reader, phonemes, prompt_tokens, target_ids, candidates=n, seed=seed + done,
                                    target_phonemes=target_phonemes, return_scores=True, **sampling)
        for b in range(B):
            if float(sc[b]) < float(best[b]):
                best[b], best_rows[b] = sc[b], toks[b][toks[b] >= 0].cpu()
        done += n
        if bool((best <= good_enough).all()):
            break
    out = torch.full((B, max([len(r) for r in best_rows] + [0])), -1, dtype=torch.long)
    for b, r in enumerate(best_rows):
        out[b, :len(r)] = r
    out = out.to(lm.device)
    return (out, best) if return_scores else out
