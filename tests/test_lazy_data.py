"""LibriTTS-scale data paths: LM states read per item from their files (not all held in memory), DataLoader workers
and pinned memory from the training config (the same batches either way), and an unreadable validation file left
out of the codec's validation instead of stopping it."""
import json

import numpy as np
import pytest
import torch
import yaml
from torch.utils.data import DataLoader

from dualtts.data.manifest import Utterance, read_codes, read_manifest, write_manifest
from dualtts.flow.train import CodesDataset, StatesFiles, collate_codes, read_states
from dualtts.training.loop import TrainConfig, loader_options

from conftest import TINY_CODEC


def _states_folder(tmp_path, utts, codes, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    folder = tmp_path / "states"
    folder.mkdir(exist_ok=True)
    for u, c in zip(utts, codes):
        np.save(folder / f"{u.id}.npy", rng.standard_normal((c.shape[1], dim)).astype(np.float16))
    return folder


def _toy(tmp_path, n=7):
    rng = np.random.default_rng(1)
    utts = [Utterance(f"u{i}", f"u{i}.wav", 1.0, "s", "t") for i in range(n)]
    codes = [rng.integers(0, 30, (3, int(rng.integers(5, 40)))) for _ in range(n)]
    return utts, codes, _states_folder(tmp_path, utts, codes)


def _batches(ds, **kw):
    return list(DataLoader(ds, batch_size=3, shuffle=True, collate_fn=collate_codes, generator=torch.Generator().manual_seed(5), **kw))


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def test_lazy_states_give_the_same_batches_and_stay_on_disk(tmp_path):
    utts, codes, folder = _toy(tmp_path)
    lazy, eager = read_states(folder, utts, codes), read_states(folder, utts, codes, lazy=False)
    assert isinstance(lazy, StatesFiles) and isinstance(eager, list) and len(lazy) == len(eager) == 7
    assert isinstance(lazy[3], np.memmap) and lazy[3].shape == eager[3].shape  # a map of the file, nothing read yet
    assert isinstance(lazy[2:5], StatesFiles) and len(lazy[2:5]) == 3 and np.array_equal(lazy[2:5][0], eager[2])
    ref = _batches(CodesDataset(codes, 16, seed=3, epoch=1, states=eager))
    _same(_batches(CodesDataset(codes, 16, seed=3, epoch=1, states=lazy)), ref)
    _same(_batches(CodesDataset(codes, 16, seed=3, epoch=1, states=lazy), num_workers=2), ref)  # in worker processes too
    assert ref[0]["cond"].dtype == torch.float32 and ref[0]["cond"].shape[-1] == 6


def test_states_are_checked_from_the_file_headers(tmp_path):
    utts, codes, folder = _toy(tmp_path, n=3)
    np.save(folder / "u1.npy", np.zeros((codes[1].shape[1] + 1, 6), np.float16))
    with pytest.raises(ValueError, match=r"u1\.npy: states of shape"):
        read_states(folder, utts, codes)
    (folder / "u1.npy").unlink()
    with pytest.raises(FileNotFoundError, match="no LM states for utterance u1"):
        read_states(folder, utts, codes)
    (folder / "u1.npy").write_bytes(b"not an npy file")
    with pytest.raises(ValueError, match="not a readable .npy file"):
        read_states(folder, utts, codes)


def test_loader_options_from_the_training_config():
    assert loader_options(TrainConfig()) == {"num_workers": 0, "pin_memory": torch.cuda.is_available()}
    assert loader_options(TrainConfig(cpu=True)) == {"num_workers": 0, "pin_memory": False}
    assert loader_options(TrainConfig(num_workers=3, pin_memory=True)) == {"num_workers": 3, "pin_memory": True, "prefetch_factor": 4}


def test_nar_training_reads_states_lazily_with_workers_and_the_same_batches(tmp_path, token_manifests):
    from dualtts.flow.nar_train import NARTask, load_nar_train_config

    man = token_manifests / "train" / "manifest.jsonl"
    utts, codes = read_codes(man)
    folder = _states_folder(tmp_path, utts, codes, dim=8)
    d = {"model": {"preset": "tiny", "hidden_size": 32, "num_layers": 1, "num_heads": 2}, "train_manifest": str(man),
         "lm_states": str(folder), "batch_size": 4, "max_frames": 20,
         "train": {"out_dir": str(tmp_path / "run"), "max_steps": 2, "num_workers": 2, "pin_memory": False}}
    (tmp_path / "nar.yaml").write_text(yaml.safe_dump(d))
    task = NARTask(load_nar_train_config(str(tmp_path / "nar.yaml")))
    assert isinstance(task.train_states, StatesFiles) and task.nar.cfg.cond_dim == 8
    loader = task.train_loader(0, 0)
    assert loader.num_workers == 2
    with_workers = list(loader)
    task.train_states = read_states(folder, utts, codes, lazy=False)  # everything in memory, as before
    task.cfg.train.num_workers = 0
    _same(list(task.train_loader(0, 0)), with_workers)


def test_codec_validation_leaves_out_an_unreadable_file_and_lists_it(manifests, tmp_path, capsys):
    from dualtts.cli import main

    val = read_manifest(manifests / "test.jsonl")[:2]
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    val.insert(1, Utterance("broken", str(broken), 1.0, val[0].speaker, "broken"))
    vman = write_manifest(tmp_path / "val.jsonl", val)
    d = {"model": TINY_CODEC, "train_manifest": str(manifests / "train.jsonl"), "val_manifest": str(vman), "val_utterances": 3,
         "segment_seconds": 0.4, "batch_size": 2, "gan": False,
         "train": {"out_dir": str(tmp_path / "run"), "max_steps": 2, "warmup_steps": 1, "log_every": 1, "val_every": 1,
                   "save_every": 0}}
    (tmp_path / "codec.yaml").write_text(yaml.safe_dump(d))
    assert main(["train", "codec", "--config", str(tmp_path / "codec.yaml")]) == 0
    err = capsys.readouterr().err
    assert err.count(f"skipping unreadable file {broken}") == 1, err[-2000:]  # said once, not at every validation
    rows = [json.loads(x) for x in (tmp_path / "run" / "validation.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all(r["unreadable"] == 1 and np.isfinite(r["mel_all"]) for r in rows)
    listed = (tmp_path / "run" / "bad_files.txt").read_text().splitlines()
    assert [x.split("\t")[0] for x in listed] == [str(broken)]
