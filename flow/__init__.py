"""The acoustic flow stage: first-layer tokens + a voice prompt -> the tokenizer's acoustic latent (flow matching)."""
from flow.config import PRESETS, FlowConfig, get_flow_config
from flow.infer import fill_utterance, split_latent
from flow.model import AcousticFlow

__all__ = ["AcousticFlow", "FlowConfig", "PRESETS", "get_flow_config", "fill_utterance", "split_latent"]
