"""LibriTTS / LibriTTS-R: reader for the on-disk layout and a download helper.

Layout: ``ROOT/<subset>/<speaker>/<chapter>/<id>.wav`` with ``<id>.normalized.txt`` beside it
(LibriTTS-R and the offline corpus maker use the same layout). ``ROOT`` may also be one subset
folder.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path

from tqdm import tqdm

from dualtts.data.audio import AudioError, audio_info
from dualtts.data.manifest import Utterance

LIBRITTS_URL = "https://www.openslr.org/resources/60"      # LibriTTS: <subset>.tar.gz (dashes)
LIBRITTS_R_URL = "https://www.openslr.org/resources/141"   # LibriTTS-R: <subset>.tar.gz (underscores)
SUBSETS = ("dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100", "train-clean-360", "train-other-500")


def read_libritts(root: str | os.PathLike, subsets: list[str] | None = None, skipped: list[str] | None = None) -> list[Utterance]:
    """Read every ``<id>.wav`` that has a ``<id>.normalized.txt``.

    Args:
        root: the corpus root (holding subset folders) or a single subset folder.
        subsets: only these subset folder names (default: all found).
        skipped: if given, receives one line per file that was left out and why.

    Each utterance gets ``extra = {"subset": ..., "chapter": ...}``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: corpus folder not found")
    wavs = sorted(root.rglob("*.wav"))
    out = []
    for wav in wavs:
        rel = wav.relative_to(root).parts
        if len(rel) not in (3, 4):
            continue
        subset = rel[0] if len(rel) == 4 else root.name
        if subsets and subset not in subsets:
            continue
        speaker, chapter = rel[-3], rel[-2]
        txt = wav.with_suffix(".normalized.txt")
        note = skipped.append if skipped is not None else (lambda _: None)
        if not txt.is_file():
            note(f"{wav}: no {txt.name}")
            continue
        text = txt.read_text(encoding="utf-8").strip()
        if not text:
            note(f"{txt}: empty transcript")
            continue
        try:
            sr, frames, _ = audio_info(wav)
        except AudioError as e:
            note(str(e))
            continue
        out.append(Utterance(id=wav.stem, audio=str(wav.resolve()), duration=round(frames / sr, 4), speaker=speaker,
                             text=text, extra={"subset": subset, "chapter": chapter}))
    if not out:
        raise FileNotFoundError(f"{root}: no LibriTTS-style utterances (<subset>/<speaker>/<chapter>/<id>.wav + .normalized.txt)")
    return out


def download_libritts(
    subsets: list[str],
    dest: str | os.PathLike,
    base_url: str = LIBRITTS_URL,
    md5: dict[str, str] | None = None,
    keep_archive: bool = False,
) -> Path:
    """Download and unpack LibriTTS subsets (``base_url/<subset>.tar.gz``) into ``dest``.

    Resumable: subsets already unpacked (a ``.done`` marker) are skipped; archives are written as
    ``.part`` and renamed when complete; unpacking refuses paths that leave ``dest``. Use
    ``base_url=LIBRITTS_R_URL`` and underscore names (``train_clean_100``) for LibriTTS-R.
    Returns the folder holding the subsets.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for subset in subsets:
        marker = dest / f".{subset}.done"
        if marker.exists():
            continue
        archive = dest / f"{subset}.tar.gz"
        if not archive.exists():
            _fetch(f"{base_url.rstrip('/')}/{subset}.tar.gz", archive)
        if md5 and subset in md5:
            got = _md5(archive)
            if got != md5[subset]:
                archive.unlink()
                raise ValueError(f"{archive}: md5 {got} does not match the expected {md5[subset]} (deleted; download again)")
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
        marker.touch()
        if not keep_archive:
            archive.unlink()
    return dest


def _fetch(url: str, path: Path) -> None:
    part = path.with_name(path.name + ".part")
    try:
        with urllib.request.urlopen(url) as r, open(part, "wb") as f:
            total = int(r.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=path.name, file=sys.stderr, disable=None) as bar:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))
    except OSError as e:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        raise ConnectionError(f"{url}: download failed ({e})") from None
    shutil.move(part, path)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
