"""The published DualCodec weights (hub repo ``amphion/dualcodec``, reference package ``dualcodec`` 0.4.2) in our
:class:`codec.model.DualCodec`, built with ``compat: reference`` (:mod:`codec.config`).

- :func:`reference_key` / :func:`convert_reference_state`: the written key map from the official safetensors layout
  (``dac.encoder.block.1.block.0.block.1.weight_v``, ``convnext_encoder.1.dwconv.weight``, ...) to ours.
- :func:`load_stats`: the w2v-BERT normalization statistics (``w2vbert2_mean_var_stats_emilia.pt``, a dict with
  ``mean`` and ``var``), read with ``torch.load(weights_only=True)`` (no code runs) or from a converted safetensors.
- :func:`reference_checkpoint`, behind ``DualCodec.from_pretrained("amphion/dualcodec", variant="12hz" | "25hz")``, a local
  folder holding those files, or one weights file with the statistics next to it. The semantic encoder is
  ``facebook/w2v-bert-2.0`` through transformers (``Wav2Vec2BertModel`` + ``SeamlessM4TFeatureExtractor``),
  hidden state 17, as the reference uses it.

Loaded in fp32 the codes equal the reference package's and the audio matches to float rounding
(``tests/test_reference_parity.py``); the reference's own inference wraps the SSL model and the codec in fp16
autocast on its device, which this does not.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import torch

REPO = "amphion/dualcodec"
W2V_BERT = "facebook/w2v-bert-2.0"
STATS_FILE = "w2vbert2_mean_var_stats_emilia.pt"
VARIANTS = {  # variant -> (weights file in the hub repo, our config preset)
    "12hz": ("dualcodec_12hz_16384_4096.safetensors", "reference-12hz"),
    "25hz": ("dualcodec_25hz_16384_1024.safetensors", "reference-25hz"),
}

# Official name prefix -> ours, tried in order (first match wins). The DAC encoder's / decoder's blocks wrap their
# layers in a ``.block`` Sequential that ours do not; the ConvNeXt Sequentials keep their indices.
_PREFIXES = [
    (r"dac\.encoder\.block\.(\d+)\.block\.(\d+)\.", r"encoder.net.\1.\2."),
    (r"dac\.encoder\.block\.(\d+)\.", r"encoder.net.\1."),
    (r"dac\.decoder\.model\.(\d+)\.block\.(\d+)\.", r"decoder.net.\1.\2."),
    (r"dac\.decoder\.model\.(\d+)\.", r"decoder.net.\1."),
    (r"dac\.quantizer\.quantizers\.(\d+)\.", r"acoustic_rvq.layers.\1."),
    (r"semantic_vq\.quantizers\.0\.", r"semantic_vq."),
    (r"convnext_encoder\.(\d+)\.", r"semantic_encoder.\1."),
    (r"convnext_decoder\.(\d+)\.", r"semantic_decoder.\1."),
]
_CONVNEXT = {"dwconv": "dw", "pwconv1": "pw1", "pwconv2": "pw2"}
# torch.nn.utils.weight_norm (the reference) -> torch.nn.utils.parametrizations.weight_norm (ours)
_WEIGHT_NORM = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}


def reference_key(name: str) -> str:
    """One official tensor name -> ours; a name outside the official layout is a ValueError."""
    for pat, rep in _PREFIXES:
        new, n = re.subn("^" + pat, rep, name)
        if n:
            head, _, leaf = new.rpartition(".")
            if new.startswith(("semantic_encoder.", "semantic_decoder.")):
                parts = head.split(".")
                head = ".".join(_CONVNEXT.get(p, p) for p in parts)
            return f"{head}.{_WEIGHT_NORM.get(leaf, leaf)}"
    raise ValueError(f"{name}: not a tensor of the reference DualCodec layout")


def convert_reference_state(state: dict[str, torch.Tensor], stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict:
    """The official state dict -> ours (``stats``: the SSL ``(mean, std)``, stored as ``ssl.mean`` / ``ssl.std``).
    Our quantizers' dead-code counters (training state the reference does not have) start at zero."""
    out = {reference_key(k): v for k, v in state.items()}
    for k in list(out):
        if k.endswith(".codebook.weight"):
            out[k[: -len("codebook.weight")] + "steps_unused"] = torch.zeros(out[k].shape[0], dtype=torch.long)
    if stats is not None:
        out["ssl.mean"], out["ssl.std"] = stats
    return out


