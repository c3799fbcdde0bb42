"""Signal front ends without CPU round trips or the eval extra: w2v-BERT's fbank in torch (vs transformers'
extractor), the Slaney/Kaldi mel banks (vs librosa / transformers), a bf16 codec step with a w2v-BERT teacher, and
codec training without librosa."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dualtts.codec.fbank import w2v_bert_fbank
from dualtts.data.mel import filters_on, kaldi_mel_filters, mel_filters

from conftest import TINY_CODEC

ROOT = Path(__file__).resolve().parents[1]
# a w2v-BERT 2.0-shaped teacher (conformer, 160-dim stacked fbank input), small enough for a test
TINY_W2V_BERT = {"kind": "w2v-bert", "source": "random", "layer": -1,
                 "config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
                            "conv_depthwise_kernel_size": 5, "output_hidden_size": 32}}


def _clips(T: int, seed: int = 0) -> torch.Tensor:
    """Two clips of T samples: a tone with an envelope (quiet and loud frames) and noise with a DC offset."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T) / 16000
    tone = 0.5 * torch.sin(2 * torch.pi * 220 * t) * torch.sin(2 * torch.pi * 1.5 * t).abs()
    return torch.stack([tone + 1e-3 * torch.randn(T, generator=g), 0.05 + 0.1 * torch.randn(T, generator=g)])


@pytest.mark.parametrize("T", [16000, 16000 + 160, 41040, 51360])  # even and odd fbank frame counts
@pytest.mark.parametrize("padding_value", [0.0, 1.0])
def test_w2v_bert_fbank_matches_the_transformers_extractor(T, padding_value):
    from transformers import SeamlessM4TFeatureExtractor

    x = _clips(T)
    ref = SeamlessM4TFeatureExtractor(padding_value=padding_value)([w.numpy() for w in x], sampling_rate=16000,
                                                                    return_tensors="pt", padding=True)
    for dtype, tol in ((torch.float32, 1e-2), (torch.float64, 1e-4)):
        feats, mask = w2v_bert_fbank(x, padding_value, dtype=dtype)
        assert feats.dtype == torch.float32 and feats.shape == ref["input_features"].shape
        assert torch.equal(mask, ref["attention_mask"].long())
        diff = (feats - ref["input_features"]).abs().max().item()
        assert diff < tol, (dtype, diff)
    n = 1 + (T - 400) // 160
    assert bool((mask[:, -1] == 0).all()) == bool(n % 2)  # an odd frame count: the last stacked frame is padding


def test_w2v_bert_fbank_takes_bf16_audio_under_autocast():
    x = _clips(16000).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        feats, _ = w2v_bert_fbank(x)
    assert feats.dtype == torch.float32 and torch.isfinite(feats).all()
    assert (feats - w2v_bert_fbank(x.float())[0]).abs().max() < 1e-4  # the same as from the fp32 audio


def test_mel_banks_match_librosa_and_transformers():
    from transformers.audio_utils import mel_filter_bank

    kaldi = mel_filter_bank(num_frequency_bins=257, num_mel_filters=80, min_frequency=20, max_frequency=8000, sampling_rate=16000,
                            norm=None, mel_scale="kaldi", triangularize_in_mel_space=True)
    assert np.abs(kaldi_mel_filters() - kaldi.T).max() < 1e-12
    librosa = pytest.importorskip("librosa")  # the eval extra: compared where it is installed
    for sr, n_fft, n_mels, fmin, fmax, htk in [(16000, 400, 80, 0.0, 8000.0, False), (24000, 256, 40, 0.0, None, False),
                                               (24000, 2048, 320, 0.0, None, False), (16000, 1024, 80, 0.0, None, False),
                                               (22050, 1024, 64, 30.0, 7000.0, True)]:
        ours = mel_filters(sr, n_fft, n_mels, fmin, fmax, htk)
        theirs = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk)
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-8)


def test_filter_banks_are_copied_to_a_device_once():
    a = filters_on(mel_filters, 24000, 512, 80, device="cpu")
    assert filters_on(mel_filters, 24000, 512, 80, device="cpu") is a
    assert filters_on(mel_filters, 24000, 512, 80, device="cpu", dtype=torch.float64) is not a
    from dualtts.codec.losses import MultiScaleMelLoss

    loss = MultiScaleMelLoss(24000)
    x = torch.randn(1, 1, 4800)
    loss(x, x)
    assert loss.mel(x, 512, 80).shape[1] == 80 and filters_on(mel_filters, 24000, 512, 80, device="cpu") is a


def test_codec_training_and_validation_need_no_librosa(tmp_path):
    """librosa is in the eval extra only: the mel loss, Whisper's log-mel and the validation mel distance run without."""
    code = """
import sys
sys.modules["librosa"] = None  # import librosa -> ImportError
import numpy as np, torch
from dualtts.codec.losses import MultiScaleMelLoss
from dualtts.codec.ssl import whisper_log_mel
from dualtts.data.features import mel_l1
x = torch.randn(1, 1, 24000) * 0.1
assert torch.isfinite(MultiScaleMelLoss(24000)(x, x * 0.5))
assert whisper_log_mel(x[:, 0, :16000]).shape == (1, 80, 100)
assert np.isfinite(mel_l1(np.random.randn(16000) * 0.1, np.random.randn(16000) * 0.1))
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


@pytest.fixture
def fresh_accelerate_state():
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()
    yield
    AcceleratorState._reset_state()


def test_bf16_codec_step_with_a_w2v_bert_shaped_teacher(manifests, tmp_path, fresh_accelerate_state):
    """Under bf16 autocast the 16 kHz audio reaches the teacher in bf16; its fbank used to go through numpy
    ("Got unsupported ScalarType BFloat16"). Now it runs in torch on the device and the losses are finite."""
    from dualtts.codec.train import CodecTask, load_train_config
    from dualtts.training.loop import Trainer

    d = {"model": {**TINY_CODEC, "ssl": TINY_W2V_BERT}, "train_manifest": str(manifests / "train.jsonl"),
         "segment_seconds": 0.4, "batch_size": 2, "disc_channels": 4,
         "train": {"out_dir": str(tmp_path / "run"), "max_steps": 1, "warmup_steps": 1, "log_every": 1, "val_every": 0,
                   "save_every": 0, "mixed_precision": "bf16"}}
    p = tmp_path / "codec.yaml"
    p.write_text(yaml.safe_dump(d))
    cfg = load_train_config(str(p))
    task = CodecTask(cfg)
    assert type(task.codec.ssl.model).__name__ == "Wav2Vec2BertModel"
    seen = []
    task.codec.ssl.model.register_forward_pre_hook(lambda m, args, kw: seen.append(kw.get("input_features", args[0] if args else None)),
                                                   with_kwargs=True)
    out = Trainer(cfg.train, task).fit(resume=False)
    logs = out["history"][-1]
    assert out["step"] == 1 and all(np.isfinite(v) for v in logs.values()), json.dumps(logs)
    assert logs["semantic"] > 0 and seen and seen[0].dtype == torch.float32 and seen[0].shape[-1] == 160
