"""Bad input, through the CLI: exit status 2, one line ``error: <input>: <problem>`` naming the input, no
traceback, and no output file left behind. Where the input is odd but usable (8-bit, 8 kHz, 96 kHz, stereo,
clipped) the command succeeds instead. The API raises one family: ``ValueError`` (AudioError, TextError,
ManifestError are ValueErrors) or ``OSError`` for missing files."""
import json
import shutil
import struct

import numpy as np
import pytest
import soundfile as sf

from dualtts.cli import main

SR = 24000


def _tone(seconds=1.0, sr=SR, amp=0.3):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def _float_wav(path, data, sr=SR):
    sf.write(str(path), data, sr, subtype="FLOAT")
    return path


def _run(capsys, args, out=None, status=2, says=()):
    """Run the CLI; check the exit status, a one-line error naming what it should, and no output file."""
    capsys.readouterr()
    assert main([str(a) for a in args]) == status
    err = capsys.readouterr().err.strip().splitlines()
    if status == 2:
        assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
        for s in says:
            assert s in err[0], (s, err[0])
        if out is not None:
            assert not out.exists() and not list(out.parent.glob(f".{out.name}*")), "partial output left behind"
    return err


# --- audio in: dualtts encode ----------------------------------------------------------------------------
def _bad_audio(kind, d):
    p = d / f"{kind}.wav"
    if kind == "missing":
        return p, "file not found"
    if kind == "empty":
        p.write_bytes(b"")
        return p, "empty file"
    if kind == "truncated":
        sf.write(str(p), _tone(), SR)
        p.write_bytes(p.read_bytes()[:30])
        return p, "corrupt or unsupported audio"
    if kind == "corrupt":
        p.write_bytes(np.random.default_rng(0).bytes(5000))
        return p, "corrupt or unsupported audio"
    if kind == "nan":
        return _float_wav(p, np.full(SR, np.nan, np.float32)), "NaN/Inf"
    if kind == "inf":
        x = _tone()
        x[100] = np.inf
        return _float_wav(p, x), "NaN/Inf"
    if kind == "directory":
        p.mkdir()
        return p, "not a regular file"
    if kind == "too-long":  # an hour, refused from its header before it is read
        with sf.SoundFile(str(p), "w", samplerate=8000, channels=1, subtype="PCM_U8") as f:
            f.write(np.zeros(8000 * 3601, np.float32))
        return p, "too long"
    if kind == "no-samples":
        sf.write(str(p), np.zeros(0, np.float32), SR)
        return p, "empty audio"
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["missing", "empty", "truncated", "corrupt", "nan", "inf", "directory", "too-long", "no-samples"])
def test_encode_refuses_bad_audio(kind, tmp_path, tiny_codec, capsys):
    src, problem = _bad_audio(kind, tmp_path)
    out = tmp_path / "out" / "codes.npz"
    _run(capsys, ["encode", "--codec", tiny_codec, src, out], out=out, says=(str(src), problem))


@pytest.mark.parametrize("kind", ["8bit", "8khz", "96khz", "stereo", "multichannel", "clipped", "silent"])
def test_encode_takes_odd_but_usable_audio(kind, tmp_path, tiny_codec, capsys):
    x = _tone()
    p = tmp_path / f"{kind}.wav"
    if kind == "8bit":
        sf.write(str(p), x, SR, subtype="PCM_U8")
    elif kind in ("8khz", "96khz"):
        sr = 8000 if kind == "8khz" else 96000
        sf.write(str(p), _tone(sr=sr), sr)
    elif kind == "stereo":
        sf.write(str(p), np.stack([x, -x * 0.5], 1), SR)
    elif kind == "multichannel":
        sf.write(str(p), np.stack([x] * 6, 1), SR)
    elif kind == "clipped":
        sf.write(str(p), np.clip(x * 8, -1, 1), SR)
    else:
        sf.write(str(p), np.zeros(SR, np.float32), SR)
    out = tmp_path / "codes.npz"
    _run(capsys, ["encode", "--codec", tiny_codec, p, out], status=0)
    with np.load(out) as z:
        assert z["codes"].shape[1] == 25  # 1 s at 25 Hz: resampled and mixed down as needed


# --- text and prompts: dualtts synthesize ----------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_codec, manifests, speech_dir):
    from test_flow import _model_folder

    return _model_folder(tmp_path_factory.mktemp("model") / "m", tiny_codec, manifests, speech_dir=speech_dir)


@pytest.mark.parametrize("text,problem", [
    ("", "empty"),
    ("  \n\t ", "empty"),
    ("?!... ,;", "no pronounceable characters"),
    ("\U0001F600\U0001F680", "no pronounceable characters"),
    ("\u4f60\u597d\u4e16\u754c", "cannot say"),
    ("x" * 10001, "too long"),
    ("Hello\x00 there\x07", "control character"),
])
def test_synthesize_refuses_bad_text(text, problem, tmp_path, model_dir, capsys):
    out = tmp_path / "o.wav"
    _run(capsys, ["synthesize", "--model", model_dir, "--text", text, "--out", out, "--steps", "1"], out=out, says=("text", problem))


