"""A disk cache of the frozen SSL teacher's features, one file per utterance, for codec training.

The teacher never changes during codec training, so its forward pass on every crop (about half of a
tiny codec's generator step on a CPU) is work done again and again. :class:`TeacherCache` runs the
teacher once on each whole utterance and keeps the unnormalized 50 Hz features
(``[D_ssl, F50]``, fp16 safetensors); a training crop aligned to the codec's frame grid then slices
its features from there (:meth:`slice`).

Layout: ``root/<teacher key>/<audio key>.safetensors``. The teacher key hashes the SSL config and its
weights, the audio key the file's path, size and modification time, so a changed file or another
teacher never reads stale features; files are written atomically, so a killed run leaves no partial
entry and the next run (or another run on the same corpus) reuses what is there.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from dualtts.data.atomic import atomic_path
from dualtts.data.audio import load_audio

SSL_RATE = 16000
CACHE_MAX_SECONDS = 30.0  # the Whisper encoder's window; longer files are cached in windows of this size


def teacher_key(ssl) -> str:
    """A short hash of an :class:`codec.ssl.SSLFrontEnd`'s config and weights."""
    h = hashlib.sha256(json.dumps(asdict(ssl.cfg), sort_keys=True).encode())
    for name, p in sorted(ssl.model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().float().flatten()[:64].cpu().numpy().tobytes())
        h.update(str(tuple(p.shape)).encode())
    return h.hexdigest()[:16]


def audio_key(path: str | os.PathLike) -> str:
    st = Path(path).stat()
    return hashlib.sha256(f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:24]


class TeacherCache:
    """Features of ``ssl`` (an ``SSLFrontEnd``) for audio files, computed once and kept under ``root``."""

    def __init__(self, root: str | os.PathLike, ssl, sample_rate: int):
        self.ssl, self.sample_rate = ssl, sample_rate
        self.dir = Path(root) / teacher_key(ssl)
        self.dir.mkdir(parents=True, exist_ok=True)

    def file(self, audio: str | os.PathLike) -> Path:
        return self.dir / f"{audio_key(audio)}.safetensors"

    @torch.no_grad()
    def compute(self, audio: str | os.PathLike) -> torch.Tensor:
        """Unnormalized teacher features of the whole file, ``[D_ssl, ceil(T16 / 320)]`` at 50 Hz."""
        from dualtts.data.audio import resample

        wav, sr = load_audio(audio, self.sample_rate)
        x = torch.from_numpy(resample(wav, sr, SSL_RATE)).float()
        dev = next(self.ssl.model.parameters()).device
        win = int(CACHE_MAX_SECONDS * SSL_RATE)
        parts = [self.ssl.raw(x[i: i + win][None].to(dev))[0].cpu() for i in range(0, max(1, len(x)), win)]
        return torch.cat(parts, -1)

    def get(self, audio: str | os.PathLike) -> torch.Tensor:
        """Features for ``audio`` (fp32 ``[D_ssl, F50]``), from the cache or computed and stored."""
        from safetensors.torch import load_file, save_file

        f = self.file(audio)
        if f.is_file():
            return load_file(str(f))["feats"].float()
        feats = self.compute(audio)
        with atomic_path(f) as tmp:
            save_file({"feats": feats.half().contiguous()}, str(tmp))
        return feats

    def fill(self, paths: list[str]) -> int:
        """Compute the features of every file not cached yet (progress bar); returns how many were computed.
        Unreadable files are left out (one line says how many): training skips them (data.robust)."""
        from dualtts.data.audio import AudioError

        todo, bad = [], []
        for p in paths:
            try:
                if not self.file(p).is_file():
                    todo.append(p)
            except OSError:  # (a missing file has no key)
                bad.append(p)
        done = 0
        for p in tqdm(todo, desc="teacher features", unit="utt", file=sys.stderr, disable=None if todo else True):
            try:
                self.get(p)
                done += 1
            except (AudioError, OSError):
                bad.append(p)
        if bad:
            print(f"teacher features: {len(bad)} unreadable file(s) left out ({', '.join(map(str, bad[:3]))}"
                  f"{', ...' if len(bad) > 3 else ''})", file=sys.stderr)
        return done

    @staticmethod
    def slice(feats: torch.Tensor, start: int, length: int, sample_rate: int) -> torch.Tensor:
        """The 50 Hz features of samples ``[start, start + length)`` at ``sample_rate`` (both multiples of a
        50 Hz frame), padded by repeating the last frame where the file is shorter."""
        hop = sample_rate // 50
        a, n = start // hop, length // hop
        out = feats[:, a: a + n]
        if out.shape[-1] < n:
            last = out[:, -1:] if out.shape[-1] else feats[:, -1:]
            out = torch.cat([out, last.expand(-1, n - out.shape[-1])], -1)
        return out
