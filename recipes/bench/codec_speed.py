"""Codec speed benchmark: encode/decode real-time factors and peak memory, DualCodec presets side by side
with Mimi and EnCodec (24 kHz) built from their default configs, in one run (random weights: speed only).

    python recipes/bench/codec_speed.py --json recipes/bench/codec_speed.json [--seconds 10] [--threads 2]

Each measurement runs in its own forked process (its peak RSS is that model's), after one warm-up
call; times are the median of ``--repeats``. RTF = seconds of compute per second of audio (lower is
faster). The SSL front end (w2v-BERT 2.0 up to layer 17, and the offline Whisper-base teacher) is
reported separately from the codec's own encode. ``ratio_decode_vs_mimi`` = 12hz decode time /
Mimi decode time at batch 1 (target: <= 0.5); ``ratio_decode_vs_mimi_12hz_istft`` the same for the
reference-size 12.5 Hz preset with the spectral (iSTFT) stream.
"""
from __future__ import annotations

import argparse
import json
import platform

import torch
from common import median_time, run_isolated


def _wav(batch: int, seconds: float, sr: int = 24000) -> torch.Tensor:
    from dualtts.bench_timing import wav

    return wav(batch, seconds, sr)


def _dualcodec(preset: str):
    from dualtts.codec.config import PRESETS, random_teacher_like
    from dualtts.codec.model import DualCodec

    cfg = PRESETS[preset]()
    cfg.ssl = random_teacher_like(cfg)  # the SSL model is measured on its own
    return DualCodec(cfg).eval()


def measure_dualcodec(preset: str, batch: int, seconds: float, repeats: int) -> dict:
    m = _dualcodec(preset)
    x = _wav(batch, seconds)
    xp = m._pad(x)

    def enc():  # the codec's own encode: semantic encoder + VQ-1 on (precomputed-size) SSL features, acoustic encoder + RVQ
        feats = torch.zeros(batch, m.cfg.ssl.dim, xp.shape[-1] // m.cfg.hop_length)
        s_q, *_ = m.semantic_vq(m.semantic_encoder(feats))
        m.acoustic_rvq(m.encoder(xp) - s_q)

    codes = torch.zeros(batch, len(m.codebook_sizes), m.frames(x.shape[-1]), dtype=torch.long)
    return {"encode_s": median_time(enc, repeats), "decode_s": median_time(lambda: m.decode(codes), repeats),
            "params_without_ssl_M": round(m.num_params() / 1e6, 2)}


def measure_ssl(kind: str, batch: int, seconds: float, repeats: int) -> dict:
    from dualtts.codec.ssl import SSLConfig, SSLFrontEnd

    if kind == "w2v-bert-2.0-l17":
        from transformers import Wav2Vec2BertConfig

        cfg = SSLConfig(kind="w2v-bert", source="random", layer=17, config=Wav2Vec2BertConfig().to_dict())
    else:  # the offline teacher used by the tiny presets
        cfg = SSLConfig(kind="whisper", source="ct2:base", layer=-1)
    fe = SSLFrontEnd(cfg)
    x = _wav(batch, seconds, 16000)[:, 0]
    return {"encode_s": median_time(lambda: fe(x), repeats), "params_M": round(sum(p.numel() for p in fe.parameters()) / 1e6, 1)}


def measure_mimi(batch: int, seconds: float, repeats: int) -> dict:
    """Through the Tokenizer adapter, as ``dualtts bench`` measures it (:func:`dualtts.bench.measure_codec`)."""
    from dualtts.bench import measure_codec

    return measure_codec("mimi", batch, seconds, repeats)


def measure_encodec(batch: int, seconds: float, repeats: int) -> dict:
    from dualtts.bench import measure_codec

    return measure_codec("encodec", batch, seconds, repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--presets", nargs="+", default=["12hz", "25hz", "12hz-istft", "tiny-12hz", "tiny-25hz"])
    a = ap.parse_args()
    audio = lambda b: b * a.seconds
    rows: dict = {}
    for b in a.batches:
        for name, fn, args in ([(p, measure_dualcodec, (p,)) for p in a.presets]
                               + [("mimi", measure_mimi, ()), ("encodec_24khz", measure_encodec, ())]):
            r = run_isolated(fn, a.threads, *args, b, a.seconds, a.repeats)
            for k in ("encode_s", "decode_s"):
                if k in r:
                    r[k.replace("_s", "_rtf")] = round(r[k] / audio(b), 4)
            rows.setdefault(name, {})[f"batch{b}"] = r
            print(name, b, r, flush=True)
    ssl_rows = {}
    for kind in ("w2v-bert-2.0-l17", "whisper-base-ct2"):
        r = run_isolated(measure_ssl, a.threads, kind, 1, a.seconds, max(1, a.repeats - 1))
        if "encode_s" in r:
            r["encode_rtf"] = round(r["encode_s"] / a.seconds, 4)
        ssl_rows[kind] = {"batch1": r}
        print(kind, r, flush=True)
    b1 = lambda n: rows[n]["batch1"]["decode_s"]
    result = {
        "ratio_decode_vs_mimi": round(b1("12hz") / b1("mimi"), 3) if "12hz" in rows else None,
        "ratio_decode_vs_mimi_12hz_istft": round(b1("12hz-istft") / b1("mimi"), 3) if "12hz-istft" in rows else None,
        "ratio_decode_vs_mimi_tiny12hz": round(b1("tiny-12hz") / b1("mimi"), 3) if "tiny-12hz" in rows else None,
        "setup": {"seconds": a.seconds, "threads": a.threads, "repeats": a.repeats, "torch": torch.__version__,
                  "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
                  "weights": "random (speed only)", "note": "DualCodec encode excludes the SSL front end (see ssl)"},
        "codecs": rows, "ssl": ssl_rows,
    }
    from dualtts.data.atomic import write_text_atomic

    write_text_atomic(a.json, json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k.startswith("ratio")}))


if __name__ == "__main__":
    main()
