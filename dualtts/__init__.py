"""DualTTS: zero-shot text-to-speech on DualCodec tokens.

Public face: :class:`Synthesizer` (``from dualtts import Synthesizer``; ``Synthesizer.from_pretrained()`` loads the
shipped default model), the ``dualtts`` CLI (:mod:`dualtts.cli`) and the evaluation metrics (:mod:`dualtts.metrics`).
"""
__version__ = "0.1.0"
__all__ = ["Synthesizer"]


def __getattr__(name: str):
    if name == "Synthesizer":  # imported on first use: the CLI's start-up does not pay for torch + transformers
        from dualtts.synthesizer import Synthesizer

        return Synthesizer
    raise AttributeError(f"module 'dualtts' has no attribute {name!r}")
