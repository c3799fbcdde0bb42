"""Speaker augmentation: one training voice made into many, so a codec trained on a few dozen voices hears more.

Each call draws, from a seeded generator, a pitch-and-formant shift (a phase-vocoder pitch shift: both move
together, as with a shorter or longer vocal tract; the length is kept, so features cached for the clean clip
still line up), a spectral tilt and a few broad EQ bumps, a band limit (8 or 16 kHz recordings) and a little
noise, each applied with its own probability.

    aug = SpeakerAugment(SpeakerAugmentConfig(p=0.8))
    wav = aug(wav, sr, rng)      # [T] float32 -> [T] float32, the same length and about the same level
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np


@dataclass
class SpeakerAugmentConfig:
    p: float = 0.8                          # chance that a clip is augmented at all
    pitch_semitones: float = 4.0            # shift drawn from [-x, x] (pitch and formants together)
    p_pitch: float = 0.7
    tilt_db_per_octave: float = 4.0         # spectral tilt drawn from [-x, x] around 1 kHz
    eq_bumps: int = 3                       # broad peaks / dips of up to eq_db at random frequencies
    eq_db: float = 6.0
    p_eq: float = 0.7
    band_limits_hz: tuple = (4000.0, 8000.0)  # one of these as the upper band edge (8 / 16 kHz sources)
    p_band: float = 0.3
    snr_db: tuple = (25.0, 50.0)            # white noise at an SNR drawn from this range
    p_noise: float = 0.3


class SpeakerAugment:
    def __init__(self, cfg: SpeakerAugmentConfig | dict | None = None):
        self.cfg = cfg if isinstance(cfg, SpeakerAugmentConfig) else SpeakerAugmentConfig(**(cfg or {}))

    def __call__(self, wav: np.ndarray, sr: int, rng: random.Random) -> np.ndarray:
        c, wav = self.cfg, np.asarray(wav, np.float32)
        if rng.random() >= c.p or not np.any(wav):
            return wav
        n, peak = len(wav), float(np.abs(wav).max())
        if c.pitch_semitones and rng.random() < c.p_pitch:
            import librosa

            steps = rng.uniform(-c.pitch_semitones, c.pitch_semitones)
            wav = librosa.effects.pitch_shift(wav, sr=sr, n_steps=steps, n_fft=1024, hop_length=256)[:n]
        gain_db = np.zeros(n // 2 + 1)
        hz = np.fft.rfftfreq(n, 1 / sr)
        octaves = np.log2(np.maximum(hz, 60.0) / 1000.0)
        if rng.random() < c.p_eq:
            gain_db += rng.uniform(-c.tilt_db_per_octave, c.tilt_db_per_octave) * octaves
            for _ in range(c.eq_bumps):
                centre, width = rng.uniform(np.log2(0.15), np.log2(6.0)), rng.uniform(0.3, 1.2)  # octaves re 1 kHz
                gain_db += rng.uniform(-c.eq_db, c.eq_db) * np.exp(-0.5 * ((octaves - centre) / width) ** 2)
        if c.band_limits_hz and rng.random() < c.p_band:
            edge = rng.choice(list(c.band_limits_hz))
            gain_db += np.where(hz > edge, -80.0, 0.0) - 60.0 * np.clip((hz - 0.9 * edge) / (0.1 * edge), 0, 1)
        if np.any(gain_db):
            wav = np.fft.irfft(np.fft.rfft(wav) * np.power(10.0, gain_db / 20.0), n=n)
        if rng.random() < c.p_noise:
            rms = float(np.sqrt(np.mean(wav ** 2))) + 1e-9
            snr = rng.uniform(*c.snr_db)
            wav = wav + np.random.default_rng(rng.randrange(2 ** 31)).standard_normal(n) * rms * 10 ** (-snr / 20)
        new_peak = float(np.abs(wav).max()) + 1e-9
        return (wav * min(peak / new_peak, 10.0)).astype(np.float32)  # the clean clip's peak level
