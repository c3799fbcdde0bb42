"""DualCodec and the tokenizer contract on tiny configs (random weights, real computation)."""
import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from dualtts.codec.config import PRESETS, DualCodecConfig, random_teacher_like
from dualtts.codec.model import DualCodec
from dualtts.codec.ssl import SSLConfig
from dualtts.codec.tokenizer import EncodecTokenizer, MimiTokenizer, Tokenizer, load_tokenizer
from dualtts.cli import main


def tiny_config(stream: str = "spectral", hop: int = 960) -> DualCodecConfig:
    return DualCodecConfig(
        hop_length=hop, stream=stream, latent_dim=32, encoder_dim=4, encoder_rates=[4, 5, 6, 8] if hop == 960 else [4, 5, 6, 8, 2],
        decoder_dim=32, spec_dim=32, spec_layers=1, spec_hidden=64, spec_upsample=4,
        ssl=SSLConfig(kind="whisper", source="random", config={"d_model": 32, "encoder_layers": 1, "encoder_ffn_dim": 64}),
        semantic_dim=32, semantic_layers=1, semantic_hidden=64, semantic_codebook_size=64, n_acoustic=3, acoustic_codebook_size=32,
    ).validate()


@pytest.fixture(scope="module", params=["spectral", "dac"])
def codec(request):
    torch.manual_seed(0)
    return DualCodec(tiny_config(request.param)).eval()


def _wav(B=2, T=24000, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T) / 24000
    return (0.3 * torch.sin(2 * torch.pi * 220 * t) + 0.05 * torch.randn(B, 1, T, generator=g)).float()


def test_contract_shapes_and_length_preservation(codec):
    assert isinstance(codec, Tokenizer) and codec.codebook_sizes == [64, 32, 32, 32] and codec.frame_rate == 25
    x = _wav(2, 24000 + 123)
    codes = codec.encode(x)
    assert codes.shape == (2, 4, 26) and codes.dtype == torch.long
    assert codes.max() < 64 and codes[:, 1:].max() < 32
    assert codec.decode(codes).shape == (2, 1, 26 * 960)
    assert codec.decode(codes, lengths=x.shape[-1]).shape == x.shape  # the tail is kept
    assert codec.embed(codes).shape == (2, 32, 26)


def test_every_layer_prefix_decodes(codec):
    codes = codec.encode(_wav(1))
    outs = [codec.decode(codes[:, :q], lengths=24000) for q in range(1, 5)]
    assert all(o.shape == (1, 1, 24000) and torch.isfinite(o).all() for o in outs)
    assert not torch.allclose(outs[0], outs[-1])  # acoustic layers change the output
    with pytest.raises(ValueError, match="1 <= q <= 4"):
        codec.decode(codes[:, :0])


def test_unequal_lengths_batch_equals_one_by_one(codec):
    x = _wav(3, 30000)
    lengths = [30000, 17000, 24001]
    batch = codec.encode(x, lengths=lengths)
    for i, L in enumerate(lengths):
        single = codec.encode(x[i : i + 1, :, :L])[0]
        assert torch.equal(batch[i, :, : single.shape[-1]], single)
        assert batch[i, :, single.shape[-1]:].abs().sum() == 0
    wav = codec.decode(batch, lengths=lengths)
    assert wav.shape == (3, 1, 30000) and wav[1, :, 17000:].abs().sum() == 0


def test_deterministic_in_eval_mode(codec):
    x = _wav(1)
    assert torch.equal(codec.encode(x), codec.encode(x))
    c = codec.encode(x)
    assert torch.equal(codec.decode(c), codec.decode(c))


def test_save_load_round_trip(codec, tmp_path):
    codec.save_pretrained(tmp_path / "ckpt")
    assert {p.name for p in (tmp_path / "ckpt").iterdir()} == {"model.safetensors", "config.yaml"}
    again = DualCodec.from_pretrained(tmp_path / "ckpt")
    x = _wav(1)
    assert torch.equal(again.encode(x), codec.encode(x))
    assert torch.allclose(again.decode(codec.encode(x)), codec.decode(codec.encode(x)))
    with pytest.raises(FileNotFoundError, match="codec checkpoint not found"):
        DualCodec.from_pretrained(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    (tmp_path / "ckpt" / "config.yaml").rename(tmp_path / "half" / "config.yaml")
    with pytest.raises(FileNotFoundError, match="missing model.safetensors"):
        DualCodec.from_pretrained(tmp_path / "half")


def test_training_forward_has_all_losses_and_gradients():
    torch.manual_seed(0)
    m = DualCodec(tiny_config()).train()
    m.acoustic_rvq.bypass = 0.0  # a bypassed step sends no gradient into the acoustic encoder
    out = m(_wav(2, 9600))
    assert out["audio"].shape == (2, 1, 9600)
    loss = out["semantic_loss"] + out["codebook_loss"] + out["commitment_loss"] + out["audio"].abs().mean()
    loss.backward()
    assert m.semantic_encoder.inp.weight.grad.abs().sum() > 0 and m.encoder.inp.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in m.ssl.model.parameters())  # the teacher is frozen


