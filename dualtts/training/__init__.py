"""The one training loop (on accelerate) that codec, lm and flow plug their steps into."""
from dualtts.training.loop import Trainer, TrainConfig

__all__ = ["Trainer", "TrainConfig"]
