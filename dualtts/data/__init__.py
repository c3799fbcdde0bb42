"""DualTTS data layer: audio I/O, text frontend, corpora, manifests, batching, offline corpus maker.

This package knows nothing about models. Everything that reads audio or text in DualTTS goes
through here, so bad input fails in one place with one error type per domain:
:class:`data.audio.AudioError` and :class:`data.text.TextError`.
"""
from dualtts.data.audio import AudioError, load_audio, save_audio

__all__ = ["AudioError", "load_audio", "save_audio"]
