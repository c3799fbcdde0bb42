"""recipes/libritts/run.sh: every stage (manifests .. evaluation) dry-run on a tiny LibriTTS-shaped tree of espeak-ng
voices (`dualtts make-corpus --layout libritts`); a training stopped early resumes; a second run skips every stage."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "recipes" / "libritts" / "run.sh"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    bindir = Path(sys.executable).parent
    # one thread a process: tiny models gain nothing from more, and the splits of stages 3 and 5 run side by side
    e = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **env}
    return subprocess.run(["bash", str(RUN), *args], capture_output=True, text=True, env=e, timeout=900)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """DATA/LibriTTS/{train-clean-100 (3 speakers), dev-clean (1), test-clean (1)}, 3 utterances each."""
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    from dualtts.cli import main

    data = tmp_path_factory.mktemp("data")
    assert main(["make-corpus", "--out", str(data / "LibriTTS"), "--layout", "libritts", "--engines", "espeak-ng",
                 "--speakers", "5", "--utterances", "3", "--holdout", "1", "--jobs", "2"]) == 0
    return data


def test_layout_libritts(tree):
    from dualtts.data.corpus_maker import read_speakers_table

    rows = read_speakers_table(tree / "LibriTTS" / "SPEAKERS.tsv")
    assert sorted(r["subset"] for r in rows) == ["dev-clean", "test-clean"] + ["train-clean-100"] * 3
    for r in rows:
        wavs = sorted((tree / "LibriTTS" / r["subset"] / r["speaker"]).glob("*/*.wav"))
        assert len(wavs) == 3 and all(w.with_suffix(".normalized.txt").is_file() for w in wavs)
        assert (r["heldout"] == "1") == (r["subset"] == "test-clean")


def test_every_stage_dry_run_resume_and_skip(tree, tmp_path):
    exp = tmp_path / "exp"
    args = ("--dry-run", "--data-root", str(tree), "--exp", str(exp))
    # stages 0-4 with a 1-step LM, then 4-8 with the config's 2 steps: the LM resumes from its step-1 checkpoint
    r = _run(*args, "--stop-stage", "4", LM_STEPS="1")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "stage 0: skipped" in r.stdout and "stage 5" not in r.stdout
    r = _run(*args, "--stage", "4")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "stage 3" not in r.stdout and "stage 4: LM" in r.stdout

    m = exp / "manifests"
    rows = {s: [json.loads(x) for x in (m / f"{s}.jsonl").read_text().splitlines()] for s in ("train", "dev", "test")}
    assert (len(rows["train"]), len(rows["dev"]), len(rows["test"])) == (9, 3, 3)
    assert {u["subset"] for u in rows["train"]} == {"train-clean-100"} and {u["subset"] for u in rows["test"]} == {"test-clean"}
    assert all(u["phonemes"] for s in rows.values() for u in s) and (m / "symbols.json").is_file()
    assert (exp / "codec/ssl-stats/model.safetensors").is_file()
    assert (exp / "codec/checkpoints/step-2/codec/model.safetensors").is_file()
    for s in ("train", "dev", "test"):
        assert len((exp / f"tokens/{s}/manifest.jsonl").read_text().splitlines()) == len(rows[s])
    steps = [json.loads(x)["step"] for x in (exp / "lm/train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2]  # step 2 came from the resumed run
    assert (exp / "lm/checkpoints/best/lm/model.safetensors").is_file()
    assert {p.stem for p in (exp / "lm-states").glob("*.npy")} == {u["id"] for s in ("train", "dev") for u in rows[s]}
    assert (exp / "nar/checkpoints/step-2/state.json").is_file()
    assert len(list((exp / "synth/tts").glob("*.wav"))) == 2  # --per-speaker 2 of the one test speaker
    report = json.loads((exp / "eval/tts.json").read_text())
    assert report["overall"]["n"] == 2 and 0 < report["overall"]["sim"] <= 1

    # everything exists now: every stage is skipped, nothing is trained again
    r = _run(*args)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for n in range(9):
        assert f"stage {n}: skipped" in r.stdout, (n, r.stdout)
    assert "first step" not in r.stderr


def test_dry_run_without_data_says_how_to_make_it(tmp_path):
    r = _run("--dry-run", "--data-root", str(tmp_path / "none"), "--exp", str(tmp_path / "exp"))
    assert r.returncode == 1 and "make-corpus" in r.stderr and "--layout libritts" in r.stderr
    r = _run("--frame-rate", "50")
    assert r.returncode == 2 and "--frame-rate" in r.stderr


def test_download_skips_subsets_already_there(tmp_path, capsys):
    from dualtts.cli import main

    (tmp_path / "LibriTTS_R" / "dev-clean").mkdir(parents=True)
    assert main(["download", "--corpus", "libritts-r", "--subsets", "dev-clean", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"root": str(tmp_path / "LibriTTS_R"), "downloaded": [], "present": ["dev-clean"]}
    assert main(["download", "--subsets", "dev-dirty", "--out", str(tmp_path)]) == 2


@pytest.mark.parametrize("rate", ["12hz", "25hz", "tiny"])
def test_configs_load(rate):
    from dualtts.codec.train import load_train_config, model_config
    from dualtts.flow.nar import get_nar_config
    from dualtts.flow.nar_train import load_nar_train_config
    from dualtts.lm.config import get_lm_config
    from dualtts.lm.train import load_lm_train_config

    conf = ROOT / "recipes" / "libritts" / "conf" / rate
    for f in sorted(conf.glob("codec*.yaml")):
        if "model" in f.name:
            continue
        c = load_train_config(str(f))
        cfg = model_config(str(ROOT / c.model) if c.model.endswith(".yaml") else c.model)
        assert cfg.frame_rate == (25.0 if "25" in f.relative_to(conf.parent).as_posix() else 12.5)
    lm = load_lm_train_config(str(conf / "lm.yaml"))
    nar = load_nar_train_config(str(conf / "nar.yaml"))
    assert get_lm_config(lm.model).hidden_size and get_nar_config(nar.model).hidden_size
    assert lm.train.best_metric == "loss" and lm.train.max_steps > 0 and nar.train.max_steps > 0
