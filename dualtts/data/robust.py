"""Datasets that read a file per item and skip the unreadable ones instead of stopping a long training.

    log = BadFileLog(out_dir / "bad_files.txt", names=paths, max_fraction=0.01)
    ds = SkipUnreadable(MyAudioDataset(paths), log, names=paths)

An item whose file cannot be read (:class:`data.audio.AudioError`, ``OSError``) is replaced by the next
readable item (``i + 1``, ``i + 2``, ... wrapping around): the same substitute every time, so the batches of
a resumed run are those of an uninterrupted one. Each bad file is reported once on stderr (file and reason)
and listed in the log file, one ``<file>\\t<reason>`` line each; once more than ``max_fraction`` of the
dataset's files are listed, :class:`BadDataError` stops the training with one line.

The log file is the shared state: DataLoader workers (separate processes), several training processes and a
resumed run all append to and read the same file, so the count holds with ``num_workers=0`` or more.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Sequence

from torch.utils.data import Dataset

from dualtts.data.audio import AudioError


class BadDataError(RuntimeError):
    """Too many unreadable files. One line, also when a DataLoader worker's copy is re-raised in the main
    process (torch then passes the worker's whole traceback as the message; its last line is ours)."""

    def __init__(self, message: str):
        if "Original Traceback" in message:
            found = re.findall(rf"{type(self).__name__}: (.*)", message)
            message = found[-1] if found else message
        super().__init__(message)


class BadFileLog:
    """Unreadable files of one dataset, kept in ``path`` (created on the first one).

    ``names``: the dataset's files (only those count; a log left by a run on another manifest does not);
    ``max_fraction``: more than this fraction of them unreadable is an error (0: any is)."""

    def __init__(self, path: str | os.PathLike, names: Sequence[str], max_fraction: float = 0.01):
        if not 0.0 <= max_fraction <= 1.0:
            raise ValueError(f"max_bad_fraction: {max_fraction} is not between 0 and 1")
        self.path, self.names, self.max_fraction = Path(path), {str(n) for n in names}, float(max_fraction)

    def read(self) -> dict[str, str]:
        """``{file: reason}`` of the listed files that belong to this dataset."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return {}
        out: dict[str, str] = {}
        for line in lines:
            name, _, reason = line.partition("\t")
            if name in self.names:
                out.setdefault(name, reason)
        return out

    def add(self, name: str, reason: str) -> None:
        """Record ``name`` as unreadable (once; said on stderr the first time); raise :class:`BadDataError` when
        the unreadable files are now more than ``max_fraction`` of the dataset."""
        name, reason = str(name), " ".join(str(reason).split())
        bad = self.read()
        if name not in bad:
            print(f"warning: skipping unreadable file {name}: {reason} (listed in {self.path})", file=sys.stderr)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:  # one short write: appends from several processes do not interleave
                f.write(f"{name}\t{reason}\n")
            bad[name] = reason
        total = max(len(self.names), 1)
        if len(bad) > self.max_fraction * total:
            raise BadDataError(f"{len(bad)} of {total} files unreadable ({len(bad) / total:.1%}), more than max_bad_fraction "
                               f"{self.max_fraction:g}: fix or remove them (listed in {self.path}), or raise max_bad_fraction")


class SkipUnreadable(Dataset):
    """``dataset`` with each item whose file cannot be read replaced by the next readable one (see the module's
    docstring). ``names[i]``: the file behind item ``i`` (for the log); ``errors``: what counts as unreadable."""

    def __init__(self, dataset, log: BadFileLog, names: Sequence[str],
                 errors: tuple[type[BaseException], ...] = (AudioError, OSError)):
        if len(names) != len(dataset):
            raise ValueError(f"{len(names)} names for a dataset of {len(dataset)} items")
        self.dataset, self.log, self.names, self.errors = dataset, log, names, errors

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        n = len(self.dataset)
        for k in range(n):
            j = (i + k) % n
            try:
                return self.dataset[j]
            except self.errors as e:  # (an AudioError's text starts with the file's name: keep only the problem)
                self.log.add(self.names[j], getattr(e, "problem", None) or str(e) or type(e).__name__)
        raise BadDataError(f"no readable file among the {n} of this dataset (listed in {self.log.path})")
