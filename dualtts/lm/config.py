"""Semantic LM configuration and presets.

Vocabulary layout (one input table): phoneme symbols ``[0, P)`` (id 0 = the symbol table's ``<pad>``),
``sep`` = P, speech tokens ``[P+1, P+1+S)`` (the tokenizer's first-layer codebook of size S), ``eos``.
The output head scores the S speech tokens and eos (index S).
"""
from __future__ import annotations

from dataclasses import dataclass

from dualtts.data.checkpoint import DictConfig, preset_config


@dataclass
class LMConfig(DictConfig):
    WHAT = "LM"

    num_phonemes: int = 128          # size of the phoneme symbol table (data.text.SymbolTable)
    codebook_size: int = 16384       # first-layer codebook of the tokenizer: 16384 DualCodec, 2048 Mimi, 1024 EnCodec
    frame_rate: float = 12.5         # tokens per second of speech (sets the length limits of generation)
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    num_kv_heads: int | None = None
    intermediate_size: int = 2048
    max_positions: int = 4096
    rope_theta: float = 10000.0
    dropout: float = 0.0
    # generation length limits, in tokens per target phoneme symbol at 12.5 Hz (scaled by frame_rate / 12.5);
    # measured on the offline corpus: 0.47..1.02, median 0.69 (stress marks and spaces count as symbols)
    min_tokens_per_phoneme: float = 0.4
    max_tokens_per_phoneme: float = 2.0
    text_cfg_scale: float = 1.0      # the sampler's default guidance on the text (> 1 only for LMs trained with text_dropout)

    # --- vocabulary layout ---
    @property
    def sep_id(self) -> int:
        return self.num_phonemes

    @property
    def speech_offset(self) -> int:
        return self.num_phonemes + 1

    @property
    def eos_id(self) -> int:
        return self.num_phonemes + 1 + self.codebook_size

    @property
    def vocab_size(self) -> int:
        return self.eos_id + 1

    def llama_config(self):
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=1,  # our own tables feed inputs_embeds
            hidden_size=self.hidden_size, intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers, num_attention_heads=self.num_heads,
            num_key_value_heads=self.num_kv_heads or self.num_heads, max_position_embeddings=self.max_positions,
            rope_parameters={"rope_type": "default", "rope_theta": self.rope_theta},
            attention_dropout=self.dropout, tie_word_embeddings=False,
            bos_token_id=None, eos_token_id=None, pad_token_id=None,
        )


PRESETS: dict[str, dict] = {
    # CPU tests and the mini recipe
    "tiny": dict(hidden_size=192, num_layers=4, num_heads=4, intermediate_size=512, max_positions=2048),
    # ≈7M: the mini recipe's LM once the corpus is large enough that the tiny one stops memorising (12 h)
    "small": dict(hidden_size=320, num_layers=6, num_heads=5, intermediate_size=864, max_positions=2048),
    # ≈110M with a 16384 codebook: 12 layers, 768 wide (the reference AR is 1024 wide, 341M with its text vocab)
    "base": dict(hidden_size=768, num_layers=12, num_heads=12, intermediate_size=2048),
}


def get_lm_config(name_or_path: str | dict, defaults: dict | None = None, **overrides) -> LMConfig:
    """A preset name, a YAML file, a checkpoint folder, or a dict (``{"preset": NAME, **fields}``);
    ``defaults`` (e.g. sizes taken from the data) sit under a preset's or dict's own fields."""
    return preset_config(LMConfig, PRESETS, name_or_path, "LM", defaults, **overrides)
