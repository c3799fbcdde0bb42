"""Evaluation metrics: WER, transcript likelihood (NLL), speaker similarity, DNSMOS, PESQ-wb, STOI, mel distance.

Every function takes paths or arrays (arrays at ``sample_rate``, default 24 kHz) and returns a
:class:`Score` (``mean`` float and per-item ``items`` list). Models are loaded once per process
and cached. The defaults work offline (models shipped in PyPI packages); pass a model name or a
local folder to use the field's standard ones.
"""
from dualtts.metrics.common import Score
from dualtts.metrics.asr import transcribe, transcript_nll, wer
from dualtts.metrics.quality import dnsmos
from dualtts.metrics.signal import mel_distance, pesq, stoi
from dualtts.metrics.speaker import speaker_similarity

__all__ = ["Score", "wer", "transcript_nll", "transcribe", "speaker_similarity", "dnsmos", "pesq", "stoi", "mel_distance"]
