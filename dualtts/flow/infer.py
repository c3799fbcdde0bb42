"""Flow-stage inference on the Tokenizer contract: split a code stack into semantic and acoustic latents,
and fill in one utterance's acoustic layers from its first-layer tokens and a voice prompt."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dualtts.codec.model import DualCodec
from dualtts.data.checkpoint import read_config, resolve_checkpoint
from dualtts.flow.model import AcousticFlow
from dualtts.flow.nar import AcousticNAR


def split_latent(tokenizer, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """codes [B, Q, F] -> (semantic latent ``embed(codes[:, :1])``, acoustic ``embed(codes) - semantic``), [B, D, F] each."""
    sem = tokenizer.embed(codes[:, :1])
    return sem, tokenizer.embed(codes) - sem


def load_acoustic_stage(path_or_id, device="cpu"):
    """A flow (:class:`flow.model.AcousticFlow`) or NAR (:class:`flow.nar.AcousticNAR`) checkpoint, told apart
    by its config (``stage: nar``)."""
    path = resolve_checkpoint(path_or_id, "flow or NAR")
    cls = AcousticNAR if read_config(path).get("stage") == "nar" else AcousticFlow
    return cls.from_pretrained(path, device)


TUNED_DECODER = "decoder.safetensors"


def attach_tuned_decoder(stage, tokenizer) -> bool:
    """If the acoustic stage's folder holds ``decoder.safetensors`` (the codec's decoder fine-tuned on this stage's
    output: ``dualtts train decoder``), load it into ``tokenizer``'s decoder. The encoder and the quantizers stay as
    they are, so a prompt's codes do not change, only what the tokenizer decodes. Returns whether there was one."""
    folder = getattr(stage, "checkpoint_dir", None)
    path = Path(folder) / TUNED_DECODER if folder is not None else None
    if path is None or not path.is_file():
        return False
    if not isinstance(tokenizer, DualCodec):
        raise ValueError(f"{path}: a tuned DualCodec decoder, but the tokenizer is a {type(tokenizer).__name__}")
    from safetensors.torch import load_file

    ref = next(tokenizer.decoder.parameters())
    state = {k: v.to(ref.dtype) if v.is_floating_point() else v for k, v in load_file(str(path), device=str(ref.device)).items()}
    try:
        missing, unexpected = tokenizer.decoder.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shapes of another codec
        raise ValueError(f"{path}: does not fit this codec's decoder ({str(e).splitlines()[-1].strip()})") from None
    if missing or unexpected:
        raise ValueError(f"{path}: does not fit this codec's decoder (missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
    return True


@torch.inference_mode()
def fill_utterance(flow, tokenizer, tokens, prompt_codes=None, prompt_seconds: float | None = 3.0, as_codes: bool = False,
                   cond=None, **sample_kw) -> torch.Tensor:
    """One utterance: first-layer ``tokens [F]`` (+ the voice prompt's ``prompt_codes [Q, Fp]``, all layers,
    its first ``prompt_seconds`` used) -> ``wav [1, 1, F * hop]``. ``cond [Fp + F, C]``: the semantic LM's
    states at the prompt's and the target's tokens (flows with ``cond_dim``; ``lm.speech_states``).

    The prompt frames go first (clean acoustic latent, infilling), the target's frames are sampled; the
    target's semantic latent + the sampled acoustic latent are decoded, or with ``as_codes`` re-quantized
    into acoustic codes first (tokenizers with ``quantize_acoustic``, i.e. DualCodec). A NAR stage
    (:mod:`flow.nar`, ``predicts_codes``) fills the acoustic codes instead, layer by layer (argmax, or
    ``nar_temperature`` > 0; its config's ``decode: soft`` decodes the expected code vectors, flattened by
    ``nar_soft_temperature``; ``nar_adapt_steps`` > 0 first fine-tunes a copy of it on the prompt's codes,
    :meth:`flow.nar.AcousticNAR.adapted`, at ``nar_adapt_lr``); the flow's sampling settings do not apply to it.
    """
    dev = flow.device
    tokens = torch.as_tensor(np.asarray(tokens), dtype=torch.long, device=dev).view(-1)
    Fp = 0 if prompt_codes is None else np.asarray(prompt_codes).shape[1]
    if cond is not None:
        cond = torch.as_tensor(cond, device=dev)
        if cond.shape[0] != Fp + tokens.shape[0]:
            raise ValueError(f"cond has {cond.shape[0]} frames; expected {Fp} prompt + {tokens.shape[0]} target frames")
    if prompt_codes is not None:
        pc = torch.as_tensor(np.asarray(prompt_codes), dtype=torch.long, device=dev)
        if prompt_seconds is not None:
            pc = pc[:, : max(1, int(round(prompt_seconds * tokenizer.frame_rate)))]
        P = pc.shape[1]
        codes_p = pc[None]
    else:
        P, codes_p = 0, torch.zeros(1, 1, 0, dtype=torch.long, device=dev)
    all_tokens = torch.cat([codes_p[0, 0], tokens])[None]
    if cond is not None:
        cond = torch.cat([cond[:P], cond[Fp:]])[None]
    if getattr(flow, "predicts_codes", False):  # a NAR (flow.nar): acoustic codes, decoded by the tokenizer
        Q = flow.cfg.num_quantizers
        codes = torch.zeros(1, Q, all_tokens.shape[1], dtype=torch.long, device=dev)
        codes[:, 0] = all_tokens
        if P:
            if codes_p.shape[1] < Q:
                raise ValueError(f"the prompt has {codes_p.shape[1]} layers; this NAR needs all {Q}")
            codes[:, 1:, :P] = codes_p[:, 1:Q]
        temperature, seed = sample_kw.get("nar_temperature", 0.0), sample_kw.get("seed", 0)
        if P and sample_kw.get("nar_adapt_steps", 0) > 0:  # test-time adaptation to the prompt's voice
            if not hasattr(flow, "adapted"):
                raise ValueError(f"{type(flow).__name__} has no test-time adaptation (nar_adapt_steps needs our NAR)")
            flow = flow.adapted(codes_p[0, :Q], None if cond is None else cond[0, :P], steps=sample_kw["nar_adapt_steps"],
                                lr=sample_kw.get("nar_adapt_lr", 1e-4), seed=seed)
        if flow.cfg.decode == "soft" and hasattr(tokenizer, "embed_acoustic_probs"):
            codes, probs = flow.sample(codes, P, cond=cond, temperature=temperature, seed=seed, soft=True,
                                       soft_temperature=sample_kw.get("nar_soft_temperature", 1.0))
            z = tokenizer.embed(codes[:, :1, P:]) + tokenizer.embed_acoustic_probs(probs[:, :, P:])
            if cond is not None and getattr(flow, "latent_cond", None) is not None:  # the text, straight to the decoder
                z = z + flow.latent_offset(cond[:, P:]).to(z.dtype)
            return tokenizer.decode_latent(z)
        return tokenizer.decode(flow.sample(codes, P, cond=cond, temperature=temperature, seed=seed)[:, :, P:])
    for k in ("nar_temperature", "nar_soft_temperature", "nar_adapt_steps", "nar_adapt_lr"):
        sample_kw.pop(k, None)
    sem = tokenizer.embed(all_tokens[:, None])
    prompt = torch.zeros_like(sem)
    if P:  # the prompt's acoustic latent (the NAR above reads its codes instead)
        prompt[:, :, :P] = split_latent(tokenizer, codes_p)[1]
    acoustic = flow.sample(all_tokens, sem, prompt, [P], cond=cond, **sample_kw)[:, :, P:]
    sem_t = sem[:, :, P:]
    if as_codes:
        if not isinstance(tokenizer, DualCodec):
            raise ValueError(f"{type(tokenizer).__name__} cannot re-quantize a latent (--as-codes needs a DualCodec)")
        codes = torch.cat([tokens[None, None], tokenizer.quantize_acoustic(acoustic.to(sem_t.dtype))], 1)
        return tokenizer.decode(codes)
    return tokenizer.decode_latent(sem_t + acoustic.to(sem_t.dtype))
