"""The acoustic flow stage: first-layer tokens + a voice prompt -> the tokenizer's acoustic latent (flow matching)."""
from dualtts.flow.config import PRESETS, FlowConfig, get_flow_config
from dualtts.flow.infer import fill_utterance, split_latent
from dualtts.flow.model import AcousticFlow

__all__ = ["AcousticFlow", "FlowConfig", "PRESETS", "get_flow_config", "fill_utterance", "split_latent"]
