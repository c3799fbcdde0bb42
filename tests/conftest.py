"""Shared fixtures: real speech from espeak-ng and a tiny offline corpus (espeak-ng voices only)."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")


# a DualCodec small enough to train in a test: spectral stream, random Whisper-shaped SSL front end
TINY_CODEC = {
    "hop_length": 960, "stream": "spectral", "latent_dim": 32, "spec_dim": 32, "spec_layers": 1, "spec_hidden": 64, "spec_upsample": 4,
    "ssl": {"kind": "whisper", "source": "random", "layer": -1, "config": {"d_model": 32, "encoder_layers": 1, "encoder_ffn_dim": 64}},
    "semantic_dim": 32, "semantic_layers": 1, "semantic_hidden": 64, "semantic_codebook_size": 64, "n_acoustic": 3,
    "acoustic_codebook_size": 32,
}

TEXT_A = "Please call me back tomorrow morning after nine."
TEXT_B = "The weather today is cold and windy with some rain."


def espeak(path: Path, text: str, voice: str = "en-us", rate: int | None = None) -> Path:
    """Speak ``text`` into ``path`` (22.05 kHz mono wav, espeak-ng's native rate)."""
    cmd = ["espeak-ng", "-v", voice, "-w", str(path)] + (["-s", str(rate)] if rate else []) + [text]
    subprocess.run(cmd, check=True, capture_output=True)
    return path


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    """Two voices (male_*, female_*) x two sentences (*_a: TEXT_A, *_b: TEXT_B) of espeak-ng speech."""
    if not shutil.which("espeak-ng"):
        pytest.fail("espeak-ng is required for the tests: apt-get install espeak-ng")
    d = tmp_path_factory.mktemp("speech")
    for voice, name in (("en-us", "male"), ("en-us+f3", "female")):
        espeak(d / f"{name}_a.wav", TEXT_A, voice, rate=140)
        espeak(d / f"{name}_b.wav", TEXT_B, voice, rate=140)
    return d


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """A LibriTTS-shaped corpus: 5 espeak-ng voices x 3 utterances, 1 held out."""
    from dualtts.data.corpus_maker import CorpusSpec, make_corpus

    out = tmp_path_factory.mktemp("corpus")
    make_corpus(CorpusSpec(out=out, speakers=5, utterances=3, engines=["espeak-ng"], holdout=1, seed=0, jobs=2),
                log=lambda *_: None)
    return out


def write_wav(path: Path, wav: np.ndarray, sr: int, subtype: str = "PCM_16") -> Path:
    sf.write(str(path), wav, sr, subtype=subtype)
    return path


@pytest.fixture(scope="session")
def manifests(tiny_corpus, tmp_path_factory) -> Path:
    """train/dev/test.jsonl + symbols.json of the tiny corpus (dualtts prepare)."""
    from dualtts.data.corpora import read_libritts
    from dualtts.data.prepare import prepare_manifests

    out = tmp_path_factory.mktemp("manifests")
    prepare_manifests(read_libritts(tiny_corpus), out, corpus_root=tiny_corpus)
    return out


@pytest.fixture(scope="session")
def tiny_codec(tmp_path_factory) -> Path:
    """A random-weight TINY_CODEC checkpoint folder (25 Hz, 1 + 3 layers)."""
    import torch

    from dualtts.codec.config import DualCodecConfig
    from dualtts.codec.model import DualCodec

    torch.manual_seed(0)
    return DualCodec(DualCodecConfig.from_dict(TINY_CODEC)).save_pretrained(tmp_path_factory.mktemp("codec") / "tiny")


@pytest.fixture(scope="session")
def token_manifests(manifests, tiny_codec, tmp_path_factory) -> Path:
    """``<split>/manifest.jsonl`` + codes of the tiny corpus under ``tiny_codec`` (dualtts extract-tokens)."""
    from dualtts.codec.extract import extract_tokens
    from dualtts.codec.model import DualCodec

    out = tmp_path_factory.mktemp("tokens")
    codec = DualCodec.from_pretrained(tiny_codec)
    for split in ("train", "test"):
        extract_tokens(codec, manifests / f"{split}.jsonl", out / split)
    return out


def assert_resume_is_exact(load_config, task_cls, make_yaml) -> None:
    """4 steps in one go == 3 steps, an interruption, and a resume: every module's weights bit-identical.

    make_yaml(name, **train_overrides) -> a config path whose out_dir ends in ``name`` (max_steps 4, save_every 2).
    """
    import torch
    from safetensors.torch import load_file

    from dualtts.training.loop import Trainer

    full = load_config(make_yaml("full"))
    Trainer(full.train, task_cls(full)).fit(resume=False)
    half = load_config(make_yaml("half", save_every=0, stop_at=3))  # stopped after step 3 (train.stop_at)
    assert Trainer(half.train, task_cls(half)).fit(resume=False)["step"] == 3
    half.train.stop_at = None
    assert Trainer(half.train, task_cls(half)).fit(resume=True)["step"] == 4
    a_dir, b_dir = Path(full.train.out_dir) / "checkpoints" / "step-4", Path(half.train.out_dir) / "checkpoints" / "step-4"
    files = sorted(p.name for p in a_dir.glob("*.safetensors"))
    assert files
    for name in files:
        a, b = load_file(str(a_dir / name)), load_file(str(b_dir / name))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}: {k}"


