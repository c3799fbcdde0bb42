"""``dualtts finetune``: espeak-ng clips (a folder of wav + txt pairs, or a CSV) fine-tune the shipped model into a
folder that ``Synthesizer.from_pretrained`` loads and speaks with; a rerun continues where the last one stopped
(no step trained twice) or skips what is done; bad input is one line ``error: ...`` naming the file, status 2."""
import json
import shutil

import numpy as np
import pytest

from dualtts.cli import main
from dualtts.finetune import build_utterances, fit_phonemes, read_rows
from dualtts.model_path import CHECKOUT_MODEL as DEFAULT_MODEL
from dualtts.data.text import SymbolTable, TextError
from tests.conftest import espeak, write_wav

TEXTS = ["The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
         "It is easy to tell the depth of a well.", "Rice is often served in round bowls!"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Four clips of one espeak-ng voice, clip<i>.wav + clip<i>.txt."""
    d = tmp_path_factory.mktemp("clips")
    for i, t in enumerate(TEXTS):
        espeak(d / f"clip{i}.wav", t, "en-us+f3", rate=170)
        (d / f"clip{i}.txt").write_text(t + "\n", encoding="utf-8")
    return d


def _steps(log):
    return [json.loads(line)["step"] for line in log.read_text().splitlines()]


def test_finetune_resumes_and_speaks(clips, tmp_path, capsys):
    data = tmp_path / "clips"
    shutil.copytree(clips, data)
    out = data / "ft"  # (inside the data folder: its files are not taken for clips on a rerun)
    args = ["finetune", "--data", str(data), "--out", str(out), "--batch-size", "2", "--device", "cpu"]
    assert main(args + ["--steps", "2"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["clips"] == 4 and summary["steps"] == {"lm": 2, "flow": 2}
    # more steps: both stages continue from step 2 (the logs hold every step once), nothing else is redone
    assert main(args + ["--steps", "3"]) == 0
    err = capsys.readouterr().err
    assert "continued from step 2" in err and "[1/6] data: done" in err and "[2/6] tokens: done" in err
    for stage in ("lm", "flow"):
        assert _steps(out / stage / "train_log.jsonl") == [1, 2, 3], stage
    # the same command again: every step skipped, the model folder untouched
    bundle = out / "model" / "bundle.json"
    mtime = bundle.stat().st_mtime_ns
    assert main(args + ["--steps", "3"]) == 0
    err = capsys.readouterr().err
    assert err.count("skipped") == 6, err
    assert bundle.stat().st_mtime_ns == mtime
    assert json.loads(bundle.read_text())["steps"] == {"lm": 3, "flow": 3}

    from dualtts import Synthesizer

    tts = Synthesizer.from_pretrained(str(out / "model"), device="cpu")
    assert tts.default_prompt[1] in TEXTS  # the default voice: one of the user's clips
    wav = tts("A short sentence for the new voice.")
    sec = len(wav) / tts.tokenizer.sample_rate
    assert 0.5 < sec < 8.0 and np.isfinite(wav).all() and np.abs(wav).max() > 0.01, sec

    # other data into the same --out: refused, not mixed in
    more = tmp_path / "more"
    shutil.copytree(clips, more)
    capsys.readouterr()
    assert main(["finetune", "--data", str(more), "--out", str(out)]) == 2
    assert "give another --out" in capsys.readouterr().err


def test_csv_psv_and_speaker_folders(clips, tmp_path):
    table = SymbolTable.load(DEFAULT_MODEL / "lm" / "symbols.json")
    ref = build_utterances(read_rows(clips), table)
    (tmp_path / "wavs").mkdir()
    for i in range(len(TEXTS)):
        shutil.copy(clips / f"clip{i}.wav", tmp_path / "wavs" / f"clip{i}.wav")
    psv = tmp_path / "list.psv"
    psv.write_text("path|text|speaker\n" + "".join(f"wavs/clip{i}.wav|{t}|anna\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    csv_ = tmp_path / "list.csv"
    csv_.write_text("".join(f'wavs/clip{i}.wav,"{t}"\n' for i, t in enumerate(TEXTS)), encoding="utf-8")
    for f, speaker in ((psv, "anna"), (csv_, "list")):
        utts = build_utterances(read_rows(f), table)
        assert [(u.id, u.text, u.phonemes) for u in utts] == [(u.id, u.text, u.phonemes) for u in ref]
        assert {u.speaker for u in utts} == {speaker}
        assert abs(utts[0].duration - ref[0].duration) < 1e-3
    assert "!" not in ref[3].phonemes  # punctuation the base model's table lacks is dropped, as the Synthesizer does
    # per-speaker subfolders: the speaker is the subfolder's name
    for spk, i in (("bob", 0), ("eve", 1)):
        (tmp_path / "spk" / spk).mkdir(parents=True)
        for ext in ("wav", "txt"):
            shutil.copy(clips / f"clip{i}.{ext}", tmp_path / "spk" / spk / f"clip{i}.{ext}")
    assert sorted(r[2] for r in read_rows(tmp_path / "spk")) == ["bob", "eve"]


def test_unknown_phoneme_names_the_clip():
    table = SymbolTable.load(DEFAULT_MODEL / "lm" / "symbols.json")
    with pytest.raises(TextError, match=r"^a\.txt: unknown phoneme symbol 'x'.*base model"):
        fit_phonemes("bˈɑːx", table, "a.txt")


def _bad(kind, clips, d):
    """A data folder or CSV with one problem -> (path, what the error must say)."""
    if kind.startswith("csv"):
        (d / "ok.wav").write_bytes((clips / "clip0.wav").read_bytes())
        rows = "ok.wav|Hello there.\n" + {"csv-missing": "gone.wav|Where is it?\n", "csv-short": "ok.wav\n"}[kind]
        (d / "data.csv").write_text(rows, encoding="utf-8")
        return d / "data.csv", {"csv-missing": ["data.csv:2", "gone.wav", "file not found"], "csv-short": ["data.csv:2", "expected path|text"]}[kind]
    shutil.copytree(clips, d / "data")
    clip = d / "data" / "clip1.wav"
    if kind == "no-transcript":
        clip.with_suffix(".txt").unlink()
        return d / "data", ["clip1.wav", "no transcript", "clip1.txt"]
    if kind == "empty-text":
        clip.with_suffix(".txt").write_text(" \n", encoding="utf-8")
        return d / "data", ["clip1.wav", "empty transcript"]
    if kind == "silent":
        write_wav(clip, np.zeros(22050, np.float32), 22050)
        return d / "data", ["clip1.wav", "no speech"]
    if kind == "not-audio":
        clip.write_bytes(b"RIFF junk" * 100)
        return d / "data", ["clip1.wav", "corrupt or unsupported audio"]
    (d / "data" / "clip2.txt").write_text("Привет, мир.", encoding="utf-8")
    return d / "data", ["clip2.wav", "cannot say"]


@pytest.mark.parametrize("kind", ["no-transcript", "csv-missing", "csv-short", "empty-text", "silent", "not-audio", "foreign-script"])
def test_bad_input_is_one_line(kind, clips, tmp_path, capsys):
    data, says = _bad(kind, clips, tmp_path)
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["finetune", "--data", str(data), "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    for s in says:
        assert s in err[0], (s, err[0])
    assert not out.exists()  # checked before anything is written
