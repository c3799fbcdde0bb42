"""``dualtts codec-info | encode | decode | reconstruct | extract-tokens | codec-stats``: the codec."""
from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dualtts.codec.chunked import decode_chunked, encode_chunked
from dualtts.codec.config import get_config, random_teacher_like
from dualtts.codec.extract import extract_tokens
from dualtts.codec.model import DualCodec
from dualtts.codec.stats import compute_ssl_stats
from dualtts.data.atomic import atomic_path, write_text_atomic
from dualtts.data.audio import load_audio, save_audio
from dualtts.data.checkpoint import resolve_device
from dualtts.data.manifest import first_per_speaker, read_manifest
from dualtts.commands.common import add_device, add_tokenizer, open_tokenizer, tokenizer_spec


def _dualcodec(spec: str, device) -> DualCodec:
    kind, _, where = tokenizer_spec(spec).partition(":")
    if kind != "dualcodec":
        raise ValueError(f"{spec}: encode/decode take a DualCodec checkpoint (dualcodec:PATH or PATH)")
    return DualCodec.from_pretrained(where, device)


def cmd_codec_info(a) -> int:
    cfg = get_config(a.config)
    sized = copy.deepcopy(cfg)
    sized.ssl = random_teacher_like(cfg)
    n = DualCodec(sized).num_params()
    q = len(cfg.codebook_sizes)
    info = {"params_without_ssl": n, "params_without_ssl_millions": round(n / 1e6, 2), "frame_rate": cfg.frame_rate,
            "hop_length": cfg.hop_length, "sample_rate": cfg.sample_rate, "stream": cfg.stream,
            "codebook_sizes": cfg.codebook_sizes, "num_layers": q, "kbps": round(cfg.kbps(), 4),
            "kbps_by_layers": {str(k): round(cfg.kbps(k), 4) for k in range(1, q + 1)},
            "tokens_per_second": cfg.frame_rate * q,
            "ssl": {"kind": cfg.ssl.kind, "source": cfg.ssl.source, "layer": cfg.ssl.layer, "dim": cfg.ssl.dim}}
    print(json.dumps(info, indent=1))
    return 0


def cmd_encode(a) -> int:
    codec = _dualcodec(a.tokenizer, a.device)
    wav, sr = load_audio(a.input, codec.sample_rate, max_seconds=a.max_seconds, min_seconds=0.01)
    x = torch.from_numpy(wav).to(a.device)[None, None]
    codes = encode_chunked(codec, x, n_layers=a.layers)[0].cpu().numpy()  # any length, 30 s at a time
    dtype = np.int16 if max(codec.codebook_sizes) <= 32768 else np.int32
    with atomic_path(a.output, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, codes=codes.astype(dtype), length=np.int64(len(wav)), sample_rate=np.int64(sr),
                     frame_rate=np.float64(codec.frame_rate), codebook_sizes=np.array(codec.codebook_sizes[: codes.shape[0]]))
    print(f"{a.input} -> {a.output}: codes {list(codes.shape)} ({codes.shape[1] / len(wav) * sr:.2f} frames/s)")
    return 0


def cmd_decode(a) -> int:
    path = Path(a.input)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: codes file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            codes, length = z["codes"].astype(np.int64), int(z["length"])
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{path}: not a codes file written by 'dualtts encode' ({type(e).__name__})") from None
    codec = _dualcodec(a.tokenizer, a.device)
    if codes.ndim != 2 or codes.shape[0] > len(codec.codebook_sizes):
        raise ValueError(f"{path}: codes of shape {codes.shape} do not fit this codec ({len(codec.codebook_sizes)} layers)")
    c = torch.from_numpy(codes)[None].to(a.device)
    if a.layers:
        c = c[:, : a.layers]
    wav = decode_chunked(codec, c, length=length)[0, 0].cpu().numpy()
    if len(wav) < length:  # a codec that drops the tail (the official DualCodec: F-1 frames): silence, as long as the input
        wav = np.pad(wav, (0, length - len(wav)))
    save_audio(a.output, wav, codec.sample_rate)
    print(f"{a.input} -> {a.output}: {len(wav) / codec.sample_rate:.2f} s from {c.shape[1]} layer(s)")
    return 0


