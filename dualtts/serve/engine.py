"""The model behind the speech server and the web demo, and the server's one worker.

- :class:`SpeechEngine`: one :class:`~dualtts.synthesizer.Synthesizer`, loaded on first use (or by ``load()``),
  the input checks both front ends share, and ``stream()``: text -> audio chunks, sentence by sentence, with
  ``self.lock`` held (two requests never run the model at once). ``dualtts.demo.engine.DemoEngine`` builds on it.
- :class:`SpeechWorker`: a bounded queue of :class:`Job` and one thread that runs them on the engine in turn
  (the CPU has few cores: one synthesis at a time is the fastest way through a queue, see dualtts/serve/__init__.py).

No web framework here: jobs report through a plain callback, ``job.emit(kind, value)``.
"""
from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


PROMPT_MAX_SECONDS = 15.0  # longest voice prompt
MAX_UPLOAD_MB = 20  # largest audio file taken as a voice prompt
MAX_TEXT_CHARS = 1000  # longest text of one request, unless the engine is told otherwise

log = logging.getLogger("dualtts.serve")


def check_upload(path: str, max_mb: float = MAX_UPLOAD_MB) -> None:
    """Refuse an audio file over ``max_mb`` with one line; a missing file is left to
    :func:`data.audio.load_audio` to report."""
    from dualtts.data.audio import AudioError

    try:
        size = Path(path).stat().st_size
    except OSError:
        return
    if size > max_mb * 1024 * 1024:
        raise AudioError(path, f"too big: {size / 2**20:.1f} MB, at most {max_mb:g} MB")


def check_prompt(path: str, max_seconds: float = PROMPT_MAX_SECONDS) -> None:
    """Size and duration of a voice prompt from its header, before the request waits for the model."""
    from dualtts.data.audio import AudioError, audio_info

    check_upload(path)
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        return  # load_audio says "file not found" / "empty file"
    sr, frames, _ = audio_info(path)
    if frames / max(sr, 1) > max_seconds:
        raise AudioError(path, f"too long: {frames / sr:.1f} s, at most {max_seconds:g} s allowed for a voice prompt")


class SpeechEngine:
    """``model``: a model folder (None: the shipped dualtts-mini), loaded on first use, then kept.
    ``max_chars``: the longest text one call may speak."""

    def __init__(self, model: str | None = None, device: str = "auto", language: str = "en-us",
                 max_chars: int = MAX_TEXT_CHARS):
        self.model, self.device, self.language, self.max_chars = model, device, language, max_chars
        self.lock = threading.Lock()
        self._tts = None

    @property
    def loaded(self) -> bool:
        return self._tts is not None

    @property
    def root(self) -> Path:
        """The model folder (it may not exist: a hub id); the default model's by dualtts.model_path's search
        order when none was given (DefaultModelNotFound, one line, when there is none)."""
        from dualtts.model_path import default_model_dir

        return Path(self.model) if self.model else default_model_dir()

    def synthesizer(self):
        """The Synthesizer (loaded now if it was not yet). Call with ``self.lock`` held."""
        if self._tts is None:
            from dualtts.synthesizer import Synthesizer

            self._tts = Synthesizer.from_pretrained(self.model, language=self.language, device=self.device)
        return self._tts

    def load(self) -> float:
        """Load the model now; -> seconds it took (0 when it was loaded already)."""
        with self.lock:
            t0, fresh = time.perf_counter(), self._tts is None
            self.synthesizer()
            return time.perf_counter() - t0 if fresh else 0.0

    def has_default_voice(self) -> bool:
        if self._tts is not None:
            return self._tts.default_prompt is not None
        return (self.root / "prompt.wav").is_file() and (self.root / "prompt.txt").is_file()

    def describe(self) -> str:
        """What the model does, in one sentence, from its folder (the model is not loaded for this)."""
        from dualtts.data.checkpoint import read_config

        lm = "a semantic LM writes the first codec layer"
        try:
            candidates = 1
            if (self.root / "reader" / "model.safetensors").is_file():
                import json

                bundle = self.root / "bundle.json"
                candidates = int((json.loads(bundle.read_text()) if bundle.is_file() else {}).get("candidates") or 4)
            if candidates > 1:
                lm += f" (the best of {candidates} samples, chosen by a token reader)"
            stage = read_config(self.root / "flow").get("stage")
        except (OSError, ValueError):
            return f"{lm}, an acoustic stage fills in the other layers, the codec decodes them."
        how = ("a non-autoregressive model (NAR) predicts the acoustic layers" if stage == "nar"
               else "a flow fills in the acoustic layers")
        return f"{lm}, {how}, the codec decodes them."

    def check(self, text: str, prompt: str | None = None, prompt_text: str | None = None) -> tuple[str, str | None]:
        """The checks made before a request waits for the model -> (text, prompt_text or None)."""
        from dualtts.data.text import TextError

        text = (text or "").strip()
        if not text:
            raise TextError("text", "nothing to say: the text is empty")
        if len(text) > self.max_chars:
            raise TextError("text", f"too long: {len(text)} characters, at most {self.max_chars} per request")
        prompt_text = (prompt_text or "").strip() or None
        if prompt is None and prompt_text is not None:
            raise ValueError("a prompt transcript was given without prompt audio")
        if prompt is not None:
            check_prompt(prompt)
        return text, prompt_text

    def stream(self, text: str, prompt: str | None = None, prompt_text: str | None = None, *, info: dict | None = None,
               seed: int = 0, steps: int = 16, cfg_scale: float = 2.0, **kw):
        """Check, then yield float32 audio chunks (one per sentence) with the lock held. ``prompt``: an audio
        file (None: the model's default voice), ``prompt_text``: its transcript (None: the offline ASR's).
        ``info``, when given, gets ``sample_rate``, ``load_s`` (when this call loaded the model) and, at the end,
        the Synthesizer's ``stats``. ``kw``: more :meth:`Synthesizer.synthesize_stream` arguments."""
        text, prompt_text = self.check(text, prompt, prompt_text)
        info = {} if info is None else info
        with self.lock:
            t0, fresh = time.perf_counter(), self._tts is None
            tts = self.synthesizer()
            info["load_s"] = time.perf_counter() - t0 if fresh else None
            info["sample_rate"] = tts.tokenizer.sample_rate
            yield from tts.synthesize_stream(text, prompt, prompt_text, seed=int(seed), steps=int(steps),
                                             cfg_scale=float(cfg_scale), max_prompt_seconds=PROMPT_MAX_SECONDS, **kw)
            info["stats"] = dict(tts.stats)


