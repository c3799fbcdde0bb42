"""Our DualCodec with ``compat: reference`` against the reference package itself (``dualcodec`` 0.4.2, installed
without its dependencies by ``scripts/install.sh --dev``): the same random weights through the written key map
(:mod:`codec.reference`), identical codes and decoded audio equal to float rounding, for both official layouts.

The reference's imports that are not installed here get small stand-ins (``audiotools``, ``easydict``, ``einops``,
``cached_path``, ``torchaudio``); the one that computes, ``torchaudio.functional.resample``, is ours
(:class:`codec.modules.SincResampler`), itself checked against values torchaudio 2.11 produced. The reference
runs its w2v-BERT pass under fp16 autocast; here that autocast is switched off, so both sides compute in fp32.
If the reference package cannot be imported the tests fail (they are the proof of parity; never skipped).
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import sys
import types

import pytest
import torch
from torch import nn

from dualtts.codec.config import PRESETS, DualCodecConfig
from dualtts.codec.model import DualCodec
from dualtts.codec.modules import SincResampler
from dualtts.codec.reference import VARIANTS, convert_reference_state, reference_key

# the official model configs (the package's conf/model/*.yaml), and small widths of the same layouts for the
# parity run: real strides, codebook counts, causal ConvNeXt, pooling and SSL width (1024, hard-coded there)
OFFICIAL = {
    "12hz": dict(encoder_rates=[4, 5, 6, 8, 2], decoder_rates=[2, 8, 6, 5, 4], encoder_dim=32, decoder_dim=1536, n_codebooks=7,
                 quantizer_dropout=1.0, codebook_size=4096, semantic_codebook_size=16384, is_causal=True,
                 semantic_downsample_factor=4, sample_rate=24000),
    "25hz": dict(encoder_rates=[4, 5, 6, 8], decoder_rates=[8, 6, 5, 4], n_codebooks=11, quantizer_dropout=1.0, codebook_size=1024,
                 semantic_codebook_size=16384, is_causal=True, sample_rate=24000),
}
SMALL = dict(encoder_dim=4, latent_dim=1024, decoder_dim=32, codebook_size=64, semantic_codebook_size=128, convnext_dim=32,
             convnext_layers=2)
SSL_LAYER = 2  # hidden state of the tiny w2v-BERT (the reference reads 17 of the real one; checked below)


def _einops_stub() -> types.ModuleType:
    """``rearrange`` for the patterns the reference's codec path uses."""

    def rearrange(x, pattern, **sizes):
        if pattern == "b d t -> (b t) d":
            return x.transpose(1, 2).reshape(-1, x.shape[1])
        if pattern == "(b t) -> b t":
            return x.reshape(sizes["b"], -1)
        if pattern == "b 1 t -> b t":
            return x[:, 0]
        raise NotImplementedError(f"einops stand-in: {pattern}")

    return types.SimpleNamespace(rearrange=rearrange)


