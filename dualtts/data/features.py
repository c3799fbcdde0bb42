"""Features and per-pair measures shared by training validation and the evaluation metrics (dualtts.metrics):
log-mel, mel L1, PESQ, STOI, speaker embeddings."""
from __future__ import annotations

import functools
import threading

import numpy as np
import torch

from dualtts.data.mel import filters_on, mel_filters


def log_mel(wav: np.ndarray, sr: int = 16000, n_fft: int = 1024, hop: int = 256, n_mels: int = 80) -> torch.Tensor:
    """``wav: [T]`` -> log-mel ``[n_mels, F]`` (natural log, floor 1e-5), torch STFT."""
    x = torch.as_tensor(wav, dtype=torch.float32)
    spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs()
    return torch.log(torch.clamp(filters_on(mel_filters, sr, n_fft, n_mels, device="cpu") @ spec, min=1e-5))


def mel_l1(ref: np.ndarray, hyp: np.ndarray, sr: int = 16000) -> float:
    """Mean absolute log-mel difference of two equal-rate signals (cut to the shorter)."""
    n = min(len(ref), len(hyp))
    return float((log_mel(ref[:n], sr) - log_mel(hyp[:n], sr)).abs().mean())


def _cut(ref: np.ndarray, hyp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(ref), len(hyp))
    return np.asarray(ref[:n], np.float32), np.asarray(hyp[:n], np.float32)


def pesq_wb(ref16: np.ndarray, hyp16: np.ndarray) -> float:
    """Wideband PESQ of two 16 kHz signals (cut to the shorter); NaN where PESQ finds no utterance."""
    from pesq import pesq

    try:
        return float(pesq(16000, *_cut(ref16, hyp16), "wb"))
    except Exception:  # no utterance detected, too short: not a score
        return float("nan")


def stoi16(ref16: np.ndarray, hyp16: np.ndarray, extended: bool = False) -> float:
    """STOI (0..1) of two 16 kHz signals (cut to the shorter)."""
    from pystoi import stoi

    return float(stoi(*_cut(ref16, hyp16), 16000, extended=extended))


_voice_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _voice_encoder():
    try:
        from resemblyzer import VoiceEncoder
    except ImportError:
        raise RuntimeError("speaker similarity needs resemblyzer: pip install webrtcvad-wheels && "
                           "pip install --no-deps resemblyzer==0.1.4") from None
    return VoiceEncoder("cpu", verbose=False)


def speaker_embedding(wav16: np.ndarray) -> np.ndarray:
    """Unit-norm GE2E (resemblyzer) speaker embedding of a 16 kHz clip."""
    from resemblyzer import preprocess_wav

    enc = _voice_encoder()
    threads = torch.get_num_threads()
    with _voice_lock:
        torch.set_num_threads(1)  # resemblyzer stalls beside other torch work with more threads
        try:
            w = preprocess_wav(wav16, source_sr=16000)
            if len(w) < 1600:  # its VAD trimmed nearly everything: fall back to the raw clip
                w = wav16
            e = enc.embed_utterance(w)
        finally:
            torch.set_num_threads(threads)
    return e / (np.linalg.norm(e) + 1e-9)


def validation_metrics(ref16: np.ndarray, hyp16: np.ndarray, sim: bool = False) -> dict[str, float]:
    """What training validation logs for a decoded clip against its original (both 16 kHz): ``mel`` (log-mel L1),
    and, where the package is installed, ``stoi``, ``pesq`` and (``sim``) speaker similarity."""
    out = {"mel": mel_l1(ref16, hyp16)}
    for name, fn in (("stoi", stoi16), ("pesq", pesq_wb)):
        try:
            out[name] = fn(ref16, hyp16)
        except ImportError:
            pass
    if sim:
        try:
            out["sim"] = float(np.dot(speaker_embedding(ref16), speaker_embedding(hyp16)))
        except (ImportError, RuntimeError):
            pass
    return out