@pytest.mark.parametrize("kind", ["missing", "silent", "too-short", "corrupt"])
def test_synthesize_refuses_a_bad_prompt(kind, tmp_path, model_dir, capsys):
    p = tmp_path / f"{kind}.wav"
    problem = {"missing": "file not found", "silent": "silent", "too-short": "too short", "corrupt": "corrupt"}[kind]
    if kind == "silent":
        sf.write(str(p), np.zeros(SR * 2, np.float32), SR)
    elif kind == "too-short":
        sf.write(str(p), _tone(0.2), SR)
    elif kind == "corrupt":
        p.write_bytes(b"RIFF" + struct.pack("<I", 99) + b"WAVEjunk")
    out = tmp_path / "o.wav"
    _run(capsys, ["synthesize", "--model", model_dir, "--text", "Hello.", "--prompt", p, "--prompt-text", "Hi.", "--out", out],
         out=out, says=(str(p), problem))


def test_synthesize_refuses_an_output_path_it_cannot_write(tmp_path, model_dir, capsys):
    (tmp_path / "a-file").write_text("x")
    out = tmp_path / "a-file" / "o.wav"
    _run(capsys, ["synthesize", "--model", model_dir, "--text", "Hello.", "--out", out, "--steps", "1"], says=("a-file",))
    bad_ext = tmp_path / "o.xyz"
    _run(capsys, ["synthesize", "--model", model_dir, "--text", "Hello.", "--out", bad_ext, "--steps", "1"], out=bad_ext,
         says=("unsupported output format",))


# --- checkpoints -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["missing", "truncated", "wrong-model", "pickle", "unknown-key", "not-yaml", "weights-mismatch"])
def test_decode_refuses_a_bad_checkpoint(kind, tmp_path, tiny_codec, model_dir, capsys):
    import pickle

    ck = tmp_path / "ck"
    problem = {"missing": "checkpoint not found", "truncated": "not a readable safetensors file",
               "wrong-model": "unknown codec config field", "pickle": "not a readable safetensors file",
               "unknown-key": "unknown codec config field(s): surprise", "not-yaml": "not a valid config",
               "weights-mismatch": "does not match"}[kind]
    if kind != "missing":
        shutil.copytree(model_dir / "lm" if kind == "wrong-model" else tiny_codec, ck)
    if kind == "truncated":
        (ck / "model.safetensors").write_bytes((ck / "model.safetensors").read_bytes()[:100])
    elif kind == "pickle":
        (ck / "model.safetensors").write_bytes(pickle.dumps({"a": 1}))
    elif kind == "unknown-key":
        (ck / "config.yaml").write_text((ck / "config.yaml").read_text() + "surprise: 1\n")
    elif kind == "not-yaml":
        (ck / "config.yaml").write_text("hop_length: [unclosed\n")
    elif kind == "weights-mismatch":
        shutil.copy(model_dir / "flow" / "model.safetensors", ck / "model.safetensors")
    codes = tmp_path / "c.npz"
    np.savez(codes, codes=np.zeros((4, 5), np.int16), length=np.int64(4800), sample_rate=np.int64(SR))
    out = tmp_path / "o.wav"
    _run(capsys, ["decode", "--codec", ck, codes, out], out=out, says=(str(ck), problem))


# --- manifests: dualtts reconstruct ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["missing-manifest", "bad-json", "missing-field", "duplicate-id", "missing-audio", "dotdot-missing"])
def test_reconstruct_refuses_a_bad_manifest(kind, tmp_path, tiny_codec, capsys):
    wav = tmp_path / "a.wav"
    sf.write(str(wav), _tone(), SR)
    row = {"id": "a", "audio": "a.wav", "duration": 1.0, "speaker": "s", "text": "t"}
    lines = {"bad-json": ["{not json"], "missing-field": [json.dumps({"id": "a", "audio": "a.wav"})],
             "duplicate-id": [json.dumps(row), json.dumps(row)],
             "missing-audio": [json.dumps({**row, "audio": "gone.wav"})],
             "dotdot-missing": [json.dumps({**row, "audio": "../../nowhere/a.wav"})]}.get(kind)
    m = tmp_path / "m.jsonl"
    if lines is not None:
        m.write_text("\n".join(lines) + "\n")
    problem = {"missing-manifest": "manifest not found", "bad-json": "not valid JSON", "missing-field": "missing field",
               "duplicate-id": "duplicated id", "missing-audio": "file not found", "dotdot-missing": "file not found"}[kind]
    _run(capsys, ["reconstruct", "--tokenizer", tiny_codec, "--manifest", m, "--out", tmp_path / "out"], says=(problem,))


def test_manifest_paths_outside_its_folder_and_absolute_paths_work(tmp_path, tiny_codec, capsys):
    (tmp_path / "audio").mkdir()
    sf.write(str(tmp_path / "audio" / "a.wav"), _tone(), SR)
    sf.write(str(tmp_path / "b.wav"), _tone(), SR)
    (tmp_path / "man").mkdir()
    m = tmp_path / "man" / "m.jsonl"
    rows = [{"id": "a", "audio": "../audio/a.wav", "duration": 1.0, "speaker": "s", "text": "t"},
            {"id": "b", "audio": str(tmp_path / "b.wav"), "duration": 1.0, "speaker": "s", "text": "t"}]
    m.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    _run(capsys, ["reconstruct", "--tokenizer", tiny_codec, "--manifest", m, "--out", tmp_path / "out"], status=0)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.wav")) == ["a.wav", "b.wav"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["utterances"] == 2 and summary["encode_rtf"] > 0 and summary["decode_rtf"] > 0