def _stand_ins() -> dict[str, types.ModuleType]:
    def module(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        m.__spec__ = importlib.machinery.ModuleSpec(name, None)
        return m

    class EasyDict(dict):
        def __getattr__(self, k):
            try:
                return self[k]
            except KeyError:
                raise AttributeError(k) from None

        def __setattr__(self, k, v):
            self[k] = v

    def resample(wav, orig, new):
        return SincResampler(orig, new)(wav.reshape(-1, wav.shape[-1])).reshape(*wav.shape[:-1], -1)

    class Placeholder:  # names imported for type hints / training only
        pass

    functional = module("torchaudio.functional", resample=resample)
    ml = module("audiotools.ml", BaseModel=nn.Module)
    return {"audiotools": module("audiotools", AudioSignal=Placeholder, STFTParams=Placeholder, ml=ml), "audiotools.ml": ml,
            "easydict": module("easydict", EasyDict=EasyDict), "einops": module("einops", rearrange=_einops_stub().rearrange),
            "cached_path": module("cached_path", cached_path=lambda p: p),
            "torchaudio": module("torchaudio", functional=functional), "torchaudio.functional": functional}


def install_stand_ins(mp: pytest.MonkeyPatch) -> None:
    """Stand-ins (:func:`_stand_ins`) for the reference's imports that are not installed, in ``sys.modules``
    through ``mp`` (gone when its context ends)."""
    stand_ins = _stand_ins()
    missing = {n for n in {k.split(".")[0] for k in stand_ins} if importlib.util.find_spec(n) is None}
    for name, m in stand_ins.items():
        if name.split(".")[0] in missing:
            mp.setitem(sys.modules, name, m)


@pytest.fixture(scope="module")
def ref():
    """The reference package's modules, imported with stand-ins for what is not installed (in ``sys.modules`` only
    while it is imported: its modules keep them, nothing else sees them)."""
    with pytest.MonkeyPatch.context() as mp:
        install_stand_ins(mp)
        try:
            pkg = importlib.import_module("dualcodec")
            mods = types.SimpleNamespace(DualCodec=pkg.DualCodec,
                                         inference=importlib.import_module("dualcodec.infer.dualcodec.inference_with_semantic"))
        except ImportError as e:
            pytest.fail(f"the reference package cannot be imported ({e}); install it: pip install --no-deps dualcodec==0.4.2")
    yield mods
    for k in [k for k in sys.modules if k == "dualcodec" or k.startswith("dualcodec.")]:
        del sys.modules[k]


def test_resampler_matches_torchaudio():
    """SincResampler vs ``torchaudio.functional.resample(x, 24000, 16000)`` (torchaudio 2.11.1, fp32 on a CPU)."""
    t = torch.arange(2000, dtype=torch.float32)
    y = SincResampler(24000, 16000)((torch.sin(0.05 * t) * torch.cos(t * t * 3e-5))[None])
    want = {0: 0.004902184009552002, 1: 0.07412058860063553, 2: 0.1499875783920288, 100: 0.7325747013092041,
            333: -0.05673668533563614, 500: 0.07780785113573074, 1000: 0.017287733033299446, 1331: -0.617229700088501,
            1332: -0.5914829969406128, 1333: -0.23690542578697205}
    assert y.shape == (1, 1334)
    for i, v in want.items():
        assert float(y[0, i]) == pytest.approx(v, abs=1e-7), i


@pytest.mark.parametrize("variant", ["12hz", "25hz"])
def test_key_map_covers_the_official_layout(ref, variant):
    """The real-size official state dict (built on the meta device) maps onto ours: no missing or unexpected keys,
    every shape equal."""
    with torch.device("meta"):
        theirs = ref.DualCodec(**OFFICIAL[variant]).state_dict()
        cfg = PRESETS[VARIANTS[variant][1]]()
        cfg.ssl.source, cfg.ssl.config = "random", {"hidden_size": 1024, "num_hidden_layers": 1, "num_attention_heads": 2}
        ours = {k: v for k, v in DualCodec(cfg).state_dict().items() if not k.startswith("ssl.model.")}
    converted = convert_reference_state(theirs, (torch.zeros(1024), torch.ones(1024)))
    assert set(converted) == set(ours), (sorted(set(ours) - set(converted))[:5], sorted(set(converted) - set(ours))[:5])
    assert all(converted[k].shape == ours[k].shape for k in ours), [k for k in ours if converted[k].shape != ours[k].shape][:5]
    n = sum(v.numel() for k, v in theirs.items())
    assert n == pytest.approx({"12hz": 84.0e6, "25hz": 102.3e6}[variant], rel=0.01)
    with pytest.raises(ValueError, match="not a tensor of the reference"):
        reference_key("discriminator.mpd.0.weight")


def _randomize(model: nn.Module, seed: int) -> None:
    """Random Snake α, weight-norm gains and biases (the reference initialises them to constants)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("alpha"):
                p.copy_(0.5 + 1.5 * torch.rand(p.shape, generator=g))
            elif name.endswith(("weight_g", "bias")):
                p.mul_(0.8 + 0.4 * torch.rand(p.shape, generator=g)).add_(0.01 * torch.randn(p.shape, generator=g))


def _official_files(ref, variant: str, folder, seed: int):
    """A reference model with random weights, saved as the hub repo lays it out, plus a tiny w2v-BERT 2.0 folder."""
    import transformers as tf
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = ref.DualCodec(**{**OFFICIAL[variant], **SMALL}).eval()
    _randomize(model, seed)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / VARIANTS[variant][0]))
    g = torch.Generator().manual_seed(seed + 1)
    torch.save({"mean": 0.1 * torch.randn(1024, generator=g), "var": 0.5 + torch.rand(1024, generator=g)},
               folder / "w2vbert2_mean_var_stats_emilia.pt")
    w2v = folder / "w2v-bert"
    c = tf.Wav2Vec2BertConfig(hidden_size=1024, num_hidden_layers=SSL_LAYER, num_attention_heads=4, intermediate_size=64,
                              feature_projection_input_dim=160, conv_depthwise_kernel_size=7)
    tf.Wav2Vec2BertModel(c).eval().save_pretrained(w2v)
    tf.SeamlessM4TFeatureExtractor(padding_value=1.0).save_pretrained(w2v)  # as facebook/w2v-bert-2.0 ships it
    return model, w2v


def _reference_inference(ref, model, folder, w2v):
    inf = ref.inference.Inference(model, dualcodec_path=str(folder), w2v_path=str(w2v), device="cpu", autocast=False)
    assert inf.semantic_cfg["output_idx"] == 17 == PRESETS["reference-12hz"]().ssl.layer  # the layer the reference reads
    inf.semantic_cfg["output_idx"] = SSL_LAYER
    return inf


@contextlib.contextmanager
def _no_autocast():
    """The reference wraps its w2v-BERT pass in fp16 autocast even on a CPU; compare in fp32."""
    real = torch.autocast
    torch.autocast = lambda *a, **k: contextlib.nullcontext()
    try:
        yield
    finally:
        torch.autocast = real


@pytest.mark.parametrize("variant", ["12hz", "25hz"])
def test_codes_and_audio_match_the_reference(ref, variant, tmp_path):
    theirs, w2v = _official_files(ref, variant, tmp_path, seed={"12hz": 1, "25hz": 2}[variant])
    inf = _reference_inference(ref, theirs, tmp_path, w2v)
    ours = DualCodec.from_pretrained(tmp_path, variant=variant, ssl_source=str(w2v), **_small_overrides(w2v))
    hop, Q = ours.cfg.hop_length, len(ours.codebook_sizes)
    g = torch.Generator().manual_seed(7)
    # 41040 samples: not whole frames, and an odd fbank frame count (the padded, masked w2v-BERT frame)
    T = 41040
    t = torch.arange(T) / 24000
    wav = torch.stack([0.4 * torch.sin(2 * torch.pi * 180 * t) * torch.sin(2 * torch.pi * 2.5 * t),
                       0.2 * torch.randn(T, generator=g)])[:, None]
    seen, encode = {}, theirs.encode

    def spy(*args, **kw):  # what the reference feeds its model: the normalized, pooled SSL features
        seen["feats"] = kw["semantic_repr"]
        return encode(*args, **kw)

    theirs.encode = spy
    with _no_autocast():
        s_ref, a_ref = inf.encode(wav, n_quantizers=Q)
        s4, a4 = inf.encode(wav, n_quantizers=4)
    codes = ours.encode(wav)
    n = s_ref.shape[-1]
    assert n == ours.frames(T) == -(-T // hop) - 1 and codes.shape == (2, Q, n)  # F - 1
    # the normalized, pooled w2v-BERT features the reference feeds its model: resampling, fbank padding, attention
    # mask, hidden layer, statistics and pooling all agree
    assert torch.equal(ours.semantic_features(wav), seen["feats"])
    assert torch.equal(codes[:, :1], s_ref) and torch.equal(codes[:, 1:], a_ref)
    assert torch.equal(ours.encode(wav, n_layers=4), torch.cat([s4, a4], 1))

    with torch.no_grad():
        audio_ref = inf.decode(s_ref, a_ref)
        first_ref = inf.decode(s_ref, None)
    audio, first = ours.decode(codes), ours.decode(codes[:, :1])
    m = audio_ref.shape[-1]
    assert m == n * hop - 4 and audio.shape[-1] == n * hop  # the reference's stride-5 upsampler: 4 samples short
    assert torch.all(audio[..., m:] == 0)
    diff, diff1 = (audio[..., :m] - audio_ref).abs().max().item(), (first[..., :m] - first_ref).abs().max().item()
    print(f"{variant}: {n} frames, codes identical; decoded audio max |diff| {diff:.2e} (all layers), {diff1:.2e} (first layer)")
    # bit-exact in fp32 on a CPU (the same kernels on both sides; a Snake written as a division instead of the
    # reference's reciprocal product is already off by ~3e-8)
    assert diff == 0 and diff1 == 0
    assert audio_ref.abs().max() > 1e-3  # not a silent comparison


def test_frame_count_matches_the_fbank_front_end():
    """``frames(T)`` (compat reference) equals the w2v-BERT front end's frame count pooled, for lengths around the edges."""
    from transformers import SeamlessM4TFeatureExtractor

    fe = SeamlessM4TFeatureExtractor(padding_value=1.0)
    cfg = PRESETS["reference-25hz"]()
    cfg.ssl.source, cfg.ssl.config = "random", {"hidden_size": 1024, "num_hidden_layers": 1, "num_attention_heads": 2}
    with torch.device("meta"):
        codec = DualCodec(cfg)
    for T in (960 * 10, 960 * 10 + 1, 960 * 10 + 239, 960 * 10 + 240, 960 * 11 - 1, 24000 * 3 + 17):
        n16 = -(-T * 2 // 3)
        n50 = fe([torch.zeros(n16).numpy()], sampling_rate=16000, return_tensors="pt")["input_features"].shape[1]
        assert codec.frames(T) == n50 // codec.pool, T


def test_defaults_are_unchanged():
    """Our own presets keep their layout: compat defaults to none, normalized lookup, exact upsampling."""
    cfg = PRESETS["12hz"]()
    assert cfg.compat == "none"
    assert DualCodecConfig.from_dict({k: v for k, v in cfg.to_dict().items() if k != "compat"}).compat == "none"
    with pytest.raises(ValueError, match="compat"):
        DualCodecConfig(compat="nope").validate()
    with pytest.raises(ValueError, match="stream 'dac'"):
        DualCodecConfig(compat="reference", stream="spectral").validate()


def test_offline_hub_download_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OSError, match=r"cannot download dualcodec_25hz_16384_1024.safetensors from the hub repo amphion/dualcodec"):
        DualCodec.from_pretrained("amphion/dualcodec", variant="25hz")
    with pytest.raises(OSError, match="amphion/dualcodec"):
        DualCodec.from_pretrained("amphion/dualcodec:12hz")


def _small_overrides(w2v) -> dict:
    return dict(encoder_dim=SMALL["encoder_dim"], decoder_dim=SMALL["decoder_dim"], semantic_dim=SMALL["convnext_dim"],
                semantic_layers=SMALL["convnext_layers"], semantic_codebook_size=SMALL["semantic_codebook_size"],
                acoustic_codebook_size=SMALL["codebook_size"], ssl={"kind": "w2v-bert", "source": str(w2v), "layer": SSL_LAYER, "dim": 1024})


def test_cli_encode_decode_with_the_official_layout(ref, tmp_path, monkeypatch, capsys):
    """``dualtts encode/decode --codec FOLDER:12hz`` (as ``amphion/dualcodec:12hz`` is written; here the folder holds a
    small model of the official layout, its sizes patched in), and the offline hub id is a one-line error."""
    import numpy as np
    import soundfile as sf

    import dualtts.codec.reference as reference
    from dualtts.cli import main

    folder = tmp_path / "official"
    folder.mkdir()
    _, w2v = _official_files(ref, "12hz", folder, seed=3)
    real = reference.reference_config
    monkeypatch.setattr(reference, "reference_config", lambda variant, ssl_source, **kw: real(variant, ssl_source, **_small_overrides(w2v)))
    T = 24000 + 555
    wav = 0.3 * np.sin(2 * np.pi * 150 * np.arange(T) / 24000).astype(np.float32)
    sf.write(tmp_path / "in.wav", wav, 24000)
    wav = sf.read(tmp_path / "in.wav", dtype="float32")[0]  # as the CLI reads it (16-bit PCM)
    assert main(["encode", "--codec", f"{folder}:12hz", "--device", "cpu", str(tmp_path / "in.wav"), str(tmp_path / "c.npz")]) == 0
    codes = np.load(tmp_path / "c.npz")["codes"]
    codec = DualCodec.from_pretrained(folder, variant="12hz")
    assert np.array_equal(codes, codec.encode(torch.from_numpy(wav)[None, None])[0].numpy()) and codes.shape == (8, codec.frames(T))
    assert main(["decode", "--codec", f"dualcodec:{folder}:12hz", "--device", "cpu", str(tmp_path / "c.npz"), str(tmp_path / "out.wav")]) == 0
    assert sf.info(str(tmp_path / "out.wav")).frames == T  # the dropped tail comes back as silence
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    assert main(["encode", "--codec", "amphion/dualcodec:12hz", "--device", "cpu", str(tmp_path / "in.wav"), str(tmp_path / "d.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot download dualcodec_12hz_16384_4096.safetensors" in err, err


def test_reference_layout_trains_and_round_trips_through_our_checkpoint(tmp_path):
    """``compat: reference`` is a full codec of ours: a training pass (losses, gradients) and save/load in our format."""
    cfg = DualCodecConfig.from_dict({**PRESETS["reference-12hz"]().to_dict(), **{k: v for k, v in _small_overrides("x").items() if k != "ssl"},
                                     "ssl": {"kind": "w2v-bert", "source": "random", "layer": 2, "dim": 1024,
                                             "config": {"hidden_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 4,
                                                        "intermediate_size": 64, "conv_depthwise_kernel_size": 7}}})
    torch.manual_seed(0)
    codec = DualCodec(cfg).train()
    wav = 0.1 * torch.randn(2, 1, 1920 * 4 + 100)
    out = codec(wav)
    assert out["audio"].shape == wav.shape and out["codes"].shape == (2, 8, codec.frames(wav.shape[-1])) == (2, 8, 3)
    loss = out["semantic_loss"] + out["codebook_loss"] + out["commitment_loss"] + out["audio"].abs().mean()
    loss.backward()
    assert torch.isfinite(loss) and codec.semantic_encoder[0].parametrizations.weight.original1.grad is not None
    codec.eval().save_pretrained(tmp_path / "ours")
    again = DualCodec.from_pretrained(tmp_path / "ours")
    assert again.cfg.compat == "reference" and torch.equal(again.encode(wav), codec.encode(wav))
