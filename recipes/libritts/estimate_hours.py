"""Expected GPU hours per stage of recipes/libritts/run.sh: an ESTIMATE derived from counted FLOPs, not a measurement.

What is counted (torch.utils.flop_counter, on this CPU, with random weights): one training step of each stage at the
sizes of recipes/libritts/conf/<rate>/*.yaml, at a reduced batch and scaled linearly to the config's batch (the
convolutions and most of the transformer cost are linear in the batch and length), and the forward passes of the
non-training stages per second of audio or per utterance. What is assumed (nothing here was run on a GPU):

- LibriTTS sizes (the LibriTTS paper): train-* 555.15 h in 354,780 utterances (mean 5.63 s); all subsets 585.8 h;
- 18 phoneme symbols a second of speech (lm/config.py: 0.69 tokens a symbol at 12.5 Hz, measured on the offline corpus);
- a NAR batch padded to its longest crop, taken as the full max_frames (random batches of 32 nearly always hold one
  long utterance);
- the GPU: an A100 80GB (peak 312 TFLOPS bf16, 156 TFLOPS TF32, which cuDNN uses for fp32 convolutions by default,
  19.5 TFLOPS fp32, what PyTorch uses for fp32 matrix products by default), sustaining a fraction of its peak:
  transformers in bf16 (LM, NAR) 35% (range 25-50%), the convolutional codec and its discriminators in fp32/TF32 15%
  (range 8-30%: full-rate waveform layers spend much of their time in memory-bound element-wise work, Snake
  activations and weight norm, which FLOPs do not see), the w2v-BERT teacher's fp32 matrix products (the codec config
  trains in fp32) 60% (40-80%). An H100 has ~3x these peaks.

Added to the codec's hours: w2v-BERT's fbank features, computed on the CPU inside every training step (the teacher
runs on each crop), at the CPU time measured here (a 2-core machine shared with other work) for one step's batch.
Not counted: the rest of the data pipeline (audio decoding), validation, checkpointing, FFTs (STFT losses).

    python recipes/libritts/estimate_hours.py [--out recipes/libritts/hours_estimate.json]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

CONF = Path(__file__).resolve().parent / "conf"
TRAIN_HOURS, TRAIN_UTTS, ALL_HOURS = 555.15, 354_780, 585.8
DEV_UTTS = 5_736
MEAN_S = TRAIN_HOURS * 3600 / TRAIN_UTTS
SYMBOLS_PER_S = 12.5 / 0.69
PEAK = {"bf16": 312e12, "tf32": 156e12, "fp32": 19.5e12}
UTIL = {"transformer": (0.35, 0.25, 0.50), "conv": (0.15, 0.08, 0.30), "fp32_matmul": (0.6, 0.4, 0.8)}  # assumed: mid, low, high


def flops(fn) -> float:
    with FlopCounterMode(display=False) as fc:
        fn()
    return float(fc.get_total_flops())


def conf(rate: str, stage: str) -> dict:
    return yaml.safe_load((CONF / rate / f"{stage}.yaml").read_text())


def codec_parts(rate: str) -> dict:
    """Per training step (config batch and crop) and per second of audio for encoding."""
    from dualtts.codec.config import get_config
    from dualtts.codec.discriminators import Discriminator
    from dualtts.codec.losses import MultiScaleMelLoss, discriminator_loss, feature_matching_loss, generator_adv_loss
    from dualtts.codec.model import DualCodec
    from dualtts.codec.ssl import SSLConfig

    c = conf(rate, "codec")
    cfg = get_config(c["model"])
    teacher_dim = cfg.ssl.dim
    # the teacher's features are given (a teacher-cache step) so the codec alone is counted; the teacher on its own below
    cfg.ssl = SSLConfig(kind="whisper", source="random", layer=-1, config={"d_model": teacher_dim, "encoder_layers": 1})
    torch.manual_seed(0)
    g, d, mel = DualCodec(cfg).train(), Discriminator(channels=c["disc_channels"]), MultiScaleMelLoss(cfg.sample_rate)
    seg = 0.96
    wav = 0.1 * torch.randn(1, 1, int(seg * cfg.sample_rate))
    teacher = torch.randn(1, teacher_dim, int(seg * 50))

    def step():
        out = g(wav, teacher)
        fake = out["audio"]
        discriminator_loss(d(wav), d(fake.detach())).backward()
        loss = 15 * mel(fake, wav) + out["codebook_loss"] + 0.25 * out["commitment_loss"] + 15 * out["semantic_loss"]
        ro, fo = d(wav), d(fake)
        (loss + generator_adv_loss(fo) + 2 * feature_matching_loss(ro, fo)).backward()

    scale = c["batch_size"] * c["segment_seconds"] / seg
    step_f = flops(step) * scale
    with torch.no_grad():
        g.eval()
        enc_per_s = flops(lambda: g._quantize(g._pad(wav), teacher=teacher)) / seg
    return {"step_flops": step_f, "encode_flops_per_s": enc_per_s, "params_M": round(g.num_params() / 1e6, 1)}


def teacher_parts() -> dict:
    """w2v-BERT 2.0 up to layer 17 (the paper's teacher), forward per second of audio; its fbank's CPU time per crop."""
    import numpy as np
    import transformers as tf

    seg, F = 0.96, 48
    x = torch.randn(1, F, 160)
    per = []
    for n in (1, 2):
        torch.manual_seed(0)
        m = tf.Wav2Vec2BertModel(tf.Wav2Vec2BertConfig(num_hidden_layers=n)).eval()
        with torch.no_grad():
            per.append(flops(lambda: m(x)))
    f17 = per[0] + 16 * (per[1] - per[0])
    fe = tf.SeamlessM4TFeatureExtractor()
    crop = [np.random.default_rng(0).standard_normal(int(3.2 * 16000)).astype(np.float32) * 0.1 for _ in range(8)]
    t = time.perf_counter()
    for _ in range(3):
        fe(crop, sampling_rate=16000, return_tensors="pt", padding=True)
    return {"forward_flops_per_s": f17 / seg, "fbank_cpu_s_per_8x3.2s_batch": round((time.perf_counter() - t) / 3, 3)}


def lm_parts(rate: str, fr: float) -> dict:
    from dualtts.lm.config import get_lm_config
    from dualtts.lm.model import SemanticLM

    c = conf(rate, "lm")
    cfg = get_lm_config(c["model"], defaults={"num_phonemes": 128, "codebook_size": 16384, "frame_rate": fr})
    torch.manual_seed(0)
    lm = SemanticLM(cfg).train()
    L = round(MEAN_S * (fr + SYMBOLS_PER_S))  # positions of a mean utterance: its tokens and phoneme symbols
    B = 4
    ids = torch.randint(0, cfg.vocab_size - 1, (B, L))

    def step():
        lm(ids)[0].float().logsumexp(-1).mean().backward()

    per_batch = min(c["batch_size"], c["max_batch_seconds"] / MEAN_S)
    with torch.no_grad():
        lm.eval()
        fwd = flops(lambda: lm(ids))
    return {"step_flops": flops(step) * per_batch / B, "forward_flops_per_utt": fwd / B, "positions_per_utt": L,
            "utts_per_step": round(per_batch, 1), "params_M": round(sum(p.numel() for p in lm.parameters()) / 1e6, 1)}


def nar_parts(rate: str, fr: float, q: int, acoustic: int, cond: int) -> dict:
    from dualtts.flow.nar import AcousticNAR, get_nar_config

    c = conf(rate, "nar")
    cfg = get_nar_config(c["model"], defaults=dict(codebook_size=16384, acoustic_codebook_size=acoustic, num_quantizers=q,
                                                   frame_rate=fr, cond_dim=cond))
    torch.manual_seed(0)
    nar = AcousticNAR(cfg).train()
    F = c["max_frames"]
    codes = torch.randint(0, acoustic, (1, q, F))
    mask = torch.ones(1, F, dtype=torch.bool)
    states = torch.randn(1, F, cond)
    f = flops(lambda: nar.loss(codes, mask, states)["loss"].backward())
    return {"step_flops": f * c["batch_size"], "params_M": round(sum(p.numel() for p in nar.parameters()) / 1e6, 1)}


def hours(*parts: tuple[float, str, str], extra_s: float = 0.0) -> dict:
    """parts: (FLOPs, utilization kind, peak) -> hours at the middle, high and low utilization assumed (+ extra_s)."""
    def h(i):
        x = (sum(f / (PEAK[peak] * UTIL[kind][i]) for f, kind, peak in parts) + extra_s) / 3600
        return round(x, 2 if x < 1 else 1 if x < 10 else 0)
    return {"hours": h(0), "range": [h(2), h(1)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "hours_estimate.json"))
    a = ap.parse_args()
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    teacher = teacher_parts()
    report = {"what": "ESTIMATES derived from counted FLOPs and assumed GPU utilization; nothing was run on a GPU "
                      "(see the docstring of estimate_hours.py)",
              "gpu": "A100 80GB: 312 TFLOPS bf16, 156 TFLOPS TF32, 19.5 TFLOPS fp32 peak", "utilization_assumed": UTIL,
              "libritts": {"train_hours": TRAIN_HOURS, "train_utterances": TRAIN_UTTS, "mean_seconds": round(MEAN_S, 2),
                           "all_hours": ALL_HOURS, "symbols_per_second": round(SYMBOLS_PER_S, 1)},
              "teacher": {"w2v_bert_17_layers_gflops_per_audio_s": round(teacher["forward_flops_per_s"] / 1e9, 1),
                          "fbank_cpu_s_per_8x3.2s_batch_here": teacher["fbank_cpu_s_per_8x3.2s_batch"]},
              "rates": {}}
    for rate, fr, q, acoustic in (("12hz", 12.5, 8, 4096), ("25hz", 25.0, 12, 1024)):
        cc, lc, nc = conf(rate, "codec"), conf(rate, "lm"), conf(rate, "nar")
        codec, lm = codec_parts(rate), lm_parts(rate, fr)
        nar = nar_parts(rate, fr, q, acoustic, cond=768)
        teacher_step = teacher["forward_flops_per_s"] * cc["batch_size"] * cc["segment_seconds"]
        steps = cc["train"]["max_steps"]
        audio_s = ALL_HOURS * 3600
        fbank_per_audio_s = teacher["fbank_cpu_s_per_8x3.2s_batch"] / (8 * 3.2)
        fbank_step = fbank_per_audio_s * cc["batch_size"] * cc["segment_seconds"]
        states_total = lm["forward_flops_per_utt"] * (TRAIN_UTTS + DEV_UTTS)
        r = {
            "2 codec": {"params_M": codec["params_M"], "tflop_per_step": round((codec["step_flops"] + teacher_step) / 1e12, 2),
                        "teacher_share": round(teacher_step / (codec["step_flops"] + teacher_step), 3),
                        "steps": steps, "cpu_fbank_hours": round(fbank_step * steps / 3600, 1),
                        **hours((codec["step_flops"] * steps, "conv", "tf32"), (teacher_step * steps, "fp32_matmul", "fp32"),
                                extra_s=fbank_step * steps)},
            "3 tokens": {"pflop": round((codec["encode_flops_per_s"] + teacher["forward_flops_per_s"]) * audio_s / 1e15, 1),
                         **hours((codec["encode_flops_per_s"] * audio_s, "conv", "tf32"),
                                 (teacher["forward_flops_per_s"] * audio_s, "fp32_matmul", "fp32"), extra_s=fbank_per_audio_s * audio_s),
                         "cpu_fbank_hours": round(fbank_per_audio_s * audio_s / 3600, 1)},
            "4 lm": {"params_M": lm["params_M"], "positions_per_utt": lm["positions_per_utt"], "utts_per_step": lm["utts_per_step"],
                     "tflop_per_step": round(lm["step_flops"] / 1e12, 2), "steps": lc["train"]["max_steps"],
                     **hours((lm["step_flops"] * lc["train"]["max_steps"], "transformer", "bf16"))},
            "5 lm-states": {"pflop": round(states_total / 1e15, 2), **hours((states_total, "transformer", "bf16"))},
            "6 nar": {"params_M": nar["params_M"], "tflop_per_step": round(nar["step_flops"] / 1e12, 2),
                      "steps": nc["train"]["max_steps"], **hours((nar["step_flops"] * nc["train"]["max_steps"], "transformer", "bf16"))},
        }
        report["rates"][rate] = r
        print(rate, json.dumps(r))
    Path(a.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