def test_quantizer_dropout_and_bypass():
    from dualtts.codec.quantizer import ResidualVQ

    torch.manual_seed(0)
    rvq = ResidualVQ(16, 4, 32, bypass=1.0).train()
    zq, codes, *_ = rvq(torch.randn(3, 16, 5))
    assert codes.shape == (3, 4, 5) and zq.abs().sum() == 0  # bypass: no acoustic layer contributes
    rvq.bypass = 0.0
    zq, *_ = rvq(torch.randn(3, 16, 5))
    assert zq.abs().sum() > 0


def test_dead_codes_are_restarted():
    from dualtts.codec.quantizer import FactorizedVQ

    torch.manual_seed(0)
    vq = FactorizedVQ(8, 16, code_dim=4, dead_after=2).train()
    vq.codebook.weight.data[:] = torch.tensor([1.0, 0, 0, 0])  # collapsed: every entry the same
    for _ in range(4):
        _, codes, _, _ = vq(torch.randn(4, 8, 50))
    _, codes, _, _ = vq(torch.randn(4, 8, 50))
    assert codes.unique().numel() > 4 and vq.perplexity_usage() > 2 / 16


def test_presets_match_the_paper_sizes():
    sizes = {}
    for name, target in (("12hz", 84e6), ("25hz", 102e6), ("12hz-istft", 84e6)):
        cfg = PRESETS[name]()
        cfg.ssl = random_teacher_like(cfg)
        sizes[name] = DualCodec(cfg).num_params()
        assert abs(sizes[name] - target) / target < 0.05, (name, sizes[name])
    assert PRESETS["12hz"]().kbps(6) == pytest.approx(0.925) and PRESETS["12hz"]().kbps(8) == pytest.approx(1.225)
    assert PRESETS["25hz"]().kbps(3) == pytest.approx(0.85)


