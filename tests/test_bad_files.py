"""Unreadable files in training data: the codec's audio dataset skips them (listed in bad_files.txt, the
same substitute every time so a resume stays exact) and stops with one line past ``max_bad_fraction``;
the token datasets name the broken codes file."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch.utils.data import DataLoader, Dataset

from conftest import TINY_CODEC
from dualtts.data.audio import load_audio
from dualtts.data.manifest import ManifestError, Utterance, load_codes, read_codes, read_manifest, write_manifest
from dualtts.data.robust import BadDataError, BadFileLog, SkipUnreadable


class _Files(Dataset):
    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return torch.tensor(len(load_audio(self.paths[i])[0]))


def _files(tmp_path, good: int, bad: int) -> list[str]:
    import soundfile as sf

    paths = []
    for i in range(good + bad):
        p = tmp_path / f"f{i}.wav"
        if i % 2 and bad:  # corrupt ones in between
            p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
            bad -= 1
        else:
            sf.write(str(p), np.zeros(100 + i, np.float32), 16000)
        paths.append(str(p))
    return paths


@pytest.mark.parametrize("workers", [0, 2])
def test_skip_unreadable_substitutes_lists_once_and_stops(tmp_path, workers):
    paths = _files(tmp_path, good=9, bad=1)  # f1.wav is corrupt
    log = BadFileLog(tmp_path / "out" / "bad_files.txt", paths, max_fraction=0.1)
    ds = SkipUnreadable(_Files(paths), log, paths)
    for epoch in range(2):  # met twice, listed once; always replaced by the next item (f2.wav: 102 samples)
        got = [int(x) for x in DataLoader(ds, batch_size=1, num_workers=workers)]
        assert got == [100, 102, 102] + [100 + i for i in range(3, 10)]
    listed = (tmp_path / "out" / "bad_files.txt").read_text().splitlines()
    assert len(listed) == 1 and listed[0].startswith(f"{paths[1]}\tcorrupt or unsupported audio (")
    assert list(log.read()) == [paths[1]]

    # two of ten unreadable: more than 10% -> one line, also from a DataLoader worker process
    (tmp_path / "more").mkdir()
    paths = _files(tmp_path / "more", good=8, bad=2)
    ds = SkipUnreadable(_Files(paths), BadFileLog(tmp_path / "more" / "bad.txt", paths, 0.1), paths)
    with pytest.raises(BadDataError) as e:
        list(DataLoader(ds, batch_size=1, num_workers=workers))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("2 of 10 files unreadable (20.0%), more than max_bad_fraction 0.1"), msg


# --- the codec's training, through the command line --------------------------------------------------------
def _codec_config(tmp_path, manifest: Path, out: Path, **extra) -> Path:
    d = {"model": TINY_CODEC, "train_manifest": str(manifest), "segment_seconds": 0.4, "batch_size": 2, "gan": False,
         "max_bad_fraction": 0.2, **extra,
         "train": {"out_dir": str(out), "max_steps": 3, "lr": 1e-3, "warmup_steps": 1, "log_every": 1, "val_every": 0,
                   "save_every": 0}}
    p = tmp_path / f"{out.name}.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def _manifest_with_bad(manifests: Path, tmp_path: Path, good: int, bad: int) -> tuple[Path, list[str]]:
    """``good`` utterances of the tiny corpus's train split and ``bad`` broken files (corrupt, empty, missing...)."""
    utts = read_manifest(manifests / "train.jsonl")[:good]
    assert len(utts) == good
    broken = []
    for i in range(bad):
        p = tmp_path / f"broken{i}.wav"
        if i % 3 == 0:
            p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")  # corrupt
        elif i % 3 == 1:
            p.write_bytes(b"")  # empty
        # else: missing
        broken.append(str(p))
        utts.insert(2 * i + 1, Utterance(f"broken{i}", str(p), 1.0, utts[0].speaker, "broken"))
    return write_manifest(tmp_path / f"train-{bad}bad.jsonl", utts), broken


