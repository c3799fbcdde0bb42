"""Prompt-matched EQ (dualtts.voice_eq): fitted on a prompt and its codec copy, it undoes the copy's colour."""
import numpy as np
import torch

from dualtts.voice_eq import VoiceEQ, _ltas_db

SR = 24000


def _voice(seconds=3.0, f0=140.0, seed=0):
    """A crude voiced sound: a pulse train through two resonances, with pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = np.sign(np.sin(2 * np.pi * f0 * t * (1 + 0.05 * np.sin(2 * np.pi * 3 * t)))) + 0.05 * rng.standard_normal(t.size)
    for fc in (700.0, 2200.0):
        b = torch.tensor(np.exp(-((np.fft.rfftfreq(t.size, 1 / SR) - fc) / 300.0) ** 2) + 0.05)
        x = np.fft.irfft(np.fft.rfft(x) * b.numpy(), n=t.size)
    x[(t % 1.0) > 0.8] *= 0.001  # pauses
    return (0.1 * x / np.abs(x).max()).astype(np.float32)


def _colour(x):
    """What a codec might do to a voice it does not know: a brighter tilt and a dull low end."""
    f = np.fft.rfftfreq(x.size, 1 / SR)
    g = 10 ** ((6.0 * np.log2(np.maximum(f, 50) / 1000.0)) / 20)  # +6 dB per octave
    return np.fft.irfft(np.fft.rfft(x) * g, n=x.size).astype(np.float32)


def test_eq_undoes_a_known_colour_and_keeps_the_level():
    raw = _voice()
    coded = _colour(raw)
    eq = VoiceEQ.fit(raw, coded, SR, max_db=30.0)
    fixed = eq(coded)
    assert fixed.shape == coded.shape and fixed.dtype == np.float32
    hz = np.arange(513) * SR / 1024
    band = (hz > 150) & (hz < 8000)
    before = np.abs(_ltas_db(coded, 1024) - _ltas_db(raw, 1024))[band].mean()
    after = np.abs(_ltas_db(fixed, 1024) - _ltas_db(raw, 1024))[band].mean()
    assert before > 5.0 and after < 0.3 * before, (before, after)
    # level-neutral in the speech band: the filter's mean gain there is 0 dB
    mid = (hz >= 200) & (hz <= 3000)
    assert abs(20 * np.log10(eq.gain[mid]).mean()) < 1e-3


def test_eq_is_bounded_and_a_clean_copy_is_left_alone():
    raw = _voice(seed=1)
    eq = VoiceEQ.fit(raw, _colour(raw), SR, max_db=3.0)
    assert np.abs(20 * np.log10(eq.gain)).max() <= 3.0 + 1e-3
    same = VoiceEQ.fit(raw, raw, SR)
    np.testing.assert_allclose(same.gain, 1.0, atol=1e-5)
    np.testing.assert_allclose(same(raw), raw, atol=1e-4)
    short = np.zeros(100, np.float32)  # shorter than a frame: no filter, no error
    assert VoiceEQ.fit(short, short, SR)(short).shape == (100,)


def test_synthesizer_prompt_eq_switch(tmp_path, tiny_codec, manifests, speech_dir):
    """prompt_eq changes the cloned output (not its length); the default voice is never filtered."""
    from conftest import TEXT_B
    from test_flow import _model_folder

    from dualtts.synthesizer import Synthesizer

    tts = Synthesizer.from_pretrained(_model_folder(tmp_path / "model", tiny_codec, manifests, cond_dim=32, speech_dir=speech_dir))
    kw = dict(prompt=str(speech_dir / "female_b.wav"), prompt_text=TEXT_B, steps=2, max_new_tokens=20, candidates=1)
    off = tts("Hello there.", prompt_eq=False, **kw)
    on = tts("Hello there.", prompt_eq=True, **kw)
    assert on.shape == off.shape and not np.allclose(on, off)
    tts.prompt_eq = True
    np.testing.assert_array_equal(tts("Hello there.", **kw), on)
    np.testing.assert_array_equal(tts("Hello there.", steps=2, max_new_tokens=20, candidates=1, prompt_eq=True),
                                  tts("Hello there.", steps=2, max_new_tokens=20, candidates=1, prompt_eq=False))


def test_speaker_augment_keeps_length_and_level_and_is_seeded():
    """dualtts.data.augment: the same draw for the same seed, the clean clip's length and peak, a changed spectrum."""
    import random

    from dualtts.data.augment import SpeakerAugment

    x = _voice(seconds=1.0)
    aug = SpeakerAugment({"p": 1.0, "p_pitch": 1.0, "p_eq": 1.0, "p_band": 1.0, "p_noise": 1.0})
    a, b = aug(x, SR, random.Random(3)), aug(x, SR, random.Random(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == x.shape and a.dtype == np.float32
    assert abs(np.abs(a).max() - np.abs(x).max()) < 1e-4
    assert np.abs(_ltas_db(a, 1024) - _ltas_db(x, 1024)).mean() > 3.0
    assert not np.array_equal(aug(x, SR, random.Random(4)), a)
    np.testing.assert_array_equal(SpeakerAugment({"p": 0.0})(x, SR, random.Random(0)), x)
