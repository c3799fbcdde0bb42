"""``Synthesizer``: text + a voice prompt (audio and its transcript) -> speech, through the three stages.

    tts = Synthesizer.from_pretrained()                      # the shipped default model (dualtts-mini)
    wav = tts("Text to speak.")                             # its default voice; float32 [T] at 24 kHz
    wav = tts("Text to speak.", prompt="voice.wav", prompt_text="What the voice says.")   # zero-shot
    tts = Synthesizer.from_pretrained("folder")              # a folder with codec/ lm/ flow/ (+ prompt.wav, prompt.txt)
    tts = Synthesizer.from_pretrained(lm="…/lm", flow="…/flow", tokenizer="dualcodec:…")
    tts = Synthesizer.from_pretrained("amphion/dualcodec-tts")   # the published DualCodec TTS (dualtts.published)

Long text is split into sentences; each is synthesized with the same prompt and the pieces are joined
with a short cross-fade. ``tts.synthesize_stream(text)`` yields the pieces as they are ready
(``tts.stats["ttfa_s"]``: time to the first audio).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch

from dualtts.data.audio import load_audio, normalize_prompt
from dualtts.data.checkpoint import resolve_device
from dualtts.data.text import Phonemizer, TextError, check_text, normalize_text
from dualtts.model_path import default_model_dir


def split_sentences(text: str, max_chars: int = 200) -> list[str]:
    """Sentences (on . ! ? ;), long ones cut at commas or spaces to at most ``max_chars``."""
    parts = [p.strip() for p in re.split(r"(?<=[.!?;])\s+", text.strip()) if p.strip()]
    out = []
    for p in parts:
        while len(p) > max_chars:
            cut = max(p.rfind(",", 0, max_chars), p.rfind(" ", 0, max_chars))
            cut = cut if cut > 0 else max_chars
            out.append(p[: cut + 1].strip())
            p = p[cut + 1:].strip()
        if p:
            out.append(p)
    return out


CONTENT_PROMPTS = ("prompt", "default")


class Synthesizer:
    max_text_chars = 5000  # one call; longer texts go through --batch or several calls
    # with a prompt given: what the LM continues ("default": the model's default voice, while the acoustic stage
    # continues the given prompt, the voice; "prompt": the given prompt). "default" keeps the words of real voices the
    # LM never heard (recipes/mini/generalize.md: WER 0.38 against 0.96 on 5 real speakers); a model without a default
    # voice continues the prompt. A model folder's bundle.json "content_prompt" or the call's argument overrides it.
    content_prompt: str = "default"
    # a given prompt is trimmed, band-limited to 8 kHz and set to the corpus level first (dualtts.data.audio.normalize_prompt)
    prompt_normalize: bool = False
    # with content_prompt "default": the target frames' LM states (what the acoustic stage reads for the words) read
    # after the default voice the LM continued ("content"), or after the given prompt ("prompt"); "content" keeps the
    # words (recipes/mini/generalize.md: real-voice WER 0.42 -> 0.37)
    content_states: str = "content"
    # with a prompt given: each output is filtered by the EQ that undoes the codec's colour of the prompt's voice
    # (dualtts.voice_eq; SIM +0.01 on the real voices); bundle.json "prompt_eq" or the call's argument overrides it
    prompt_eq: bool = True
    prompt_min_rms: float | None = None  # a quieter prompt is raised to this RMS before encoding (None: as it is)

    def __init__(self, lm, flow, tokenizer, symbols, language: str = "en-us", device: str | torch.device = "cpu",
                 default_prompt: tuple[str, str] | None = None, reader=None, candidates: int | None = None):
        if lm.cfg.codebook_size != tokenizer.codebook_sizes[0] or flow.cfg.codebook_size != tokenizer.codebook_sizes[0]:
            raise ValueError(f"first-layer codebook sizes differ: LM {lm.cfg.codebook_size}, flow {flow.cfg.codebook_size}, "
                             f"tokenizer {tokenizer.codebook_sizes[0]} (trained on another tokenizer?)")
        if flow.cfg.cond_dim and flow.cfg.cond_dim != lm.cfg.hidden_size:
            raise ValueError(f"the flow reads LM states of width {flow.cfg.cond_dim} but the LM is {lm.cfg.hidden_size} wide "
                             "(a flow trained with another LM?)")
        self.lm, self.flow, self.tokenizer, self.symbols = lm, flow, tokenizer, symbols
        self.language = language
        self.phonemizer = Phonemizer(language) if symbols is not None else None  # None: an LM that reads text
        self.device = torch.device(device)
        self.default_prompt = default_prompt  # (wav path, transcript) used when no prompt is given
        if reader is not None and reader.cfg.codebook_size != lm.cfg.codebook_size:
            raise ValueError(f"the token reader reads a {reader.cfg.codebook_size} codebook but the LM writes {lm.cfg.codebook_size}")
        self.reader = reader  # lm.reader.TokenReader: best-of-N LM sampling (None: one sample)
        # LM samples per sentence when a call does not say (best of them by the reader): the model folder's
        # bundle.json "candidates", else 4 with a reader
        self.default_candidates = 1 if reader is None else int(candidates or 4)
        self.sampling_defaults: dict = {}  # LM sampling settings a model folder sets (bundle.json good_enough, round_size)

    @classmethod
    def from_pretrained(cls, path: str | None = None, *, lm: str | None = None, flow: str | None = None,
                        tokenizer: str | None = None, reader: str | None = None, language: str = "en-us",
                        device: str = "auto", quantize: str = "none") -> "Synthesizer":
        """``path``: a model folder with ``codec/``, ``lm/``, ``flow/`` (optionally ``reader/``, the token reader
        of best-of-N sampling, and a default voice ``prompt.wav`` + ``prompt.txt``); None: the shipped default
        model. Or the parts by ``lm``/``flow``/``tokenizer`` (+ ``reader``).
        ``"amphion/dualcodec-tts"`` or a folder of its two files: the published model (``tokenizer``: its codec,
        default ``amphion/dualcodec:12hz``; :mod:`dualtts.published`)."""
        from dualtts.codec.tokenizer import load_tokenizer, tokenizer_spec
        from dualtts.lm.model import quantize_for_cpu
        from dualtts.flow.infer import attach_tuned_decoder, load_acoustic_stage
        from dualtts.lm.model import SemanticLM

        from dualtts.published import is_published, load_published

        if path is not None and lm is None and flow is None and is_published(path):
            return PublishedSynthesizer(**load_published(path, tokenizer=tokenizer, language=language, device=device,
                                                         quantize=quantize))
        prompt, candidates, settings = None, None, {}
        if lm is None and flow is None and tokenizer is None:
            root = Path(path) if path is not None else default_model_dir()
            if path is not None and not root.exists():
                from huggingface_hub import snapshot_download  # a hub id, for users with internet

                root = Path(snapshot_download(str(path)))
            for part in ("codec", "lm", "flow"):
                if not (root / part / "model.safetensors").is_file():
                    raise FileNotFoundError(f"{root}: not a DualTTS model folder (missing {part}/model.safetensors)")
            lm, flow, tokenizer = str(root / "lm"), str(root / "flow"), f"dualcodec:{root / 'codec'}"
            if (root / "reader" / "model.safetensors").is_file():
                reader = str(root / "reader")
            if (root / "bundle.json").is_file():
                settings = json.loads((root / "bundle.json").read_text())
                candidates = settings.get("candidates")
            if (root / "prompt.wav").is_file() and (root / "prompt.txt").is_file():
                prompt = (str(root / "prompt.wav"), (root / "prompt.txt").read_text(encoding="utf-8").strip())
        elif None in (lm, flow, tokenizer) or path is not None:
            raise ValueError("give a model folder, or all three of lm=, flow= and tokenizer=")
        device = resolve_device(device)
        lm_model = SemanticLM.from_pretrained(lm, device)
        symbols = lm_model.symbols()
        if symbols is None:
            raise FileNotFoundError(f"{lm}: no symbols.json (the phoneme table) in the LM checkpoint")
        tok = load_tokenizer(tokenizer_spec(tokenizer), device)
        reader_model = None
        if reader is not None:
            from dualtts.lm.reader import TokenReader

            reader_model = TokenReader.from_pretrained(reader, device)
        stage = load_acoustic_stage(flow, device)
        attach_tuned_decoder(stage, tok)  # the codec decoder tuned for this stage, when its folder has one
        tts = cls(quantize_for_cpu(lm_model, quantize), stage, tok, symbols, language, device,
                  default_prompt=prompt, reader=reader_model, candidates=candidates)
        # the model folder's defaults (bundle.json): what the LM continues with a prompt, best-of-N in rounds
        if settings.get("content_prompt") in CONTENT_PROMPTS:
            tts.content_prompt = settings["content_prompt"]
        for key in ("prompt_normalize", "prompt_eq"):
            if isinstance(settings.get(key), bool):
                setattr(tts, key, settings[key])
        tts.sampling_defaults = {k: settings[k] for k in ("good_enough", "round_size") if settings.get(k) is not None}
        return tts

    def transcribe_prompt(self, wav: np.ndarray, source: str, asr_model: str = "base") -> str:
        """The prompt's transcript from the offline ASR (Whisper base; needs the eval extra), said on stderr."""
        import sys

        try:
            from dualtts.metrics.asr import transcribe
        except ImportError as e:
            raise ValueError(f"{source}: no prompt transcript given, and no ASR to make one ({e}); pass prompt_text") from None
        text = transcribe([wav], model=asr_model, sample_rate=self.tokenizer.sample_rate)[0].strip()
        if not text:
            raise ValueError(f"{source}: no prompt transcript given, and the ASR heard no words in it; pass prompt_text")
        print(f"{source}: no transcript given; the ASR heard: {text!r}", file=sys.stderr)
        return text

    def _phonemes(self, text: str, source: str) -> list[int]:
        """Phoneme ids; punctuation the table lacks (a corpus without questions has no '?') is dropped, an
        unknown phoneme is an error."""
        ph = self.phonemizer(text, source=source)
        return self.symbols.encode(self.symbols.drop_missing_punctuation(ph), source=source)

    def _prompt(self, prompt, prompt_text: str | None, max_prompt_seconds: float):
        """-> (codes [Q, Fp], prompt phoneme ids, source name, wav [T] as encoded); the default voice when ``prompt``
        is None."""
        if prompt is None:
            if self.default_prompt is None:
                raise ValueError("no prompt given and this model has no default voice (prompt.wav + prompt.txt)")
            key = (max_prompt_seconds, self.prompt_min_rms)
            if getattr(self, "_default_prompt_cache", (None,))[0] != key:  # encoded once, not on every call
                self._default_prompt_cache = (key, self._encode_prompt(*self.default_prompt, max_prompt_seconds, False))
            return self._default_prompt_cache[1]
        return self._encode_prompt(prompt, prompt_text, max_prompt_seconds, self.prompt_normalize)

    def _encode_prompt(self, prompt, prompt_text: str | None, max_prompt_seconds: float, normalize: bool):
        """A prompt (path or float array) -> (codes [Q, Fp], prompt phoneme ids, source name, wav [T]); ``normalize``:
        :func:`dualtts.data.audio.normalize_prompt` first (never for the model's own default voice)."""
        sr = self.tokenizer.sample_rate
        if isinstance(prompt, (str, bytes)) or hasattr(prompt, "__fspath__"):
            wav, _ = load_audio(prompt, sr, min_seconds=0.5, max_seconds=max_prompt_seconds, require_speech=True)
            src = str(prompt)
        else:
            wav, src = np.asarray(prompt, dtype=np.float32), "prompt"
        if prompt_text is None:
            prompt_text = self.transcribe_prompt(wav, src)
        rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if wav.size else 0.0
        if self.prompt_min_rms and 0 < rms < self.prompt_min_rms:
            wav = (wav * (self.prompt_min_rms / rms)).astype(np.float32)
        if normalize:
            wav = normalize_prompt(wav, sr)
        codes = self.tokenizer.encode(torch.from_numpy(wav).to(self.device)[None, None])[0]  # [Q, Fp]
        return codes, self._phonemes(prompt_text, f"{src} (prompt text)"), src, wav

    def _semantic_tokens(self, prompt_ph, target, codes: torch.Tensor, seed: int, candidates: int = 1, content=None,
                         **sampling):
        """One sentence's first-layer tokens [F] from the LM (prompt + target text, the prompt's codes [Q, Fp];
        the best of ``candidates`` samples by the token reader), and the LM states the flow reads (None if it
        reads none). ``content``: (codes, phoneme ids) of another prompt that the LM continues instead (the
        default voice, see ``content_prompt``); the states of the given prompt's frames are read with it in front
        (the acoustic stage continues it), the target's after the prompt the LM continued (``content_states``
        "content"; "prompt": after the given prompt too)."""
        from dualtts.lm.rerank import generate_best_of

        def text_ids(p):  # the prompt's phonemes, a word break, the target's
            return torch.tensor(p + self.symbols.encode(" ") + target)

        ph = text_ids(prompt_ph)
        lm_codes, lm_ph = (codes, ph) if content is None else (content[0], text_ids(content[1]))
        tokens = generate_best_of(self.lm, self.reader, [lm_ph], [lm_codes[0]], [target], candidates=candidates, seed=seed,
                                  target_phonemes=[len(target)], **sampling)[0]
        tokens = tokens[tokens >= 0]
        cond = None
        if tokens.numel() and self.flow.cfg.cond_dim:  # the flow reads the LM's states: where in the text each frame is
            if content is not None and self.content_states == "content":  # the target's states as the LM wrote them
                head = self.lm.speech_states([ph], [codes[0]])[0]  # the given prompt's frames (a causal LM: the same)
                own = self.lm.speech_states([lm_ph], [torch.cat([lm_codes[0], tokens])])[0]
                cond = torch.cat([head, own[lm_codes.shape[1]:]])
            else:
                cond = self.lm.speech_states([ph], [torch.cat([codes[0], tokens])])[0]
        return tokens, cond

    @torch.inference_mode()
    def synthesize_stream(self, text: str, prompt=None, prompt_text: str | None = None, seed: int = 0, steps: int = 16,
                          cfg_scale: float = 2.0, max_prompt_seconds: float = 15.0, fade_s: float = 0.02, gap_s: float = 0.1,
                          candidates: int | None = None, adapt_steps: int = 0, content_prompt: str | None = None,
                          prompt_eq: bool | None = None, **sampling):
        """Like :meth:`__call__`, but yields float32 audio chunks as each sentence is ready (the prompt is read
        once and carried over; ``gap_s`` of silence and ``fade_s`` fades at the seams; the chunks joined are
        what ``__call__`` returns). ``self.stats`` afterwards: ``ttfa_s`` (time to the first chunk),
        ``seconds`` of audio, ``wall_s``, ``rtf``."""
        import time

        t0 = time.perf_counter()
        self.stats = {}
        candidates = self.default_candidates if candidates is None else int(candidates)
        if candidates < 1:
            raise ValueError(f"candidates must be at least 1, got {candidates}")
        if candidates > 1 and self.reader is None:
            raise ValueError(f"candidates={candidates}: best-of-N sampling needs a model with a token reader (reader/)")
        sentences = split_sentences(check_text(text, self.language, self.max_text_chars))
        if not sentences:
            raise TextError("text", "nothing to say: the text is empty")
        targets = [self._phonemes(x, f"text sentence {i + 1}") for i, x in enumerate(sentences)]  # all errors up front
        codes, prompt_ph, _, prompt_wav = self._prompt(prompt, prompt_text, max_prompt_seconds)
        content_prompt = self.content_prompt if content_prompt is None else content_prompt
        sampling = {**(self.sampling_defaults if candidates > 1 else {}), **sampling}
        if content_prompt not in CONTENT_PROMPTS:
            raise ValueError(f"content_prompt must be one of {', '.join(CONTENT_PROMPTS)}, got {content_prompt!r}")
        content = None
        if content_prompt == "default" and prompt is not None and self.default_prompt is not None:
            content = self._prompt(None, None, max_prompt_seconds)[:2]  # the LM continues the voice it knows
        from dualtts.flow.infer import fill_utterance

        eq = None
        if prompt is not None and (self.prompt_eq if prompt_eq is None else prompt_eq):  # the prompt's colour back
            from dualtts.voice_eq import VoiceEQ

            decoded = self.tokenizer.decode(codes[None])[0, 0].float().cpu().numpy()
            eq = VoiceEQ.fit(prompt_wav, decoded, self.tokenizer.sample_rate)

        sr, n_fade, total = self.tokenizer.sample_rate, int(fade_s * self.tokenizer.sample_rate), 0
        for i, target in enumerate(targets):
            tokens, cond = self._semantic_tokens(prompt_ph, target, codes, seed + i, candidates=candidates, content=content,
                                                 **sampling)
            if tokens.numel() == 0:
                continue
            # (CPU tensors in: fill_utterance reads them through numpy and moves them to the flow's device)
            out = fill_utterance(self.flow, self.tokenizer, tokens.cpu(), prompt_codes=codes.cpu(), prompt_seconds=None, steps=steps,
                                 cfg_scale=cfg_scale, seed=seed + i, cond=cond, nar_adapt_steps=adapt_steps)
            piece = out[0, 0].float().cpu().numpy().astype(np.float32)
            if eq is not None:
                piece = eq(piece)
            if n_fade and len(piece) > 2 * n_fade:
                if total:
                    piece[:n_fade] *= np.linspace(0, 1, n_fade, dtype=np.float32)
                if i < len(targets) - 1:
                    piece[-n_fade:] *= np.linspace(1, 0, n_fade, dtype=np.float32)
            if total:
                piece = np.concatenate([np.zeros(int(gap_s * sr), np.float32), piece])
            if not total:
                self.stats["ttfa_s"] = round(time.perf_counter() - t0, 3)
            total += len(piece)
            yield piece
        wall = time.perf_counter() - t0
        self.stats.update(seconds=round(total / sr, 3), wall_s=round(wall, 3), rtf=round(wall / max(total / sr, 1e-9), 4))

    def __call__(self, text: str, prompt=None, prompt_text: str | None = None, seed: int = 0, steps: int = 16, cfg_scale: float = 2.0,
                 max_prompt_seconds: float = 15.0, candidates: int | None = None, adapt_steps: int = 0,
                 content_prompt: str | None = None, prompt_eq: bool | None = None, **sampling) -> np.ndarray:
        """text; prompt: audio path or float array at the tokenizer's rate; prompt_text: its transcript
        -> float32 wav [T] at ``tokenizer.sample_rate``. ``candidates``: LM samples per sentence, the token reader
        keeps the one that says the text best (default 4 with a reader, else 1). ``adapt_steps``: a NAR acoustic
        stage is first fine-tuned on the prompt's codes for this many steps (test-time adaptation, per sentence:
        SIM +0.024 on the mini model, acoustic stage ~13x slower; recipes/mini/speak_experiments.md). ``sampling``:
        :class:`lm.sampler.SamplingConfig` fields. ``content_prompt`` (with a ``prompt``): ``"prompt"``, the LM
        continues the given prompt; ``"default"``, the LM continues the model's default voice (the words) while the
        acoustic stage continues the given prompt (the voice); None: ``self.content_prompt``. ``prompt_eq`` (with a
        ``prompt``): filter the output with the EQ that undoes the codec's colour of the prompt's voice
        (:mod:`dualtts.voice_eq`); None: ``self.prompt_eq``."""
        pieces = list(self.synthesize_stream(text, prompt, prompt_text, seed=seed, steps=steps, cfg_scale=cfg_scale,
                                             max_prompt_seconds=max_prompt_seconds, candidates=candidates,
                                             adapt_steps=adapt_steps, content_prompt=content_prompt,
                                             prompt_eq=prompt_eq, **sampling))
        return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


