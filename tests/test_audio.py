import os

import numpy as np
import pytest
import soundfile as sf

from dualtts.data.audio import AudioError, load_audio, loudness_normalize, rms_dbfs, save_audio, validate
from tests.conftest import write_wav


def test_load_resamples_and_round_trips(speech_dir, tmp_path):
    wav, sr = load_audio(speech_dir / "male_a.wav", 24000)
    info = sf.info(str(speech_dir / "male_a.wav"))
    assert sr == 24000 and wav.dtype == np.float32 and wav.ndim == 1
    assert abs(len(wav) - info.frames * 24000 / info.samplerate) <= 2
    out = save_audio(tmp_path / "x.wav", wav, 24000)
    back, sr2 = load_audio(out)
    assert sr2 == 24000 and len(back) == len(wav)
    assert np.max(np.abs(back - wav)) < 2e-4  # 16-bit quantization only
    assert sf.info(str(out)).subtype == "PCM_16"
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not the 0600 of a temporary file


@pytest.mark.parametrize("ext", [".flac", ".ogg", ".mp3"])
def test_other_formats(speech_dir, tmp_path, ext):
    wav, _ = load_audio(speech_dir / "male_a.wav", 24000)
    save_audio(tmp_path / f"x{ext}", wav, 24000)
    back, sr = load_audio(tmp_path / f"x{ext}", 24000)
    assert sr == 24000 and abs(len(back) - len(wav)) < 0.1 * 24000


def test_stereo_is_mixed_to_mono(tmp_path):
    t = np.linspace(0, 1, 16000, endpoint=False)
    left, right = 0.5 * np.sin(2 * np.pi * 220 * t), np.zeros_like(t)
    write_wav(tmp_path / "st.wav", np.stack([left, right], 1), 16000, "FLOAT")
    wav, _ = load_audio(tmp_path / "st.wav")
    assert wav.ndim == 1 and np.allclose(wav, left / 2, atol=1e-6)
    with pytest.raises(AudioError, match=r"st\.wav: 2 channels, expected mono"):
        load_audio(tmp_path / "st.wav", mono=False)


def test_wrong_sample_rate_when_resampling_is_not_allowed(speech_dir):
    with pytest.raises(AudioError, match=r"male_a\.wav: sample rate 22050 Hz, expected 24000 Hz"):
        load_audio(speech_dir / "male_a.wav", 24000, allow_resample=False)


def _one_line(err: pytest.ExceptionInfo, name: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg and name in msg
    return msg


def test_missing_file(tmp_path):
    with pytest.raises(AudioError) as e:
        load_audio(tmp_path / "nope.wav")
    assert _one_line(e, "nope.wav").endswith("file not found")


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError) as e:
        load_audio(tmp_path / "empty.wav")
    assert "empty file" in _one_line(e, "empty.wav")


def test_corrupt_file(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    with pytest.raises(AudioError) as e:
        load_audio(tmp_path / "bad.wav")
    assert "corrupt or unsupported audio" in _one_line(e, "bad.wav")


def test_zero_samples(tmp_path):
    write_wav(tmp_path / "zero.wav", np.zeros(0), 16000)
    with pytest.raises(AudioError) as e:
        load_audio(tmp_path / "zero.wav")
    assert "empty audio (0 samples)" in _one_line(e, "zero.wav")


def test_all_nan(tmp_path):
    write_wav(tmp_path / "nan.wav", np.full(1600, np.nan), 16000, "FLOAT")
    with pytest.raises(AudioError) as e:
        load_audio(tmp_path / "nan.wav")
    assert "1600 NaN/Inf samples" in _one_line(e, "nan.wav")


def test_silence_where_speech_is_needed(tmp_path, speech_dir):
    write_wav(tmp_path / "quiet.wav", np.zeros(16000), 16000)
    with pytest.raises(AudioError) as e:
        load_audio(tmp_path / "quiet.wav", require_speech=True)
    assert "no speech" in _one_line(e, "quiet.wav")
    load_audio(tmp_path / "quiet.wav")  # fine when speech is not required
    load_audio(speech_dir / "male_a.wav", require_speech=True)


def test_too_short_and_too_long(speech_dir):
    with pytest.raises(AudioError) as e:
        load_audio(speech_dir / "male_a.wav", min_seconds=60)
    assert "too short" in _one_line(e, "male_a.wav")
    with pytest.raises(AudioError) as e:
        load_audio(speech_dir / "male_a.wav", max_seconds=0.5)
    assert "too long" in _one_line(e, "male_a.wav")


def test_normalization():
    x = (0.1 * np.sin(np.linspace(0, 100, 24000))).astype(np.float32)
    y = loudness_normalize(x, -20.0)
    assert abs(rms_dbfs(y) - (-20.0)) < 0.05
    assert np.all(loudness_normalize(np.zeros(10, np.float32), -20.0) == 0)


def test_save_is_atomic_and_rejects_bad_audio(tmp_path):
    with pytest.raises(AudioError, match="NaN"):
        save_audio(tmp_path / "out.wav", np.full(100, np.nan), 24000)
    with pytest.raises(AudioError, match="unsupported output format"):
        save_audio(tmp_path / "out.xyz", np.zeros(100), 24000)
    assert list(tmp_path.iterdir()) == []  # no partial or temporary files


def test_validate_array_source_name():
    with pytest.raises(AudioError, match=r"^<array>: empty audio"):
        validate(np.zeros(0, np.float32), 16000)
