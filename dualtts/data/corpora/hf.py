"""LibriTTS-R (or any speech dataset) through HF ``datasets``: a hub id or local parquet files.

Audio is read undecoded (``Audio(decode=False)``) and decoded here with soundfile, so no
torchcodec/ffmpeg is needed; each clip is written once as a wav under ``audio_dir`` because
manifests point at files. Columns default to the ``mythicinfinity/libritts_r`` layout.
"""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from dualtts.data.audio import AudioError, save_audio, to_mono
from dualtts.data.manifest import Utterance

LIBRITTS_R_HUB_ID = "mythicinfinity/libritts_r"


def read_hf_dataset(
    source: str | os.PathLike | list,
    audio_dir: str | os.PathLike,
    split: str = "train",
    config: str | None = None,
    audio_column: str = "audio",
    text_column: str = "text_normalized",
    speaker_column: str = "speaker_id",
    id_column: str | None = "id",
    limit: int | None = None,
) -> list[Utterance]:
    """Load ``source`` (hub id; parquet file, folder or list of files) and materialize its audio.

    Returns utterances whose ``audio`` points into ``audio_dir/<speaker>/<id>.wav``. Rows with
    undecodable audio raise :class:`AudioError` naming the row.
    """
    import datasets

    files = _parquet_files(source)
    if files is not None:
        ds = datasets.load_dataset("parquet", data_files={split: files}, split=split)
    else:
        ds = datasets.load_dataset(str(source), config, split=split)
    missing = [c for c in (audio_column, text_column, speaker_column) if c not in ds.column_names]
    if missing:
        raise KeyError(f"{source}: missing column(s) {', '.join(missing)}; has {', '.join(ds.column_names)}")
    ds = ds.cast_column(audio_column, datasets.Audio(decode=False))
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    audio_dir = Path(audio_dir)
    out = []
    for n, row in enumerate(tqdm(ds, desc="reading dataset", unit="utt", file=sys.stderr, disable=None)):
        speaker = str(row[speaker_column])
        uid = str(row[id_column]) if id_column and id_column in row and row[id_column] is not None else f"{speaker}_{n:08d}"
        where = f"{source}[{split}][{n}] ({uid})"
        wav_path = audio_dir / speaker / f"{uid}.wav"
        if not wav_path.exists():
            a = row[audio_column]
            data = a.get("bytes") if isinstance(a, dict) else None
            try:
                if data is not None:
                    wav, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
                else:
                    wav, sr = sf.read(a["path"], dtype="float32", always_2d=True)
            except Exception as e:
                raise AudioError(where, f"cannot decode audio ({' '.join(str(e).split())})") from None
            save_audio(wav_path, to_mono(wav), sr)
        info = sf.info(str(wav_path))
        out.append(Utterance(id=uid, audio=str(wav_path.resolve()), duration=round(info.frames / info.samplerate, 4),
                             speaker=speaker, text=str(row[text_column]).strip()))
    return out


def _parquet_files(source) -> list[str] | None:
    if isinstance(source, (list, tuple)):
        return [str(s) for s in source]
    p = Path(source)
    if p.is_file():
        return [str(p)]
    if p.is_dir():
        files = sorted(str(f) for f in p.rglob("*.parquet"))
        if not files:
            raise FileNotFoundError(f"{p}: no .parquet files")
        return files
    return None
