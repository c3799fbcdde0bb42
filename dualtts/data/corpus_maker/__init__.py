"""Offline corpus maker: a LibriTTS-shaped corpus synthesized from the speech engines on the machine."""
from dualtts.data.corpus_maker.engines import CATALOG, ENGINES, Voice, available_voices, engine_available, synthesize
from dualtts.data.corpus_maker.maker import CorpusSpec, make_corpus, read_speakers_table

__all__ = ["CATALOG", "ENGINES", "Voice", "available_voices", "engine_available", "synthesize",
           "CorpusSpec", "make_corpus", "read_speakers_table"]
