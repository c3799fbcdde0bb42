"""The published DualCodec TTS (``amphion/dualcodec-tts``) through :class:`dualtts.Synthesizer` and ``dualtts
synthesize`` (:mod:`dualtts.published`), offline: a TINY random model saved in the published layout (the AR's and
the NAR's ``.safetensors``, fp16, no config) with a tiny codec of the reference layout in ``codec/``. The
published files carry no config, so the tiny sizes stand in for the published ones here (the models' default
configs are patched, as the codec's CLI test patches the codec's). The real sizes and the numerics against the
reference package: ``tests/test_tts_reference_parity.py``."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import TEXT_A, espeak
from dualtts import Synthesizer
from dualtts.cli import main
from dualtts.published import NO_VOICE
from dualtts.synthesizer import PublishedSynthesizer
from dualtts.flow.valle_nar import NAR_FILE, ReferenceNAR, get_reference_nar_config
from dualtts.lm.reference_ar import AR_FILE, ReferenceAR, get_reference_ar_config

# the real Whisper vocabulary (the text frontend's ids), small codebooks shared by AR, NAR and codec
AR_CFG = get_reference_ar_config("tiny", text_vocab_size=51866, codebook_size=64, max_length=100)
NAR_CFG = get_reference_nar_config("tiny", codebook_size=64, acoustic_codebook_size=64)
HOP = 1920
TEXT = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from safetensors.torch import save_file

    from dualtts.codec.config import PRESETS, DualCodecConfig
    from dualtts.codec.model import DualCodec

    folder = tmp_path_factory.mktemp("published")
    torch.manual_seed(0)
    for m, name in ((ReferenceAR(AR_CFG), AR_FILE), (ReferenceNAR(NAR_CFG), NAR_FILE)):
        save_file({k: v.half().contiguous() for k, v in m.state_dict().items()}, str(folder / name))
    ssl = {"kind": "w2v-bert", "source": "random", "layer": 2, "dim": 64,
           "config": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
                      "conv_depthwise_kernel_size": 7}}
    cfg = DualCodecConfig.from_dict({**PRESETS["reference-12hz"]().to_dict(), "encoder_dim": 4, "latent_dim": 64, "decoder_dim": 32,
                                     "semantic_dim": 32, "semantic_layers": 2, "semantic_codebook_size": 64,
                                     "acoustic_codebook_size": 64, "ssl": ssl})
    DualCodec(cfg).eval().save_pretrained(folder / "codec")
    espeak(folder / "prompt.wav", TEXT_A, rate=140)
    with pytest.MonkeyPatch.context() as mp:  # the published files have no config: the tiny one stands in for it
        mp.setattr(ReferenceAR, "default_config", classmethod(lambda cls: AR_CFG))
        mp.setattr(ReferenceNAR, "default_config", classmethod(lambda cls: NAR_CFG))
        yield folder


@pytest.fixture(scope="module")
def tts(model):
    return Synthesizer.from_pretrained(str(model), device="cpu")


def _bound(n_sentences: int, prompt_frames: int) -> int:
    """At most: per sentence, the AR's ids left after the prompt's codes, one frame each; plus the 0.1 s gaps."""
    return n_sentences * (AR_CFG.max_length - prompt_frames) * HOP + (n_sentences - 1) * 2400


def test_synthesize_and_stream(model, tts):
    assert isinstance(tts, PublishedSynthesizer) and tts.language == "en" and tts.symbols is None
    assert tts.lm.llm.lm_head.weight.dtype == torch.float32  # fp16 files, fp32 on a CPU
    assert tts.lm.text(TEXT_A, "Hi.", "en")[0] == 50259  # <|en|>: the Whisper frontend (the packaged copy offline)
    kw = dict(prompt=str(model / "prompt.wav"), prompt_text=TEXT_A, seed=3, min_new_tokens=3)
    wav = tts(TEXT, **kw)
    Fp = tts._prompt(kw["prompt"], TEXT_A, 15.0)[0].shape[1]
    assert wav.dtype == np.float32 and np.isfinite(wav).all() and 0 < np.abs(wav).max() < 10
    assert 2 * 3 * HOP <= len(wav) <= _bound(2, Fp), (len(wav), Fp)
    chunks = list(tts.synthesize_stream(TEXT, **kw))
    assert len(chunks) == 2 and np.array_equal(np.concatenate(chunks), wav)  # streaming: the same audio, sentence by sentence
    assert tts.stats["ttfa_s"] > 0 and tts.stats["seconds"] == round(len(wav) / 24000, 3)


def test_quiet_prompt_is_raised_to_rms_0_1(model, tts, monkeypatch):
    seen, encode = [], tts.tokenizer.encode

    def spy(wav, *args, **kw):  # what the codec encodes
        seen.append(float(wav.double().pow(2).mean().sqrt()))
        return encode(wav, *args, **kw)

    monkeypatch.setattr(tts.tokenizer, "encode", spy)
    wav, _ = sf.read(str(model / "prompt.wav"), dtype="float32")
    wav = wav / np.sqrt(np.mean(wav.astype(np.float64) ** 2))
    for rms in (0.003, 0.25):  # raised when quieter, kept when louder
        tts._prompt((rms * wav).astype(np.float32), TEXT_A, 15.0)
    assert seen == [pytest.approx(0.1, rel=1e-4), pytest.approx(0.25, rel=1e-4)]


@pytest.mark.parametrize("quantize", ["bf16", "int8"])
def test_quantized_ar_on_cpu(model, quantize):
    tts = Synthesizer.from_pretrained(str(model), device="cpu", quantize=quantize, language="en-us")
    head = tts.lm.llm.lm_head
    assert (head.weight.dtype == torch.bfloat16) if quantize == "bf16" else (head.weight().dtype == torch.qint8)
    wav = tts("Rice is often served in round bowls.", prompt=str(model / "prompt.wav"), prompt_text=TEXT_A, max_new_tokens=8)
    assert 0 < len(wav) <= 8 * HOP and np.isfinite(wav).all()


def test_cli_round_trip(model, tmp_path, capsys):
    out = tmp_path / "x.wav"
    assert main(["synthesize", "--model", str(model), "--text", "Rice is often served in round bowls.", "--prompt",
                 str(model / "prompt.wav"), "--prompt-text", TEXT_A, "--language", "en", "--out", str(out), "--device", "cpu",
                 "--top-k", "10"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    info = sf.info(str(out))
    assert summary["out"] == str(out) and info.samplerate == 24000 and 0 < info.frames <= _bound(1, 0)


def test_errors_are_one_line(model, tts, tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))  # nothing cached, offline
    out = tmp_path / "y.wav"
    base = ["synthesize", "--text", "Hello there.", "--out", str(out), "--device", "cpu"]
    for where in (str(model), "amphion/dualcodec-tts"):  # no prompt: refused before anything loads (or downloads)
        with pytest.raises(SystemExit, match="has no default voice") as e:
            main(base + ["--model", where])
        assert "\n" not in str(e.value) and str(e.value).startswith("error: ")
    with pytest.raises(ValueError, match="has no default voice"):
        tts("Hello there.")
    assert NO_VOICE.count("\n") == 0
    capsys.readouterr()
    prompt = ["--prompt", str(model / "prompt.wav"), "--prompt-text", TEXT_A]
    assert main(base + ["--model", str(model), "--language", "xx"] + prompt) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "language 'xx'" in err and "en" in err, err
    with pytest.raises(ValueError, match="language 'de'"):
        Synthesizer.from_pretrained(str(model), language="de", device="cpu")
    assert main(base + ["--model", "amphion/dualcodec-tts"] + prompt) == 2  # offline, not cached: one line naming the file
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"cannot download {AR_FILE} from the hub repo amphion/dualcodec-tts" in err, err
    assert not out.exists()
    with pytest.raises(ValueError, match="no pronounceable"):
        tts("?!", prompt=str(model / "prompt.wav"), prompt_text=TEXT_A)
    with pytest.raises(ValueError, match="min_prompt_rate"):
        tts("Hello there.", prompt=str(model / "prompt.wav"), prompt_text=TEXT_A, min_prompt_rate=0.5)


def test_bench_entry_quick():
    """``dualtts bench --parts published`` (optional): the pipeline with random weights; here its tiny sizes, in-process."""
    from dualtts.bench import measure_published

    r = measure_published(1, "cpu", repeats=1, sizes="tiny", warmup=0)
    n = r["tokens_per_sentence"]
    assert r["audio_s"] == n * HOP / 24000 and r["rtf"] > 0 and 0 < r["ttfa_s"] <= r["wall_s"], r
