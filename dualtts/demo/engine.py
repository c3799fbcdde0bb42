"""The model behind the demo: one :class:`~dualtts.synthesizer.Synthesizer`, loaded on first use, and the two
jobs the pages run on it (text to speech, codec round trip), one at a time.

No gradio here: the functions take plain values and return numpy audio plus numbers; bad input raises the
project's one-line errors (:class:`data.audio.AudioError`, :class:`data.text.TextError`, ``ValueError``),
which the pages turn into messages.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CODEC_MAX_SECONDS = 30.0  # longest upload the codec page takes (one forward pass, no chunking)
PROMPT_MAX_SECONDS = 15.0  # longest voice prompt
MAX_TEXT_CHARS = 1000  # longest text one request may synthesize (the CLI takes more, a shared page should not)
MAX_UPLOAD_MB = 20  # largest audio file the pages take (also gradio's upload limit, see demo.app.launch)


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


def check_upload(path: str) -> None:
    """Refuse an audio file over :data:`MAX_UPLOAD_MB` (a request that did not come through gradio's upload
    limit), with one line; a missing file is left to :func:`data.audio.load_audio` to report."""
    from dualtts.data.audio import AudioError

    try:
        size = Path(path).stat().st_size
    except OSError:
        return
    if size > MAX_UPLOAD_MB * 1024 * 1024:
        raise AudioError(path, f"too big: {size / 2**20:.1f} MB, at most {MAX_UPLOAD_MB} MB")


def check_prompt(path: str, max_seconds: float = PROMPT_MAX_SECONDS) -> None:
    """Size and duration of a voice prompt from its header, before the request waits for the model."""
    from dualtts.data.audio import AudioError, audio_info

    check_upload(path)
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        return  # load_audio says "file not found" / "empty file"
    sr, frames, _ = audio_info(path)
    if frames / max(sr, 1) > max_seconds:
        raise AudioError(path, f"too long: {frames / sr:.1f} s, at most {max_seconds:g} s allowed for a voice prompt")


def bitrate_kbps(frame_rate: float, codebook_sizes: list[int], layers: int) -> float:
    """frame rate x sum over the first ``layers`` codebooks of log2(size), in kbit/s."""
    return frame_rate * sum(math.log2(s) for s in codebook_sizes[:layers]) / 1000


class DemoEngine:
    """``model``: a model folder (None: the shipped dualtts-mini); loaded on the first request, then kept.
    Every inference holds ``self.lock``, so two requests never run the model at once."""

    def __init__(self, model: str | None = None, device: str = "auto", language: str = "en-us"):
        self.model, self.device, self.language = model, device, language
        self.lock = threading.Lock()
        self._tts = None

    @property
    def loaded(self) -> bool:
        return self._tts is not None

    def synthesizer(self):
        """The Synthesizer (loaded now if it was not yet). Call with ``self.lock`` held."""
        if self._tts is None:
            from dualtts.synthesizer import Synthesizer

            self._tts = Synthesizer.from_pretrained(self.model, language=self.language, device=self.device)
        return self._tts

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

    def has_default_voice(self) -> bool:
        from dualtts.model_path import default_model_dir

        if self._tts is not None:
            return self._tts.default_prompt is not None
        root = Path(self.model) if self.model else default_model_dir()
        return (root / "prompt.wav").is_file() and (root / "prompt.txt").is_file()

    def synthesize(self, text: str, prompt: str | None = None, prompt_text: str | None = None, *, seed: int = 0,
                   steps: int = 16, cfg_scale: float = 2.0, **sampling) -> Synthesis:
        """``prompt``: an audio file (None: the model's default voice); ``prompt_text``: its transcript (None or
        blank: transcribed by the offline ASR). ``sampling``: :class:`lm.sampler.SamplingConfig` fields."""
        from dualtts.data.text import TextError

        text = (text or "").strip()
        if not text:
            raise TextError("text", "nothing to say: the text is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise TextError("text", f"too long: {len(text)} characters, at most {MAX_TEXT_CHARS} in the demo")
        prompt_text = (prompt_text or "").strip() or None
        if prompt is None and prompt_text is not None:
            raise ValueError("a prompt transcript was given without prompt audio")
        if prompt is not None:
            check_prompt(prompt)
        with self.lock:
            t0 = time.perf_counter()
            fresh = self._tts is None
            tts = self.synthesizer()
            load_s = time.perf_counter() - t0 if fresh else None
            wav = tts(text, prompt, prompt_text, seed=int(seed), steps=int(steps), cfg_scale=float(cfg_scale),
                      max_prompt_seconds=PROMPT_MAX_SECONDS, **sampling)
            stats = dict(tts.stats)
        if wav.size == 0:
            raise ValueError("the model produced no audio for this text (try another seed)")
        return Synthesis(tts.tokenizer.sample_rate, wav, stats.get("seconds", wav.size / tts.tokenizer.sample_rate),
                         stats.get("wall_s", 0.0), stats.get("rtf", 0.0), load_s)

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
