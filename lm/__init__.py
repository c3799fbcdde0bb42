"""The semantic LM: phonemes + a voice prompt's first-layer tokens -> first-layer tokens, autoregressively."""
from lm.config import PRESETS, LMConfig, get_lm_config
from lm.model import SemanticLM
from lm.sampler import SamplingConfig

__all__ = ["SemanticLM", "LMConfig", "PRESETS", "get_lm_config", "SamplingConfig"]
