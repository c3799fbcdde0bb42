"""Flow-stage inference on the Tokenizer contract: split a code stack into semantic and acoustic latents,
and fill in one utterance's acoustic layers from its first-layer tokens and a voice prompt."""
from __future__ import annotations

import numpy as np
import torch


def split_latent(tokenizer, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """codes [B, Q, F] -> (semantic latent ``embed(codes[:, :1])``, acoustic ``embed(codes) - semantic``), [B, D, F] each."""
    sem = tokenizer.embed(codes[:, :1])
    return sem, tokenizer.embed(codes) - sem


@torch.inference_mode()
def fill_utterance(flow, tokenizer, tokens, prompt_codes=None, prompt_seconds: float | None = 3.0, as_codes: bool = False,
                   **sample_kw) -> torch.Tensor:
    """One utterance: first-layer ``tokens [F]`` (+ the voice prompt's ``prompt_codes [Q, Fp]``, all layers,
    its first ``prompt_seconds`` used) -> ``wav [1, 1, F * hop]``.

    The prompt frames go first (clean acoustic latent, infilling), the target's frames are sampled; the
    target's semantic latent + the sampled acoustic latent are decoded, or with ``as_codes`` re-quantized
    into acoustic codes first (tokenizers with ``quantize_acoustic``, i.e. DualCodec).
    """
    dev = flow.device
    tokens = torch.as_tensor(np.asarray(tokens), dtype=torch.long, device=dev).view(-1)
    if prompt_codes is not None:
        pc = torch.as_tensor(np.asarray(prompt_codes), dtype=torch.long, device=dev)
        if prompt_seconds is not None:
            pc = pc[:, : max(1, int(round(prompt_seconds * tokenizer.frame_rate)))]
        P = pc.shape[1]
        codes_p = pc[None]
        _, prompt_acoustic = split_latent(tokenizer, codes_p)
    else:
        P, codes_p = 0, torch.zeros(1, 1, 0, dtype=torch.long, device=dev)
    all_tokens = torch.cat([codes_p[0, 0], tokens])[None]
    sem = tokenizer.embed(all_tokens[:, None])
    prompt = torch.zeros_like(sem)
    if P:
        prompt[:, :, :P] = prompt_acoustic
    acoustic = flow.sample(all_tokens, sem, prompt, [P], **sample_kw)[:, :, P:]
    sem_t = sem[:, :, P:]
    if as_codes:
        if not hasattr(tokenizer, "quantize_acoustic"):
            raise ValueError(f"{type(tokenizer).__name__} cannot re-quantize a latent (--as-codes needs a DualCodec)")
        codes = torch.cat([tokens[None, None], tokenizer.quantize_acoustic(acoustic.to(sem_t.dtype))], 1)
        return tokenizer.decode(codes)
    return tokenizer.decode_latent(sem_t + acoustic.to(sem_t.dtype))