def accelerate_launch(*args: str, processes: int = 2):
    """``accelerate launch --cpu --num_processes N -m dualtts.cli ARGS`` -> the finished process (offline, 1 thread each)."""
    import sys

    launcher = Path(sys.executable).parent / "accelerate"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([str(launcher), "launch", "--num_processes", str(processes), "--cpu", "--num_machines", "1",
                           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "dualtts.cli", *args],
                          capture_output=True, text=True, env=env, timeout=600)


def assert_kill9_resume_is_exact(stage: str, make_yaml, steps: int = 24) -> None:
    """``dualtts train STAGE`` killed with SIGKILL once its first checkpoint is on disk, then started again, logs
    the same loss at every step as an uninterrupted run, and ends with bit-identical weights.

    make_yaml(name, **train_overrides) -> a config path whose out_dir ends in ``name``.
    """
    import json
    import signal
    import sys
    import time

    import torch
    from safetensors.torch import load_file

    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = lambda cfg: [sys.executable, "-m", "dualtts.cli", "train", stage, "--config", str(cfg)]
    over = dict(max_steps=steps, save_every=2, log_every=1, val_every=0)
    full, killed = make_yaml("full", **over), make_yaml("killed", **over)
    subprocess.run(cmd(full), env=env, check=True, capture_output=True, timeout=600)
    out = Path(yaml.safe_load(killed.read_text())["train"]["out_dir"])
    p = subprocess.Popen(cmd(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (out / "checkpoints" / "latest").is_file():
        assert p.poll() is None and time.monotonic() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    at_kill = json.loads((out / "checkpoints" / (out / "checkpoints" / "latest").read_text() / "state.json").read_text())["step"]
    assert at_kill < steps, "killed too late to test a resume"
    subprocess.run(cmd(killed), env=env, check=True, capture_output=True, timeout=600)

    def losses(d):
        rows = {}
        for line in (d / "train_log.jsonl").read_text().splitlines():
            r = json.loads(line)
            # (usage/*: the codec's running code-frequency EMA, a monitor deliberately not checkpointed)
            rows[r["step"]] = {k: v for k, v in r.items() if k != "wall_s" and not k.startswith("usage/")}
        return rows

    full_out = Path(yaml.safe_load(full.read_text())["train"]["out_dir"])
    a, b = losses(full_out), losses(out)
    assert sorted(a) == sorted(b) == list(range(1, steps + 1))
    assert all(a[s] == b[s] for s in a), [(s, a[s], b[s]) for s in a if a[s] != b[s]][:2]
    ck = f"checkpoints/step-{steps}"
    for f in sorted((full_out / ck).glob("*.safetensors")):
        x, y = load_file(str(f)), load_file(str(out / ck / f.name))
        assert all(torch.equal(x[k], y[k]) for k in x), f.name


@contextlib.contextmanager
def demo_server(log: Path, *args: str, model: Path | None = None):
    """``dualtts demo`` on a free loopback port (the shipped model by default) -> ``(process, url)`` once the page
    answers; the server's output goes to ``log``; stopped on exit."""
    import socket
    import sys
    import time
    import urllib.request

    root = Path(__file__).resolve().parents[1]
    model = model or root / "recipes" / "mini" / "checkpoints" / "dualtts-mini"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as out:
        p = subprocess.Popen([sys.executable, "-m", "dualtts.cli", "demo", "--model", str(model), "--port", str(port),
                              "--device", "cpu", *args], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    url, deadline = f"http://127.0.0.1:{port}/", time.monotonic() + 90
    try:
        while True:
            assert p.poll() is None, f"dualtts demo exited with {p.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"dualtts demo did not start:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        yield p, url
    finally:
        p.terminate()
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
