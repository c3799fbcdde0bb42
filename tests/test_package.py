"""DualTTS as a library: the linter, declared dependencies that match the requirement files, and the two wheels
(the code, the default model) built, installed into an empty virtual environment, and speaking offline there."""
import configparser
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _reqs(path: Path) -> set[str]:
    """Requirement lines of a requirements file, following ``-r`` includes, comments dropped, spaces removed."""
    out = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            out |= _reqs(path.parent / line[3:].strip())
        elif line:
            out.add(line.replace(" ", ""))
    return out


def _cfg() -> configparser.ConfigParser:
    c = configparser.ConfigParser()
    c.read(ROOT / "setup.cfg")
    return c


def _lines(s: str) -> set[str]:
    return {x.strip().replace(" ", "") for x in s.splitlines() if x.strip()}


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is missing: pip install -r requirements-dev.txt"
    r = subprocess.run([ruff, "check", "--output-format", "concise", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_setup_cfg_and_requirement_files_declare_the_same_dependencies():
    c = _cfg()
    assert _lines(c["options"]["install_requires"]) == _reqs(ROOT / "requirements.txt")
    extras = c["options.extras_require"]
    # requirements-eval.txt also names `typing`: a dependency of resemblyzer, which the script installs --no-deps
    only_in_file = {"eval": {"typing"}}
    for extra in ("eval", "demo", "serve", "dev"):
        assert _lines(extras[extra]) == _reqs(ROOT / f"requirements-{extra}.txt") - only_in_file.get(extra, set()), \
            f"[{extra}] in setup.cfg and requirements-{extra}.txt differ"


def test_installed_transformers_meets_the_declared_minimum_and_has_the_cache_api():
    """lm/model.py passes ``cache=`` to transformers' LlamaModel and reads ``out.cache`` (recent transformers only)."""
    import inspect

    import transformers
    from packaging.version import Version
    from transformers import LlamaModel

    spec = next(x for x in _lines(_cfg()["options"]["install_requires"]) if x.startswith("transformers"))
    low = re.search(r">=([\d.]+)", spec).group(1)
    assert Version(transformers.__version__) >= Version(low)
    assert "cache" in inspect.signature(LlamaModel.forward).parameters, \
        f"transformers {transformers.__version__}: LlamaModel.forward takes no `cache` (the declared minimum is {low})"


def test_python_dash_m_dualtts_is_the_cli():
    r = subprocess.run([sys.executable, "-m", "dualtts", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "synthesize" in r.stdout and r.stdout.startswith("usage: dualtts"), r.stdout + r.stderr


@pytest.mark.slow
def test_wheels_install_into_an_empty_venv_and_speak_offline(tmp_path):
    """``python -m build`` both wheels; pip-install them into a new venv; only ``dualtts`` and ``dualtts_mini`` are
    top-level names; ``import data`` fails there; ``dualtts synthesize`` speaks in the default voice, offline,
    from outside any checkout."""
    dist = tmp_path / "dist"
    r = subprocess.run(["bash", "scripts/build_wheels.sh"], cwd=ROOT, capture_output=True, text=True, timeout=900,
                       env=os.environ | {"OUT": str(dist), "PYTHON": sys.executable})
    assert r.returncode == 0, r.stdout + r.stderr
    wheels = sorted(dist.glob("*.whl"))
    assert [w.name.split("-")[0] for w in wheels] == ["dualtts", "dualtts_mini"], wheels
    tops = set()
    for w in wheels:
        with zipfile.ZipFile(w) as z:
            tops |= {n.split("/")[0] for n in z.namelist() if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"dualtts", "dualtts_mini"}, tops

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py, pip = venv / "bin" / "python", [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    import torch

    # the torch this suite runs on (on our machines a local CPU wheel); the rest as the wheel's metadata declares
    subprocess.run(pip + [f"torch=={torch.__version__.split('+')[0]}"], check=True, timeout=900, capture_output=True)
    r = subprocess.run(pip + [str(w) for w in wheels], capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DUALTTS_MODEL")}
    env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}",
            "DUALTTS_CACHE": str(tmp_path / "no-cache")}
    for name in ("data", "training", "codec", "lm", "flow", "demo"):
        r = subprocess.run([str(py), "-c", f"import {name}"], cwd=work, capture_output=True, text=True, env=env)
        assert r.returncode != 0 and "ModuleNotFoundError" in r.stderr, f"`import {name}` works in the venv"
    r = subprocess.run([str(py), "-c", "import dualtts.codec, dualtts.data; from dualtts.model_path import default_model_dir;"
                        "print(default_model_dir())"], cwd=work, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and "dualtts_mini" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([str(venv / "bin" / "dualtts"), "synthesize", "--text", "The old farmer carried a basket to the market.",
                        "--out", "x.wav", "--candidates", "4"], cwd=work, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    import soundfile as sf

    wav, sr = sf.read(work / "x.wav")
    assert sr == 24000 and 1.0 < len(wav) / sr < 8.0 and float(abs(wav).max()) > 0.01, len(wav) / sr
    r = subprocess.run([str(py), "-m", "dualtts", "--help"], cwd=work, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and "synthesize" in r.stdout