class PublishedSynthesizer(Synthesizer):
    """The published DualCodec TTS (:mod:`dualtts.published`: loading, languages): its AR reads the text itself
    (``lm.generate(prompt_text, text, prompt_codes, language)``), not phonemes; no default voice; the prompt
    raised to RMS 0.1 when quieter, as the reference does."""

    prompt_min_rms = 0.1
    prompt_eq = False  # the reference does not filter its output; the EQ was measured on our own models only

    def __init__(self, lm, flow, tokenizer, language: str = "en", device: str | torch.device = "cpu"):
        from dualtts.published import check_parts, published_language

        check_parts(flow, tokenizer)
        super().__init__(lm, flow, tokenizer, None, published_language(language), device)

    def _phonemes(self, text: str, source: str) -> str:
        normalize_text(text, source)  # TextError: empty, or only punctuation and symbols
        return text  # the AR's text frontend normalizes and encodes it

    def _prompt(self, prompt, prompt_text, max_prompt_seconds):
        if prompt is None:
            from dualtts.published import NO_VOICE

            raise ValueError(NO_VOICE)
        return super()._prompt(prompt, prompt_text, max_prompt_seconds)

    def _semantic_tokens(self, prompt_text, target, codes, seed, candidates=1, content=None, **sampling):
        return self.lm.generate(prompt_text, target, codes[0], language=self.language, seed=seed, **sampling), None
