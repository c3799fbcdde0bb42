"""The model behind the demo: a :class:`~dualtts.serve.engine.SpeechEngine` (one Synthesizer, loaded on first
use, one inference at a time; shared with ``dualtts serve``), and the two jobs the pages run on it (text to speech,
codec round trip).

No gradio here: the functions take plain values and return numpy audio plus numbers; bad input raises the
project's one-line errors (:class:`data.audio.AudioError`, :class:`data.text.TextError`, ``ValueError``),
which the pages turn into messages.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dualtts.serve.engine import MAX_UPLOAD_MB, PROMPT_MAX_SECONDS, SpeechEngine, check_prompt, check_upload  # noqa: F401

CODEC_MAX_SECONDS = 30.0  # longest upload the codec page takes (one forward pass, no chunking)
MAX_TEXT_CHARS = 1000  # longest text one request may synthesize (the CLI takes more, a shared page should not)


@dataclass
class Synthesis:
    sample_rate: int
    wav: np.ndarray  # float32 [T]
    seconds: float  # of audio
    wall_s: float  # synthesis time (the model's loading not included)
    rtf: float  # wall_s / seconds
    load_s: float | None = None  # model loading time, when this call loaded it


@dataclass
class Reconstruction:
    sample_rate: int
    original: np.ndarray  # float32 [T] at sample_rate
    decoded: np.ndarray  # float32 [T]
    layers: int
    kbps: float
    wall_s: float


def bitrate_kbps(frame_rate: float, codebook_sizes: list[int], layers: int) -> float:
    """frame rate x sum over the first ``layers`` codebooks of log2(size), in kbit/s."""
    return frame_rate * sum(math.log2(s) for s in codebook_sizes[:layers]) / 1000


class DemoEngine(SpeechEngine):
    """``model``: a model folder (None: the shipped dualtts-mini); loaded on the first request, then kept.
    Every inference holds ``self.lock``, so two requests never run the model at once."""

    def __init__(self, model: str | None = None, device: str = "auto", language: str = "en-us"):
        super().__init__(model, device, language, max_chars=MAX_TEXT_CHARS)

    def codec_layers(self) -> int:
        """Number of RVQ layers of the model's codec, from its config when the folder is local (no loading)."""
        if self._tts is None:
            from dualtts.codec.config import get_config
            from dualtts.model_path import default_model_dir

            cfg = Path(self.model) / "codec" if self.model else default_model_dir() / "codec"
            if (cfg / "config.yaml").is_file():
                return len(get_config(str(cfg)).codebook_sizes)
        with self.lock:
            return len(self.synthesizer().tokenizer.codebook_sizes)

    def synthesize(self, text: str, prompt: str | None = None, prompt_text: str | None = None, *, seed: int = 0,
                   steps: int = 16, cfg_scale: float = 2.0, **sampling) -> Synthesis:
        """``prompt``: an audio file (None: the model's default voice); ``prompt_text``: its transcript (None or
        blank: transcribed by the offline ASR). ``sampling``: :class:`lm.sampler.SamplingConfig` fields."""
        t0, info = time.perf_counter(), {}
        pieces = list(self.stream(text, prompt, prompt_text, info=info, seed=seed, steps=steps, cfg_scale=cfg_scale,
                                  **sampling))
        wav = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        stats, sr, load_s = info.get("stats", {}), info["sample_rate"], info["load_s"]
        if wav.size == 0:
            raise ValueError("the model produced no audio for this text (try another seed)")
        return Synthesis(sr, wav, stats.get("seconds", wav.size / sr), stats.get("wall_s", time.perf_counter() - t0),
                         stats.get("rtf", 0.0), load_s)

    def reconstruct(self, path: str, layers: int | None = None) -> Reconstruction:
        """Encode the audio file with the model's codec and decode its first ``layers`` RVQ layers (None: all)."""
        import torch

        from dualtts.data.audio import load_audio

        if not path:
            raise ValueError("no audio given: upload or record some")
        check_upload(path)
        with self.lock:
            tts = self.synthesizer()
            tok = tts.tokenizer
            n_q = len(tok.codebook_sizes)
            layers = n_q if layers is None else int(layers)
            if not 1 <= layers <= n_q:
                raise ValueError(f"layers: {layers} is not between 1 and {n_q}")
            wav, sr = load_audio(path, tok.sample_rate, min_seconds=0.1, max_seconds=CODEC_MAX_SECONDS)
            t0 = time.perf_counter()
            with torch.inference_mode():
                x = torch.from_numpy(wav).to(tts.device)[None, None]
                codes = tok.encode(x)[:, :layers]
                out = tok.decode(codes, lengths=x.shape[-1])[0, 0].float().cpu().numpy()
            wall = time.perf_counter() - t0
        return Reconstruction(sr, wav, out.astype(np.float32), layers, bitrate_kbps(tok.frame_rate, list(tok.codebook_sizes), layers),
                              wall)