def load_stats(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, std)`` from the reference's mean/var file: a torch file holding ``{"mean": [D], "var": [D]}``
    (loaded with ``weights_only=True``: tensors only, no code), or a safetensors file with the same keys."""
    p = Path(path)
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            d = load_file(str(p))
        else:
            d = torch.load(p, map_location="cpu", weights_only=True)
        mean, var = d["mean"], d["var"]
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{p}: not a mean/var statistics file ({type(e).__name__}: {' '.join(str(e).split())[:100]})") from None
    return mean.float().reshape(-1), torch.sqrt(var).float().reshape(-1)


def is_reference_source(path_or_id, variant: str | None = None) -> bool:
    """Whether :meth:`DualCodec.from_pretrained` should read ``path_or_id`` as the official weights: a variant is
    given, it is the official hub repo, a ``dualcodec_*.safetensors`` file, or a folder holding one and no
    ``config.yaml``."""
    if variant is not None or str(path_or_id).rstrip("/") == REPO:
        return True
    p = Path(path_or_id)
    if p.is_file():
        return p.suffix == ".safetensors" and p.name.startswith("dualcodec_")
    return p.is_dir() and not (p / "config.yaml").exists() and any(p.glob("dualcodec_*.safetensors"))


def _variant_of(name: str) -> str | None:
    return next((v for v, (f, _) in VARIANTS.items() if name == f or f"_{v}_" in name), None)


def _download(repo: str, filename: str) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, filename))
    except Exception as e:  # offline, no network, no such repo/file: one line, with the reason
        why = " ".join(str(e).split())[:160]
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
        hint = " (HF_HUB_OFFLINE is set: the hub is not reachable)" if offline else ""
        raise OSError(f"cannot download {filename} from the hub repo {repo}{hint}; with the files on disk pass their "
                      f"folder instead ({type(e).__name__}: {why})") from None


def resolve_reference_files(path_or_id=REPO, variant: str | None = None) -> tuple[Path, Path, str]:
    """``(weights file, statistics file, variant)`` from a hub repo id, a folder, or a weights file."""
    p = Path(path_or_id)
    if variant is not None and variant not in VARIANTS:
        raise ValueError(f"unknown DualCodec variant {variant!r} (choose {', '.join(VARIANTS)})")
    if p.is_file():
        variant = variant or _variant_of(p.name)
        if variant is None:
            raise ValueError(f"{p}: cannot tell the variant from the file name; pass variant= ({', '.join(VARIANTS)})")
        stats = next((p.parent / n for n in (STATS_FILE, Path(STATS_FILE).stem + ".safetensors") if (p.parent / n).is_file()), None)
        if stats is None:
            raise FileNotFoundError(f"{p.parent}: missing {STATS_FILE} (the w2v-BERT statistics, next to the weights)")
        return p, stats, variant
    if p.is_dir():
        if variant is None:
            found = [v for v, (f, _) in VARIANTS.items() if (p / f).is_file()]
            if len(found) != 1:
                raise ValueError(f"{p}: pass variant= ({', '.join(VARIANTS)}); found weights for {found or 'none'}")
            variant = found[0]
        weights = p / VARIANTS[variant][0]
        if not weights.is_file():
            raise FileNotFoundError(f"{p}: missing {weights.name} (the official {variant} weights)")
        return resolve_reference_files(weights, variant)
    s = str(path_or_id)
    if s.count("/") != 1 or s.startswith((".", "/")):
        raise FileNotFoundError(f"{path_or_id}: no such file or folder, and not a hub repo id")
    variant = variant or "12hz"
    return _download(s, VARIANTS[variant][0]), _download(s, STATS_FILE), variant


def reference_config(variant: str = "12hz", ssl_source: str = W2V_BERT, **overrides):
    """Our config for an official variant (``ssl_source``: where w2v-BERT 2.0 comes from, a hub id or folder)."""
    from dualtts.codec.config import PRESETS, DualCodecConfig

    cfg = PRESETS[VARIANTS[variant][1]]()
    cfg.ssl.source = ssl_source
    return DualCodecConfig.from_dict({**cfg.to_dict(), **overrides}) if overrides else cfg


def reference_checkpoint(path_or_id=REPO, variant: str | None = None, ssl_source: str = W2V_BERT, **config_overrides):
    """``(config, state dict in our names, weights file)`` for the official weights (hub repo id, folder or file);
    :meth:`codec.model.DualCodec.from_pretrained` builds the model from them. ``config_overrides``: fields of the
    variant's config to change (smaller sizes in tests)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, stats_file, variant = resolve_reference_files(path_or_id, variant)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{weights}: not a readable safetensors file ({' '.join(str(e).split())[:120]})") from None
    return reference_config(variant, ssl_source, **config_overrides), convert_reference_state(state, load_stats(stats_file)), weights
