"""A TTS model folder (what :meth:`dualtts.Synthesizer.from_pretrained` loads) from trained checkpoints:
``OUT/{codec,lm,flow}/`` with fp16 weights (normalization statistics stay fp32), a default voice
``prompt.wav`` + ``prompt.txt`` and ``bundle.json``. Used by ``recipes/mini/bundle.py`` (the shipped model)
and ``dualtts finetune``."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

from dualtts.data.atomic import write_text_atomic

KEEP_FP32 = ("mean", "std", "latent_")  # normalization statistics
PARTS = ("codec", "lm", "flow")


def relative_paths(value, root: str | os.PathLike):
    """``value`` (a string, or dicts / lists of them) for ``bundle.json`` with no path of the build machine in it:
    a string that is an absolute path, or a relative one that exists, becomes relative to ``root`` (the checkout:
    ``exp/corpus-v3/...``) when it lies inside it, else None; other values are kept."""
    if isinstance(value, dict):
        return {k: relative_paths(v, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [relative_paths(v, root) for v in value]
    if not isinstance(value, str) or not value or not (os.path.isabs(value) or os.path.exists(value)):
        return value
    root = Path(root).resolve()
    try:
        return Path(value).resolve().relative_to(root).as_posix()
    except ValueError:  # outside the checkout: where it was means nothing elsewhere
        return None


def to_fp16(src: Path, dst: Path) -> int:
    """Copy a checkpoint folder, its float weights as fp16; returns the new weight file's bytes."""
    from safetensors.torch import load_file, save_file

    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.optim.pt", "rng.pt"))
    sd = load_file(str(src / "model.safetensors"))
    out = {k: (v.half() if v.is_floating_point() and not any(s in k.rsplit(".", 1)[-1] for s in KEEP_FP32) else v).contiguous()
           for k, v in sd.items()}
    save_file(out, str(dst / "model.safetensors"))
    (dst / "model.safetensors").chmod(0o644)
    return (dst / "model.safetensors").stat().st_size


def write_model_folder(out: str | os.PathLike, codec: str | os.PathLike, lm: str | os.PathLike, flow: str | os.PathLike,
                       prompt_wav: str | os.PathLike, prompt_text: str, info: dict | None = None,
                       check: Callable[[Path], dict] | None = None, reader: str | os.PathLike | None = None,
                       tuned_decoder: str | os.PathLike | None = None) -> dict:
    """Assemble ``out`` from the ``codec``/``lm``/``flow`` checkpoint folders and a prompt clip (resampled to the
    codec's rate) with its transcript, in a temporary folder renamed onto ``out`` at the end (an interrupted
    run leaves the old folder, or none). ``reader``: a token reader checkpoint (best-of-N sampling), optional.
    ``tuned_decoder``: a codec checkpoint of ``dualtts train decoder``, whose decoder goes into ``flow/`` (TTS decodes
    with it; ``codec/`` keeps its own). ``info``: extra ``bundle.json`` fields; ``check(tmp_folder)``: more,
    computed on the assembled folder before it is renamed. Returns the ``bundle.json`` contents."""
    from dualtts.data.audio import load_audio, save_audio
    from dualtts.data.checkpoint import read_config

    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    parts = dict(zip(PARTS, (codec, lm, flow))) | ({"reader": reader} if reader is not None else {})
    sizes = {name: to_fp16(Path(src), tmp / name) for name, src in parts.items()}
    if tuned_decoder is not None:
        from dualtts.flow.decoder_train import write_tuned_decoder

        sizes["flow/decoder"] = write_tuned_decoder(tuned_decoder, tmp / "flow")
    wav, sr = load_audio(prompt_wav, int(read_config(codec).get("sample_rate", 24000)))
    save_audio(tmp / "prompt.wav", wav, sr)
    write_text_atomic(tmp / "prompt.txt", prompt_text.strip() + "\n")
    bundle = {"sizes_bytes": sizes, "total_MB": round(sum(sizes.values()) / 2**20, 1), **(info or {})}
    if check is not None:
        bundle.update(check(tmp))
    write_text_atomic(tmp / "bundle.json", json.dumps(bundle, indent=1))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return bundle