def test_codec_training_skips_a_corrupt_file_and_resumes_exactly(manifests, tmp_path, capsys):
    from dualtts.codec.train import CodecTask, load_train_config
    from dualtts.cli import main
    from dualtts.training.loop import Trainer

    manifest, broken = _manifest_with_bad(manifests, tmp_path, good=5, bad=1)  # 1 of 6 (17%); 3 steps x 2 see them all
    cfg = _codec_config(tmp_path, manifest, tmp_path / "full", teacher_cache=str(tmp_path / "teacher"))
    assert main(["train", "codec", "--config", str(cfg)]) == 0
    err = capsys.readouterr().err
    assert err.count(f"skipping unreadable file {broken[0]}: corrupt or unsupported audio") == 1, err[-2000:]
    assert "teacher features: 1 unreadable file(s) left out" in err
    listed = (tmp_path / "full" / "bad_files.txt").read_text().splitlines()
    assert [x.split("\t")[0] for x in listed] == broken
    assert json.loads((tmp_path / "full" / "train_log.jsonl").read_text().splitlines()[-1])["step"] == 3

    # interrupted after step 2 and resumed: the same weights at step 3 (the substitute is the same item)
    half = load_train_config(str(_codec_config(tmp_path, manifest, tmp_path / "half", teacher_cache=str(tmp_path / "teacher"))))
    Trainer(half.train, CodecTask(half)).fit(resume=False, until=2)
    assert Trainer(half.train, CodecTask(half)).fit(resume=True)["step"] == 3
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "full/checkpoints/step-3/generator.safetensors"))
    b = load_file(str(tmp_path / "half/checkpoints/step-3/generator.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "half" / "bad_files.txt").read_text().splitlines() == listed


def test_codec_training_stops_on_too_many_bad_files(manifests, tmp_path, capsys):
    from dualtts.cli import main

    manifest, broken = _manifest_with_bad(manifests, tmp_path, good=3, bad=3)  # half of them
    cfg = _codec_config(tmp_path, manifest, tmp_path / "run")
    assert main(["train", "codec", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    last = next((x for x in err.splitlines() if x.startswith("error: ")), err[-2000:])
    assert last.startswith("error: 2 of 6 files unreadable (33.3%), more than max_bad_fraction 0.2: fix or remove them "
                           f"(listed in {tmp_path / 'run' / 'bad_files.txt'})"), last
    assert len((tmp_path / "run" / "bad_files.txt").read_text().splitlines()) == 2
    assert not (tmp_path / "run" / "checkpoints").exists()
    bad_cfg = _codec_config(tmp_path, manifest, tmp_path / "run2", max_bad_fraction=1.5)
    assert main(["train", "codec", "--config", str(bad_cfg)]) == 2  # refused up front by the loader's log


# --- token datasets (read whole at the start): a broken codes file is one error naming it ---------------------
def test_broken_codes_file_is_named(tmp_path):
    (tmp_path / "codes").mkdir()
    np.save(tmp_path / "codes" / "ok.npy", np.zeros((2, 5), np.int16))
    (tmp_path / "codes" / "empty.npy").write_bytes(b"")
    (tmp_path / "codes" / "garbage.npy").write_bytes(b"\x93NUMPY garbage")
    np.save(tmp_path / "codes" / "floats.npy", np.zeros((2, 5), np.float32))
    np.save(tmp_path / "codes" / "flat.npy", np.zeros(5, np.int64))
    rows = [Utterance(n, f"{n}.wav", 1.0, "s", "t", extra={"codes": f"codes/{n}.npy"})
            for n in ("ok", "empty", "garbage", "floats", "flat", "missing")]
    m = write_manifest(tmp_path / "manifest.jsonl", rows)
    u = {r.id: r for r in read_manifest(m, resolve_audio=False)}
    assert load_codes(m, u["ok"]).dtype == np.int64
    for name, says in (("empty", "is unreadable"), ("garbage", "is unreadable"), ("floats", "holds float32 [2, 5]"),
                       ("flat", "holds int64 [5]"), ("missing", "not found")):
        with pytest.raises(ManifestError) as e:
            load_codes(m, u[name])
        msg = str(e.value)
        assert "\n" not in msg and f"utterance {name}: codes file {tmp_path / 'codes' / name}.npy {says}" in msg, msg
    with pytest.raises(ManifestError, match="utterance empty: codes file"):
        read_codes(m)
