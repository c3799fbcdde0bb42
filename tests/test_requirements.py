"""The declared dependency minimums hold what the code uses: transformers' ``cache=`` API (``LlamaModel(cache=...)``,
``out.cache``) first shipped in 5.24.0 (5.23.0 still took ``past_key_values=`` and returned ``out.past_key_values``;
found by downloading each release's wheel with ``pip download --no-deps`` and reading its modeling_llama.py and
modeling_outputs.py). A GPU machine with transformers 5.17 failed on ``LlamaModel(cache=...)`` while the package
said ``transformers>=4.44``."""
import configparser
import dataclasses
import inspect
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
TRANSFORMERS_API_MINIMUM = Version("5.24.0")  # the first release with LlamaModel.forward(cache=...) and BaseModelOutputWithPast.cache


def _declared(name: str) -> dict[str, Requirement]:
    """``name``'s requirement in setup.cfg's install_requires and in requirements.txt."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    found = {}
    lines = {"setup.cfg": cfg["options"]["install_requires"].splitlines(),
             "requirements.txt": (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()}
    for where, rows in lines.items():
        for row in rows:
            row = row.split("#")[0].strip()
            if row and re.split(r"[<>=!~ \[;]", row, maxsplit=1)[0].lower() == name:
                found[where] = Requirement(row)
    return found


def _minimum(req: Requirement) -> Version | None:
    lows = [Version(s.version) for s in req.specifier if s.operator in (">=", "==", "~=")]
    return max(lows) if lows else None


def test_installed_transformers_meets_the_declared_minimum():
    declared = _declared("transformers")
    assert set(declared) == {"setup.cfg", "requirements.txt"}, declared
    assert declared["setup.cfg"].specifier == declared["requirements.txt"].specifier, declared  # one pin, two files
    installed = Version(version("transformers"))
    assert declared["setup.cfg"].specifier.contains(installed, prereleases=True), (str(declared["setup.cfg"]), installed)


def test_declared_transformers_minimum_has_the_api_the_code_uses():
    low = _minimum(_declared("transformers")["setup.cfg"])
    assert low is not None and low >= TRANSFORMERS_API_MINIMUM, (
        f"setup.cfg declares transformers>={low}; the code calls LlamaModel(cache=...) and reads out.cache, which "
        f"transformers has from {TRANSFORMERS_API_MINIMUM}: raise the pin in setup.cfg and requirements.txt")


def test_the_transformers_api_we_call_exists():
    from transformers import LlamaForCausalLM, LlamaModel
    from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

    model_args = inspect.signature(LlamaModel.forward).parameters
    assert {"inputs_embeds", "attention_mask", "position_ids", "cache", "use_cache"} <= set(model_args)  # lm.model.SemanticLM
    lm_args = inspect.signature(LlamaForCausalLM.forward).parameters
    assert {"cache", "use_cache", "logits_to_keep"} <= set(lm_args)  # lm.reference_ar
    assert "cache" in {f.name for f in dataclasses.fields(BaseModelOutputWithPast)}
    assert "cache" in {f.name for f in dataclasses.fields(CausalLMOutputWithPast)}


def test_a_cached_decoding_step_runs():
    import torch

    from dualtts.lm.config import get_lm_config
    from dualtts.lm.model import SemanticLM

    torch.manual_seed(0)
    m = SemanticLM(get_lm_config(dict(num_phonemes=8, codebook_size=16, hidden_size=32, num_layers=1, num_heads=2,
                                      intermediate_size=64))).eval()
    ids = torch.randint(0, m.cfg.vocab_size, (1, 6))
    with torch.inference_mode():
        full, _ = m(ids)
        _, cache = m(ids[:, :5], use_cache=True)
        step, cache2 = m(ids[:, 5:], position_ids=torch.tensor([[5]]), cache=cache, use_cache=True)
    assert cache2 is not None and torch.allclose(step[:, 0], full[:, 5], atol=1e-5)


@pytest.mark.parametrize("name", ["torch", "safetensors"])
def test_transformers_own_floors_are_not_below_ours(name):
    """What the installed transformers needs of torch / safetensors is not above what we declare (else our pin says
    less than pip will demand)."""
    from importlib.metadata import requires

    ours = _minimum(_declared(name)["setup.cfg"])
    theirs = [Requirement(r) for r in requires("transformers") or []]
    floor = max([_minimum(r) for r in theirs if r.name == name and _minimum(r)] or [Version("0")])
    assert ours is not None and ours >= floor, f"setup.cfg: {name}>={ours}; transformers {version('transformers')} needs >={floor}"
