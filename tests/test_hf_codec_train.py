"""Mimi and EnCodec trained from their configs (codec.hf_train): straight-through gradients, EMA codebooks, quantizer
dropout, transformers folders the tokenizers load, and `dualtts train codec` with `model: hf:mimi-tiny`."""
import json

import pytest
import torch
import yaml

from dualtts.codec.hf_train import PRESETS, TrainableHFCodec, hf_spec
from dualtts.codec.losses import MultiScaleMelLoss
from dualtts.codec.tokenizer import EncodecTokenizer, MimiTokenizer, load_tokenizer
from dualtts.data.audio import load_audio

KINDS = ["mimi", "encodec"]
FRAME_RATES = {"mimi": 12.5, "encodec": 75.0}
TOKENIZERS = {"mimi": MimiTokenizer, "encodec": EncodecTokenizer}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: one thread is as fast, and much faster on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def speech(speech_dir) -> torch.Tensor:
    """0.4 s of real speech from two voices: ``[2, 1, 9600]``."""
    wavs = [torch.from_numpy(load_audio(speech_dir / f"{v}_a.wav", 24000)[0][6000:15600]) for v in ("male", "female")]
    return torch.stack(wavs)[:, None]


def _codebooks(m: TrainableHFCodec) -> list[torch.Tensor]:
    return [cb.embed.clone() for cb in m._codebooks()]


@pytest.mark.parametrize("kind", KINDS)
def test_presets_and_config_errors(kind):
    torch.manual_seed(0)
    m = TrainableHFCodec.from_spec(f"hf:{kind}-tiny")
    assert m.num_params() < 3e6 and m.sample_rate == 24000 and m.frame_rate == FRAME_RATES[kind]
    assert m.codebook_sizes == [1024] * 8 and m.kind == kind
    spec = hf_spec({"kind": kind, "preset": f"{kind}-tiny", "codebook_size": 64, "ema_decay": 0.9})
    assert spec.config["codebook_size"] == 64 and spec.ema_decay == 0.9 and spec.config["hidden_size"] == PRESETS[f"{kind}-tiny"][1]["hidden_size"]
    with pytest.raises(ValueError, match="unknown hf codec preset"):
        hf_spec(f"hf:{kind}-huge")
    with pytest.raises(ValueError, match="unknown hf codec kind"):
        hf_spec({"kind": "wavtokenizer"})
    with pytest.raises(ValueError, match="is a"):
        hf_spec({"kind": "encodec" if kind == "mimi" else "mimi", "preset": f"{kind}-tiny"})
    with pytest.raises(ValueError, match="unknown .*Config field"):
        hf_spec({"kind": kind, "hiden_size": 8}).build()


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_the_encoder_through_the_straight_through_path(kind, speech):
    torch.manual_seed(0)
    m = TrainableHFCodec.from_spec({"kind": kind, "preset": f"{kind}-tiny", "dropout_prob": 0.0}).train()
    out = m(speech)
    assert out["audio"].shape == speech.shape and out["codes"].shape == (2, 8, m.frames(speech.shape[-1]))
    assert out["codebook_loss"].item() == 0 and out["semantic_loss"].item() == 0 and out["commitment_loss"].item() > 0
    first = next(m.model.encoder.parameters())  # the first convolution's weight
    out["audio"].abs().mean().backward(retain_graph=True)  # the decoder's gradient alone: only straight-through
    assert first.grad is not None and first.grad.abs().sum() > 0
    m.zero_grad()
    out["commitment_loss"].backward()
    assert first.grad.abs().sum() > 0
    # eval: all codebooks, the same codes as transformers' own encode
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(speech)["codes"], m.encode(speech))
    m.train()
    m.spec.dropout_prob = 1.0  # quantizer dropout: Mimi 1..8 codebooks, EnCodec those of 1.5 / 3 / 6 kbps
    seen = {m(speech)["codes"].shape[1] for _ in range(12)}
    assert seen <= (set(range(1, 9)) if kind == "mimi" else {2, 4, 8}) and len(seen) > 1


@pytest.mark.parametrize("kind", KINDS)
def test_training_lowers_mel_and_saves_a_tokenizer_folder(kind, speech, tmp_path):
    torch.manual_seed(0)
    m = TrainableHFCodec.from_spec(f"hf:{kind}-tiny").train()
    mel, losses = MultiScaleMelLoss(24000), []
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, betas=(0.8, 0.9))
    for step in range(40):
        out = m(speech)
        loss = mel(out["audio"], speech)
        opt.zero_grad()
        (15 * loss + 0.25 * out["commitment_loss"]).backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        if step == 0:
            after_init = _codebooks(m)
    assert sum(losses[-5:]) / 5 < 0.8 * losses[0], losses
    assert all(not torch.equal(a, b) for a, b in zip(after_init, _codebooks(m)))  # every codebook moved (EMA)
    usage = m.usage()
    assert len(usage) == 8 and all(0 < v <= 1 for v in usage.values())

    m.eval()
    folder = m.save_pretrained(tmp_path / kind)
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors"}
    tok = TOKENIZERS[kind].from_pretrained(str(folder))
    assert tok.frame_rate == m.frame_rate and tok.codebook_sizes == m.codebook_sizes
    sd = tok.model.state_dict()
    assert all(torch.equal(v, sd[k]) for k, v in m.model.state_dict().items())  # the EMA-trained codebooks included
    codes = tok.encode(speech, lengths=[9600, 7000])
    assert codes.shape == (2, 8, m.frames(9600)) and 0 <= codes.min() and codes.max() < 1024
    assert torch.equal(codes[:1], m.encode(speech[:1]))
    wav = tok.decode(codes, lengths=[9600, 7000])
    assert wav.shape == (2, 1, 9600) and torch.isfinite(wav).all() and wav[1, :, 7000:].abs().sum() == 0
    assert tok.decode(codes[:, :1], lengths=9600).shape == (2, 1, 9600)