def test_codec_info_cli(capsys):
    assert main(["codec-info", "--config", "tiny-12hz"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["frame_rate"] == 12.5 and info["codebook_sizes"][0] == 1024 and info["tokens_per_second"] == 100.0
    assert {"params_without_ssl", "kbps"} <= set(info)
    assert main(["codec-info", "--config", "nope"]) == 2


def test_cli_encode_decode_round_trip(codec, tmp_path, speech_dir, capsys):
    codec.save_pretrained(tmp_path / "ckpt")
    src = speech_dir / "male_a.wav"
    assert main(["encode", "--codec", str(tmp_path / "ckpt"), str(src), str(tmp_path / "c.npz")]) == 0
    z = np.load(tmp_path / "c.npz")
    n = int(round(sf.info(str(src)).frames * 24000 / sf.info(str(src)).samplerate))
    assert z["codes"].shape == (4, -(-n // 960)) and int(z["length"]) == n
    assert main(["decode", "--codec", str(tmp_path / "ckpt"), str(tmp_path / "c.npz"), str(tmp_path / "y.wav")]) == 0
    info = sf.info(str(tmp_path / "y.wav"))
    assert info.samplerate == 24000 and info.frames == n
    assert main(["encode", "--codec", str(tmp_path / "ckpt"), "--layers", "1", str(src), str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["codes"].shape[0] == 1
    assert main(["decode", "--codec", str(tmp_path / "ckpt"), str(tmp_path / "s.npz"), str(tmp_path / "s.wav")]) == 0
    capsys.readouterr()
    (tmp_path / "bad.npz").write_bytes(b"nope")
    assert main(["decode", "--codec", str(tmp_path / "ckpt"), str(tmp_path / "bad.npz"), str(tmp_path / "bad.wav")]) == 2
    assert "not a codes file" in capsys.readouterr().err and not (tmp_path / "bad.wav").exists()
    assert main(["encode", "--codec", str(tmp_path / "missing"), str(src), str(tmp_path / "m.npz")]) == 2


def _mimi():
    import transformers as tf

    torch.manual_seed(0)
    c = tf.MimiConfig(hidden_size=32, num_filters=4, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2, head_dim=16,
                      intermediate_size=64, codebook_dim=16, vector_quantization_hidden_dimension=16, num_quantizers=4,
                      num_semantic_quantizers=1, codebook_size=64, sliding_window=50, upsample_groups=32)
    return MimiTokenizer(tf.MimiModel(c))


def _encodec():
    import transformers as tf

    torch.manual_seed(0)
    c = tf.EncodecConfig(num_filters=4, hidden_size=16, codebook_size=64, target_bandwidths=[1.5, 3.0], num_lstm_layers=1)
    return EncodecTokenizer(tf.EncodecModel(c))


@pytest.mark.parametrize("make", [_mimi, _encodec], ids=["mimi", "encodec"])
def test_adapters_implement_the_contract(make):
    tok = make()
    assert isinstance(tok, Tokenizer) and tok.sample_rate == 24000
    x = _wav(2, 24000)
    codes = tok.encode(x)
    Q = len(tok.codebook_sizes)
    assert codes.shape[:2] == (2, Q) and codes.shape[2] == math.ceil(tok.frame_rate)
    assert tok.decode(codes, lengths=24000).shape == (2, 1, 24000)
    assert tok.decode(codes[:, :1], lengths=24000).shape == (2, 1, 24000)
    assert tok.embed(codes).shape[0] == 2 and tok.embed(codes).shape[2] == codes.shape[2]
    batch = tok.encode(_wav(2, 24000), lengths=[24000, 12000])
    single = tok.encode(x[1:2, :, :12000])[0]
    assert torch.equal(batch[1, :, : single.shape[-1]], single)


def test_load_tokenizer_by_name(codec, tmp_path):
    codec.save_pretrained(tmp_path / "ckpt")
    assert load_tokenizer(f"dualcodec:{tmp_path / 'ckpt'}").codebook_sizes == codec.codebook_sizes
    with pytest.raises(ValueError, match="unknown tokenizer kind"):
        load_tokenizer("wavtokenizer:x")
    with pytest.raises(ValueError, match="expected dualcodec:PATH"):
        load_tokenizer("mimi")


@pytest.mark.parametrize("mode", ["distill", "none"])
def test_ablation_modes(mode):
    """The paper's ablation: RVQ-1 on the acoustic latent, with (distill) or without (none) an SSL target."""
    torch.manual_seed(0)
    cfg = tiny_config()
    cfg.semantic_mode = mode
    m = DualCodec(cfg.validate()).train()
    out = m(_wav(2, 9600))
    assert out["audio"].shape == (2, 1, 9600) and out["codes"].shape == (2, 4, 10)
    assert (float(out["semantic_loss"].detach()) > 0) == (mode == "distill")
    m.eval()
    assert m.decode(m.encode(_wav(1))[:, :1], lengths=24000).shape == (1, 1, 24000)


def test_extract_tokens_batched_resumable_and_skipping(codec, tmp_path, tiny_corpus, capsys):
    from dualtts.data.corpora import read_libritts
    from dualtts.data.manifest import read_manifest, write_manifest

    codec.save_pretrained(tmp_path / "ckpt")
    utts = read_libritts(tiny_corpus)[:5]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    utts[2].audio = str(bad)
    write_manifest(tmp_path / "m.jsonl", utts)
    args = ["extract-tokens", "--tokenizer", f"dualcodec:{tmp_path / 'ckpt'}", "--manifest", str(tmp_path / "m.jsonl"),
            "--out", str(tmp_path / "tok"), "--batch-size", "3", "--device", "cpu"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == {"out": str(tmp_path / "tok"), "utterances": 4, "skipped": 1, "processes": 1}
    assert "bad.wav: corrupt or unsupported audio" in (tmp_path / "tok/skipped.txt").read_text()
    rows = read_manifest(tmp_path / "tok/manifest.jsonl")
    u = rows[0]
    codes = np.load(tmp_path / "tok" / u.extra["codes"])
    wav, _ = __import__("dualtts.data.audio", fromlist=["x"]).load_audio(u.audio, 24000)
    single = codec.encode(torch.from_numpy(wav)[None, None])[0].numpy()
    assert codes.dtype == np.int16 and np.array_equal(codes, single)  # batched == one by one
    mtime = (tmp_path / "tok" / u.extra["codes"]).stat().st_mtime_ns
    assert main(args) == 0  # resume: nothing re-encoded
    assert (tmp_path / "tok" / u.extra["codes"]).stat().st_mtime_ns == mtime


@pytest.mark.parametrize("name", ["tiny-12hz", "tiny-12hz-3h"])
def test_the_committed_mini_checkpoints_reconstruct_speech(speech_dir, name):
    """recipes/mini/checkpoints: tiny-12hz by recipes/mini/codec.sh, tiny-12hz-3h (the TTS run's) by codec_tts.sh."""
    from pathlib import Path

    from dualtts.data.audio import load_audio
    from dualtts import metrics as M

    codec = DualCodec.from_pretrained(Path(__file__).resolve().parents[1] / "recipes/mini/checkpoints" / name)
    wav, _ = load_audio(speech_dir / "female_a.wav", 24000)
    x = torch.from_numpy(wav)[None, None]
    codes = codec.encode(x)
    assert codes.shape[1] == 8 and codec.frame_rate == 12.5
    y = codec.decode(codes, lengths=x.shape[-1])[0, 0].numpy()
    semantic = codec.decode(codes[:, :1], lengths=x.shape[-1])[0, 0].numpy()
    stoi_all, stoi_sem = M.stoi([wav], [y]).mean, M.stoi([wav], [semantic]).mean
    assert stoi_all > 0.55 and stoi_all > stoi_sem - 0.02, (stoi_all, stoi_sem)


@pytest.mark.parametrize("make", [_mimi, _encodec], ids=["mimi", "encodec"])
def test_flow_stage_runs_on_the_adapters(make):
    """The flow stage needs only the contract: any codebook sizes, latent width and frame rate."""
    from dualtts.flow import AcousticFlow, fill_utterance, get_flow_config, split_latent

    tok = make().eval()
    codes = tok.encode(_wav(1, 24000))
    sem, acoustic = split_latent(tok, codes)
    assert torch.allclose(sem + acoustic, tok.embed(codes), atol=1e-5)
    flow = AcousticFlow(get_flow_config("tiny", latent_dim=sem.shape[1], codebook_size=tok.codebook_sizes[0], hidden_size=32,
                                        num_layers=1, num_heads=2)).eval()
    wav = fill_utterance(flow, tok, codes[0, 0, :5], prompt_codes=codes[0], prompt_seconds=0.2, steps=2)
    assert wav.shape[0] == 1 and wav.shape[-1] == pytest.approx(5 * 24000 / tok.frame_rate, abs=2)


def test_the_shipped_default_model_speaks_a_sentence_of_plausible_length(speech_dir):
    """recipes/mini/checkpoints/dualtts-mini (recipes/mini/speak.sh): loads with no argument, says a sentence in its
    default voice at a speaking rate a person could have, and its codec reconstructs speech it never heard."""
    from dualtts.data.audio import load_audio
    from dualtts import Synthesizer
    from dualtts import metrics as M

    tts = Synthesizer.from_pretrained(device="cpu")
    # best of 4 LM samples by its token reader (bundle.json, chosen by recipes/bench/set_default.py), with guidance on
    # the text; the acoustic stage reads the LM's states and passes them to its decoder (recipes/mini/speak_experiments.md)
    assert tts.reader is not None and tts.default_candidates == 4 and tts.lm.cfg.text_cfg_scale == 2.0
    assert tts.flow.latent_cond is not None
    text = "The quiet teacher opened the window before breakfast."
    wav = tts(text, seed=0)
    seconds, phonemes = len(wav) / tts.tokenizer.sample_rate, len(tts._phonemes(text, "test"))
    assert 0.03 < seconds / phonemes < 0.2, (seconds, phonemes)  # people: about 0.06-0.12 s per phoneme
    assert float(np.sqrt(np.mean(wav ** 2))) > 1e-3 and np.isfinite(wav).all()
    ref, _ = load_audio(speech_dir / "male_b.wav", 24000)
    x = torch.from_numpy(ref)[None, None]
    y = tts.tokenizer.decode(tts.tokenizer.encode(x), lengths=x.shape[-1])[0, 0].numpy()
    assert M.stoi([ref], [y]).mean > 0.6