@dataclass
class Job:
    """One request. ``emit(kind, value)`` is called from the worker thread: ``("bytes", b)`` for each piece
    of the response, then ``("done", stats)``; or ``("error", exception)`` instead, at any point. ``encoder``:
    :class:`dualtts.serve.audio.Encoder`-like (``add(chunk) -> bytes``, ``finish() -> bytes``), made by
    ``make_encoder(sample_rate)`` once the model is loaded. ``voice``: a name of the worker's voice library."""

    text: str
    voice: str
    make_encoder: Callable
    emit: Callable[[str, object], None]
    speed: float = 1.0
    options: dict = field(default_factory=dict)
    cancelled: threading.Event = field(default_factory=threading.Event)
    queued_at: float = field(default_factory=time.monotonic)


class QueueFull(Exception):
    """The queue is full; ``retry_after``: seconds until a place is likely free."""

    def __init__(self, retry_after: int):
        super().__init__(f"the server is busy: retry in {retry_after} s")
        self.retry_after = retry_after


class SpeechWorker:
    """A queue of at most ``max_queue`` waiting jobs and one thread running them on ``engine``, one at a time.
    ``voices``: the voice library (``resolve(name) -> Voice``); ``options``: Synthesizer arguments of every job
    (steps, candidates, sampling...). ``start()`` loads the model in the thread first (``ready`` is set when it
    is loaded, ``load_error`` names what went wrong, the log says why)."""

    def __init__(self, engine: SpeechEngine, voices, max_queue: int = 8, options: dict | None = None):
        if max_queue < 1:
            raise ValueError(f"max_queue: {max_queue}, at least 1")
        self.engine, self.voices, self.options = engine, voices, dict(options or {})
        self.jobs: queue.Queue = queue.Queue(maxsize=max_queue)
        self.ready = threading.Event()
        self.load_error: str | None = None
        self.running: Job | None = None
        self.served = 0
        self._walls: deque = deque(maxlen=16)  # seconds of recent jobs, for Retry-After
        self._transcripts: dict = {}  # (path, mtime, size) -> the ASR's transcript of a voice without one
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dualtts-serve", daemon=True)

    def start(self) -> "SpeechWorker":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel what waits and what runs (it stops at the next sentence); wait up to ``timeout`` s for the thread."""
        self._stop.set()
        if self.running is not None:
            self.running.cancelled.set()
        while True:
            try:
                self.jobs.get_nowait().cancelled.set()
            except queue.Empty:
                break
        try:
            self.jobs.put_nowait(None)
        except queue.Full:
            pass
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def waiting(self) -> int:
        return self.jobs.qsize()

    def retry_after(self) -> int:
        """Seconds until a queue place is likely free: a place frees each time a job ends, so the mean time of
        recent jobs (10 s before any)."""
        return max(1, math.ceil(sum(self._walls) / len(self._walls) if self._walls else 10.0))

    def submit(self, job: Job) -> None:
        """Queue ``job``, or raise :class:`QueueFull`."""
        if self._stop.is_set():
            raise QueueFull(self.retry_after())
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            raise QueueFull(self.retry_after()) from None

    def _loop(self) -> None:
        try:
            seconds = self.engine.load()
            log.info("model loaded in %.1f s", seconds)
        except Exception as e:  # noqa: BLE001  (the server stays up and answers 503)
            self.load_error = type(e).__name__  # (what a client is told: the details, paths of this machine, go to the log)
            log.error("the model could not be loaded: %s", " ".join(f"{type(e).__name__}: {e}".split()))
        self.ready.set()
        while not self._stop.is_set():
            job = self.jobs.get()
            if job is None or self._stop.is_set():
                break
            if job.cancelled.is_set():
                continue
            self.running = job
            t0 = time.perf_counter()
            try:
                self._run(job)
            except Exception as e:  # noqa: BLE001  (reported to the request; the worker goes on)
                job.emit("error", e)
            finally:
                self.running = None
                self._walls.append(time.perf_counter() - t0)
                self.served += 1

    def _prompt(self, voice) -> tuple[str | None, str | None]:
        """A voice -> (audio file or None for the model's default voice, transcript); a voice without a
        transcript is transcribed once by the offline ASR and remembered."""
        if voice.audio is None or voice.transcript is not None:
            return voice.audio, voice.transcript
        from dualtts.data.audio import load_audio

        st = Path(voice.audio).stat()
        key = (voice.audio, st.st_mtime_ns, st.st_size)
        if key not in self._transcripts:
            try:
                with self.engine.lock:
                    tts = self.engine.synthesizer()
                    wav, _ = load_audio(voice.audio, tts.tokenizer.sample_rate, min_seconds=0.5, max_seconds=PROMPT_MAX_SECONDS)
                    self._transcripts[key] = tts.transcribe_prompt(wav, f"voice {voice.name}")
            except ValueError as e:  # no ASR installed, no words heard, a bad clip: the server's voice, not the request
                problem = getattr(e, "problem", None) or str(e).split(": ", 1)[-1]
                raise VoiceUnusable(f"voice {voice.name!r} has no transcript and none could be made: {problem}") from None
        return voice.audio, self._transcripts[key]

    def _run(self, job: Job) -> None:
        from dualtts.serve.audio import time_stretch

        if self.load_error is not None:
            raise ModelUnavailable(f"the model could not be loaded ({self.load_error}; the server's log says why)")
        prompt, transcript = self._prompt(self.voices.resolve(job.voice))
        info: dict = {}
        wait_s = time.monotonic() - job.queued_at
        encoder, chunks = None, self.engine.stream(job.text, prompt, transcript, info=info, **{**self.options, **job.options})
        try:
            for chunk in chunks:
                if job.cancelled.is_set():
                    log.info("cancelled (the client went away) after %.1f s of audio", encoder.samples / info["sample_rate"]
                             if encoder else 0.0)
                    return
                if encoder is None:
                    encoder = job.make_encoder(info["sample_rate"])
                data = encoder.add(time_stretch(chunk, job.speed, info["sample_rate"]))
                if data:
                    job.emit("bytes", data)
        finally:
            chunks.close()  # (releases the engine's lock when the loop was left early)
        if encoder is None or encoder.samples == 0:
            raise RuntimeError("the model produced no audio for this text")
        tail = encoder.finish()
        if tail:
            job.emit("bytes", tail)
        stats = {**info.get("stats", {}), "queue_wait_s": round(wait_s, 3), "speed": job.speed,
                 "response_seconds": round(encoder.samples / info["sample_rate"], 3)}
        log.info("spoke %d characters as %s: %s", len(job.text), job.voice, stats)
        job.emit("done", stats)


class ModelUnavailable(RuntimeError):
    """The model could not be loaded (503)."""


class VoiceUnusable(RuntimeError):
    """A voice of the server's voices folder cannot be used (500: the server's problem, not the request's)."""
