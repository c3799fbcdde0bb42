"""DualTTS: zero-shot text-to-speech on DualCodec tokens.

Public face: the ``dualtts`` CLI (:mod:`dualtts.cli`) and the evaluation metrics
(:mod:`dualtts.metrics`). ``Synthesizer`` arrives with the LM and flow stages.
"""
__version__ = "0.1.0"
