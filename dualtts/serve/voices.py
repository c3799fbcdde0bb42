"""The server's voices: ``default`` (the model's own voice) and the clips of a voices folder, ``NAME.wav`` with
an optional transcript ``NAME.txt`` (without one, the offline ASR transcribes the clip once).

OpenAI's built-in voice names (alloy, echo, ...) are aliases of ``default``, so that clients written for OpenAI
work unchanged; a clip of the same name in the folder takes precedence.

A name is at most 64 letters, digits, ``_`` or ``-`` (no dots, no path separators); the clip must be a regular
file whose real path (symbolic links followed) is directly inside the folder. Nothing else is ever opened.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT = "default"
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse", "marin", "cedar")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
TRANSCRIPT_MAX_BYTES = 64 * 1024


class VoiceError(LookupError):
    """A voice that cannot be used; ``status``: 400 (a malformed name) or 404 (no such voice)."""

    def __init__(self, message: str, status: int, code: str):
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class Voice:
    name: str
    audio: str | None  # None: the model's default voice
    transcript: str | None  # None: to be transcribed


class VoiceLibrary:
    """``folder``: the voices folder (None: only ``default``); ``has_default``: whether the model has a voice
    of its own. The folder is read on every lookup: clips added while the server runs are found."""

    def __init__(self, folder: str | Path | None = None, has_default: bool = True):
        self.folder = Path(folder).resolve() if folder is not None else None
        if self.folder is not None and not self.folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such voices folder")
        self.has_default = has_default

    def _clip(self, name: str) -> Path | None:
        """The clip of a well-formed ``name`` if the folder has one, strictly inside the folder."""
        if self.folder is None:
            return None
        path = self.folder / f"{name}.wav"
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        return real if real.parent == self.folder and real.is_file() else None

    def _transcript(self, name: str) -> str | None:
        path = self.folder / f"{name}.txt"
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if real.parent != self.folder or not real.is_file() or real.stat().st_size > TRANSCRIPT_MAX_BYTES:
            return None
        return real.read_text(encoding="utf-8", errors="replace").strip() or None

    def resolve(self, name) -> Voice:
        """A voice name (or OpenAI's ``{"id": name}``) -> :class:`Voice`, or :class:`VoiceError`."""
        if isinstance(name, dict):
            name = name.get("id")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise VoiceError("invalid voice name: a voice name is 1 to 64 letters, digits, '_' or '-'", 400, "invalid_voice")
        clip = None if name == DEFAULT else self._clip(name)
        if clip is not None:
            return Voice(name, str(clip), self._transcript(name))
        if (name == DEFAULT or name in OPENAI_VOICES) and self.has_default:
            return Voice(name, None, None)
        raise VoiceError(f"unknown voice {name!r}: one of {', '.join(self.names()) or '(none)'}", 404, "voice_not_found")

    def clips(self) -> list[str]:
        if self.folder is None:
            return []
        return sorted(p.stem for p in self.folder.glob("*.wav") if p.stem != DEFAULT and NAME.fullmatch(p.stem)
                      and self._clip(p.stem) is not None)

    def names(self) -> list[str]:
        return ([DEFAULT] if self.has_default else []) + self.clips()

    def listing(self) -> list[dict]:
        """The voices for ``GET /v1/voices``."""
        out = [{"id": DEFAULT, "object": "voice", "source": "model", "aliases": list(OPENAI_VOICES)}] if self.has_default else []
        for name in self.clips():
            out.append({"id": name, "object": "voice", "source": "voices folder",
                        "transcript": "given" if self._transcript(name) else "from the offline ASR"})
        return out