def _manifest(speech_dir, tmp_path):
    from dualtts.data.manifest import Utterance, write_manifest

    utts = [Utterance(id=p.stem, audio=str(p), duration=2.0, speaker=p.stem.split("_")[0], text="x") for p in sorted(speech_dir.glob("*.wav"))]
    return write_manifest(tmp_path / "train.jsonl", utts)


def _config(manifest, out_dir, model="hf:mimi-tiny", **train) -> dict:
    return {"model": model, "train_manifest": str(manifest), "segment_seconds": 0.48, "batch_size": 2, "disc_channels": 4,
            "train": {"out_dir": str(out_dir), "max_steps": 2, "lr": 1e-3, "warmup_steps": 1, "log_every": 1, "val_every": 0,
                      "save_every": 2, "cpu": True, **train}}


def test_dualtts_train_codec_with_a_mimi(speech_dir, tmp_path, capsys):
    from dualtts.cli import main

    manifest = _manifest(speech_dir, tmp_path)
    cfg = _config(manifest, tmp_path / "run", val_every=2)
    cfg.update(val_manifest=str(manifest), val_utterances=1, teacher_cache=str(tmp_path / "tc"))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", "codec", "--config", str(tmp_path / "c.yaml")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["step"] == 2
    log = [json.loads(line) for line in (tmp_path / "run/train_log.jsonl").read_text().splitlines()]
    assert {"mel", "commitment", "adv", "usage/rvq1", "usage/rvq8"} <= set(log[-1]) and log[-1]["codebook"] == 0
    assert not (tmp_path / "tc").exists()  # no SSL teacher for a Mimi
    assert "mel_all" in json.loads((tmp_path / "run/validation.jsonl").read_text().splitlines()[-1])
    tok = load_tokenizer(f"mimi:{tmp_path / 'run/checkpoints/step-2/codec'}")
    x = torch.from_numpy(load_audio(speech_dir / "male_b.wav", 24000)[0][:24000])[None, None]
    codes = tok.encode(x)
    assert codes.shape == (1, 8, 13) and codes.max() < 1024 and tok.decode(codes, lengths=24000).shape == (1, 1, 24000)


@pytest.mark.parametrize("kind", KINDS)
def test_resume_is_exact(kind, speech_dir, tmp_path):
    """The EMA codebooks are part of the training checkpoint: an interrupted run resumes bit-identically."""
    from dualtts.codec.train import CodecTask, load_train_config
    from conftest import assert_resume_is_exact

    manifest = _manifest(speech_dir, tmp_path)

    def make_yaml(name, **train):
        p = tmp_path / f"{name}.yaml"
        p.write_text(yaml.safe_dump({**_config(manifest, tmp_path / name, f"hf:{kind}-tiny", **{"max_steps": 4, **train}), "gan": False}))
        return p

    assert_resume_is_exact(load_train_config, CodecTask, make_yaml)


def test_tokenizer_spec_picks_encodec_bandwidth_and_mimi_codebooks(tmp_path):
    from dualtts.codec.tokenizer import load_tokenizer, tokenizer_spec

    enc = TrainableHFCodec.from_spec("hf:encodec-tiny").save_pretrained(tmp_path / "encodec")
    assert len(load_tokenizer(f"encodec:{enc}").codebook_sizes) == 8  # the largest bandwidth, 6 kbps
    low = load_tokenizer(f"encodec@1.5:{enc}")
    assert len(low.codebook_sizes) == 2
    assert low.encode(torch.randn(1, 1, 4800) * 0.1).shape == (1, 2, 15)  # 0.2 s at 75 Hz
    mimi = TrainableHFCodec.from_spec("hf:mimi-tiny").save_pretrained(tmp_path / "mimi")
    assert len(load_tokenizer(f"mimi@4:{mimi}").codebook_sizes) == 4
    assert tokenizer_spec(f"encodec@1.5:{enc}") == f"encodec@1.5:{enc}"
    with pytest.raises(ValueError, match="EnCodec at 2.0 kbps"):
        load_tokenizer(f"encodec@2.0:{enc}")
    with pytest.raises(ValueError, match="only mimi@CODEBOOKS and encodec@KBPS"):
        load_tokenizer(f"dualcodec@3:{enc}")
