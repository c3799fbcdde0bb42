"""Acoustic flow-stage configuration and presets."""
from __future__ import annotations

from dataclasses import dataclass

from dualtts.data.checkpoint import DictConfig, preset_config


@dataclass
class FlowConfig(DictConfig):
    WHAT = "flow"

    latent_dim: int = 1024           # the tokenizer's latent (Tokenizer.embed) width
    codebook_size: int = 16384       # first-layer codebook (semantic token embedding table)
    frame_rate: float = 12.5
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    cond_dropout: float = 0.2        # classifier-free guidance: drop semantic condition + prompt together
    prompt_dropout: float = 0.1      # drop only the prompt (learn to speak without a voice prompt)
    prompt_min: float = 0.1          # the clean prompt span during training: a prefix of this fraction...
    prompt_max: float = 0.7          # ...up to this fraction of the frames
    time_sampling: str = "logit_normal"  # uniform | logit_normal (flow time t during training)
    cond_dim: int = 0                # width of frame-aligned content states (the semantic LM's, `dualtts lm-states`); 0 = none


PRESETS: dict[str, dict] = {
    "tiny": dict(hidden_size=256, num_layers=4, num_heads=4),
    "base": dict(hidden_size=768, num_layers=12, num_heads=12),   # ≈100M transformer
}


def get_flow_config(name_or_path: str | dict, defaults: dict | None = None, **overrides) -> FlowConfig:
    """A preset name, a YAML file, a checkpoint folder, or a dict (``{"preset": NAME, **fields}``);
    ``defaults`` (e.g. sizes taken from the data) sit under a preset's or dict's own fields."""
    return preset_config(FlowConfig, PRESETS, name_or_path, "flow", defaults, **overrides)