def cmd_reconstruct(a) -> int:
    """Encode and decode every utterance of a manifest (all layers, or the first --layers) into OUT/<id>.wav."""
    tok = open_tokenizer(a.tokenizer, a.device)
    utts = read_manifest(a.manifest)
    if a.per_speaker:
        utts = first_per_speaker(utts, a.per_speaker)
    utts = utts[: a.limit]
    out = Path(a.out)
    enc_s = dec_s = audio_s = 0.0
    for u in tqdm(utts, desc="reconstruct", unit="utt", file=sys.stderr, disable=None):
        wav, sr = load_audio(u.audio, tok.sample_rate)
        x = torch.from_numpy(wav).to(a.device)[None, None]
        t0 = time.perf_counter()
        codes = tok.encode(x)[:, : a.layers or None]
        t1 = time.perf_counter()
        y = tok.decode(codes, lengths=x.shape[-1])[0, 0].cpu().numpy()
        enc_s, dec_s, audio_s = enc_s + t1 - t0, dec_s + time.perf_counter() - t1, audio_s + x.shape[-1] / sr
        save_audio(out / f"{u.id}.wav", y, sr)
    summary = {"out": str(out), "utterances": len(utts), "layers": a.layers or len(tok.codebook_sizes),
               # per second of audio, one utterance at a time
               "encode_rtf": round(enc_s / max(audio_s, 1e-9), 4), "decode_rtf": round(dec_s / max(audio_s, 1e-9), 4)}
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1))
    print(json.dumps(summary))
    return 0


def cmd_extract_tokens(a) -> int:
    device = resolve_device(a.device)
    if device.type == "cuda":
        from accelerate import PartialState

        device = PartialState().device
    tok = open_tokenizer(a.tokenizer, device)
    summary = extract_tokens(tok, a.manifest, a.out, batch_size=a.batch_size, max_seconds=a.max_seconds, device=device)
    if summary:
        print(json.dumps(summary))
    return 0


def cmd_codec_stats(a) -> int:
    src = Path(a.codec)
    codec = DualCodec.from_pretrained(src, a.device) if (src / "model.safetensors").is_file() else DualCodec(get_config(a.codec)).to(a.device)
    utts = read_manifest(a.manifest)[: a.max_utterances]
    mean, std = compute_ssl_stats(codec, [u.audio for u in utts])
    codec.ssl.mean.copy_(mean)
    codec.ssl.std.copy_(std)
    codec.save_pretrained(a.out)
    print(json.dumps({"out": a.out, "utterances": len(utts), "dim": int(mean.numel()),
                      "mean_abs_mean": round(float(mean.abs().mean()), 4), "mean_std": round(float(std.mean()), 4)}))
    return 0


def add_parsers(sub) -> None:
    i = sub.add_parser("codec-info", help="sizes, frame rate, codebooks and bitrate of a codec preset, YAML or checkpoint")
    i.add_argument("--config", required=True, help="preset (12hz, 25hz, tiny-12hz, tiny-25hz), YAML file, or checkpoint folder")
    i.set_defaults(func=cmd_codec_info)

    e = sub.add_parser("encode", help="audio file -> codes (.npz)")
    add_tokenizer(e)
    e.add_argument("input")
    e.add_argument("output")
    e.add_argument("--layers", type=int, default=None, help="keep the first q layers (default: all)")
    e.add_argument("--max-seconds", type=float, default=600.0)
    add_device(e)
    e.set_defaults(func=cmd_encode)

    d = sub.add_parser("decode", help="codes (.npz) -> audio file")
    add_tokenizer(d)
    d.add_argument("input")
    d.add_argument("output")
    d.add_argument("--layers", type=int, default=None, help="decode only the first q layers")
    add_device(d)
    d.set_defaults(func=cmd_decode)

    r = sub.add_parser("reconstruct", help="encode+decode a manifest's audio into OUT/<id>.wav (for evaluation)")
    add_tokenizer(r)
    r.add_argument("--manifest", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--layers", type=int, default=None, help="decode only the first q layers (1 = semantic only)")
    r.add_argument("--limit", type=int, default=None, help="at most this many utterances")
    r.add_argument("--per-speaker", type=int, default=None, help="only the first N utterances of each speaker")
    add_device(r)
    r.set_defaults(func=cmd_reconstruct)

    x = sub.add_parser("extract-tokens", help="manifest audio -> per-utterance codes + a manifest with code paths")
    add_tokenizer(x)
    x.add_argument("--manifest", required=True)
    x.add_argument("--out", required=True)
    x.add_argument("--batch-size", type=int, default=8)
    x.add_argument("--max-seconds", type=float, default=60.0)
    add_device(x)
    x.set_defaults(func=cmd_extract_tokens)

    s = sub.add_parser("codec-stats", help="compute the SSL feature mean/std over a manifest and save them in a checkpoint")
    s.add_argument("--codec", required=True, help="preset, YAML, or checkpoint folder")
    s.add_argument("--manifest", required=True)
    s.add_argument("--out", required=True, help="checkpoint folder to write")
    s.add_argument("--max-utterances", type=int, default=500)
    add_device(s)
    s.set_defaults(func=cmd_codec_stats)
