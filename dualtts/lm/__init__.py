"""The semantic LM: phonemes + a voice prompt's first-layer tokens -> first-layer tokens, autoregressively."""
from dualtts.lm.config import PRESETS, LMConfig, get_lm_config
from dualtts.lm.model import SemanticLM
from dualtts.lm.sampler import SamplingConfig

__all__ = ["SemanticLM", "LMConfig", "PRESETS", "get_lm_config", "SamplingConfig"]
