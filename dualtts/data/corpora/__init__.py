"""Corpus readers. Each returns a list of :class:`data.manifest.Utterance` (phonemes not yet filled in)."""
from dualtts.data.corpora.folder import read_csv_folder
from dualtts.data.corpora.hf import read_hf_dataset
from dualtts.data.corpora.libritts import download_libritts, read_libritts

__all__ = ["read_libritts", "download_libritts", "read_hf_dataset", "read_csv_folder"]
