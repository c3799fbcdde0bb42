"""Where the default model lives: one search order, the same for the API, the CLI, the demo and the server.

    from dualtts.model_path import default_model_dir
    default_model_dir()          # Path of the first hit below, or DefaultModelNotFound (one line saying how to get it)

The search order, first hit wins (a hit is a folder with ``codec/``, ``lm/`` and ``flow/`` model files):

1. an explicit path (``Synthesizer.from_pretrained(path)``, ``--model``): not searched here, the caller uses it;
2. the environment variable ``DUALTTS_MODEL``: a model folder (an error if it names anything else);
3. the ``dualtts-mini`` distribution (``pip install dualtts-mini``; module ``dualtts_mini``), which carries the
   model as package data — build it with ``bash scripts/build_wheels.sh``;
4. the cache folder ``$DUALTTS_CACHE`` or ``$XDG_CACHE_HOME/dualtts`` or ``~/.cache/dualtts``, subfolder ``dualtts-mini``;
5. the git checkout: ``recipes/mini/checkpoints/dualtts-mini`` beside the ``dualtts`` package.

(A hub id is the explicit path of step 1: ``from_pretrained("owner/name")`` downloads it for users with internet.)
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

NAME = "dualtts-mini"
CHECKOUT_MODEL = Path(__file__).resolve().parents[1] / "recipes" / "mini" / "checkpoints" / NAME
PARTS = ("codec", "lm", "flow")


class DefaultModelNotFound(FileNotFoundError):
    pass


def is_model_dir(path: str | Path) -> bool:
    """True if ``path`` holds ``codec/``, ``lm/`` and ``flow/`` weights."""
    p = Path(path)
    return all((p / part / "model.safetensors").is_file() for part in PARTS)


def cache_dir() -> Path:
    """``$DUALTTS_CACHE``, else ``$XDG_CACHE_HOME/dualtts``, else ``~/.cache/dualtts``."""
    if os.environ.get("DUALTTS_CACHE"):
        return Path(os.environ["DUALTTS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dualtts"


def _packaged() -> Path | None:
    """The model folder inside the installed ``dualtts_mini`` distribution, if there is one (imports no torch)."""
    spec = importlib.util.find_spec("dualtts_mini")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def candidates() -> list[tuple[str, Path | None]]:
    """(where, path) in search order (steps 2-5 of the module docstring)."""
    env = os.environ.get("DUALTTS_MODEL")
    return [("DUALTTS_MODEL", Path(env) if env else None), ("the dualtts-mini package", _packaged()),
            ("the cache folder", cache_dir() / NAME), ("the checkout", CHECKOUT_MODEL)]


def default_model_dir() -> Path:
    """The default model's folder (steps 2-5 of the module docstring); DefaultModelNotFound, one line, otherwise."""
    for where, path in candidates():
        if path is None:
            continue
        if is_model_dir(path):
            return path
        if where == "DUALTTS_MODEL":  # asked for explicitly: say so rather than fall through silently
            raise DefaultModelNotFound(f"DUALTTS_MODEL={path}: not a DualTTS model folder "
                                       f"(needs {', '.join(p + '/model.safetensors' for p in PARTS)})")
    raise DefaultModelNotFound(
        "no default DualTTS model found: `pip install dualtts-mini` (a wheel built by scripts/build_wheels.sh from a "
        f"checkout), or put a model folder at {cache_dir() / NAME}, or set DUALTTS_MODEL=/path/to/model, or pass --model")
