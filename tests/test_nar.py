"""NAR acoustic stage: layer-wise masking of what is read, learning, sampling behind fill_utterance, training CLI."""
import json

import numpy as np
import pytest
import torch
import yaml

from dualtts.flow.infer import fill_utterance, load_acoustic_stage
from dualtts.flow.nar import AcousticNAR, get_nar_config

Q, S, A = 4, 24, 16


def _nar(**kw):
    torch.manual_seed(0)
    return AcousticNAR(get_nar_config("tiny", codebook_size=S, acoustic_codebook_size=A, num_quantizers=Q, hidden_size=32,
                                      num_layers=2, num_heads=2, dropout=0.0, **kw))


def _codes(B=2, F=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = torch.randint(0, A, (B, Q, F), generator=g)
    c[:, 0] = torch.randint(0, S, (B, F), generator=g)
    return c


def test_a_layer_reads_only_the_layers_below_it_except_on_the_prompt():
    m = _nar().eval()
    c = _codes()
    pm = torch.zeros(2, 12, dtype=torch.bool)
    layer = torch.tensor([2, 2])  # predicts RVQ layer 3: reads layers 1 and 2
    out = m(c, layer, pm)
    changed = c.clone()
    changed[:, 2:] = (changed[:, 2:] + 1) % A  # layers 3.. are not read outside the prompt
    assert torch.allclose(out, m(changed, layer, pm), atol=1e-6)
    changed = c.clone()
    changed[:, 1] = (changed[:, 1] + 1) % A
    assert not torch.allclose(out, m(changed, layer, pm))
    pm[:, :4] = True  # on prompt frames every layer is read
    c2 = c.clone()
    c2[:, 3, :4] = (c2[:, 3, :4] + 1) % A
    assert not torch.allclose(m(c, layer, pm), m(c2, layer, pm))


def test_learns_a_mapping_and_sampling_fills_the_target_frames():
    m = _nar()
    c = _codes(B=4, F=16)
    for k in range(1, Q):  # acoustic layers a function of the first layer: learnable
        c[:, k] = (c[:, 0] * (k + 1)) % A
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    mask = torch.ones(4, 16, dtype=torch.bool)
    losses = []
    for i in range(150):
        out = m.loss(c, mask, generator=torch.Generator().manual_seed(i))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert np.mean(losses[-10:]) < 0.2 * np.mean(losses[:10])
    m.eval()
    start = c[:1].clone()
    start[:, 1:, 5:] = 0
    filled = m.sample(start, prompt_len=5)
    assert torch.equal(filled[:, :, :5], c[:1, :, :5]) and (filled[:, 1:, 5:] == c[:1, 1:, 5:]).float().mean() > 0.9


def test_fill_utterance_and_checkpoint_round_trip(tmp_path, tiny_codec):
    from dualtts.codec.model import DualCodec

    codec = DualCodec.from_pretrained(tiny_codec)
    m = AcousticNAR(get_nar_config("tiny", codebook_size=64, acoustic_codebook_size=32, num_quantizers=4, hidden_size=32,
                                   num_layers=1, num_heads=2, cond_dim=8)).eval()
    m.save_pretrained(tmp_path / "nar")
    back = load_acoustic_stage(tmp_path / "nar")
    assert isinstance(back, AcousticNAR) and back.cfg == m.cfg
    prompt = torch.stack([torch.randint(0, s, (30,)) for s in codec.codebook_sizes])
    tokens = torch.randint(0, 64, (10,))
    with pytest.raises(ValueError, match="conditioned on the semantic LM's states"):
        fill_utterance(back, codec, tokens, prompt, prompt_seconds=0.4)
    wav = fill_utterance(back, codec, tokens, prompt, prompt_seconds=0.4, cond=torch.randn(40, 8))
    assert wav.shape == (1, 1, 10 * 960)


def test_adapting_to_a_prompt_lowers_its_loss_and_leaves_the_model_as_it_was(tiny_codec):
    from dualtts.codec.model import DualCodec

    m = _nar().eval()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    prompt = _codes(B=1, F=16)[0]
    mask = torch.ones(4, 16, dtype=torch.bool)
    ce = lambda model: float(model.loss(prompt[None].expand(4, -1, -1), mask, generator=torch.Generator().manual_seed(1),
                                        train=False)["loss"].detach())  # noqa: E731
    with torch.inference_mode():  # as fill_utterance calls it
        adapted = m.adapted(prompt, steps=30, lr=3e-3)
    assert ce(adapted) < 0.7 * ce(m)
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in before.items())
    codec = DualCodec.from_pretrained(tiny_codec)  # through fill_utterance, on a codec's code stack
    nar = AcousticNAR(get_nar_config("tiny", codebook_size=64, acoustic_codebook_size=32, num_quantizers=4, hidden_size=32,
                                     num_layers=1, num_heads=2)).eval()
    codes = torch.stack([torch.randint(0, s, (30,)) for s in codec.codebook_sizes])
    wav = fill_utterance(nar, codec, torch.randint(0, 64, (10,)), codes, prompt_seconds=0.4, nar_adapt_steps=2)
    assert wav.shape == (1, 1, 10 * 960)


def test_soft_decoding_is_the_expected_code_vector(tiny_codec):
    """One-hot distributions decode exactly as their codes; a 50/50 mixture of two codes lands halfway between
    their decoded vectors; a NAR with ``decode: soft`` fills an utterance through it."""
    from dualtts.codec.model import DualCodec

    codec = DualCodec.from_pretrained(tiny_codec)
    K = codec.codebook_sizes[1]
    codes = torch.stack([torch.randint(0, s, (2, 7)) for s in codec.codebook_sizes], 1)
    acoustic = codec.embed(codes) - codec.embed(codes[:, :1])
    probs = torch.nn.functional.one_hot(codes[:, 1:], K).float()
    assert torch.allclose(codec.embed_acoustic_probs(probs), acoustic, atol=1e-5)
    other = (codes[:, 1:] + 1) % K
    mix = 0.5 * probs + 0.5 * torch.nn.functional.one_hot(other, K).float()
    acoustic2 = codec.embed(torch.cat([codes[:, :1], other], 1)) - codec.embed(codes[:, :1])
    assert torch.allclose(codec.embed_acoustic_probs(mix), 0.5 * (acoustic + acoustic2), atol=1e-5)

    m = AcousticNAR(get_nar_config("tiny", codebook_size=codec.codebook_sizes[0], acoustic_codebook_size=K,
                                   num_quantizers=len(codec.codebook_sizes), hidden_size=32, num_layers=1, num_heads=2,
                                   decode="soft")).eval()
    prompt = codes[0, :, :4]
    start = torch.zeros_like(codes[:1])
    start[0, :, :4], start[0, 0] = prompt, codes[0, 0]
    filled, p = m.sample(start, prompt_len=4, soft=True)
    assert p.shape == (1, len(codec.codebook_sizes) - 1, 7, K) and torch.allclose(p.sum(-1), torch.ones(()))
    assert torch.equal(p[0, :, :4].argmax(-1), prompt[1:])            # the prompt's own codes, one-hot
    wav = fill_utterance(m, codec, codes[0, 0, :5], prompt)
    assert wav.shape == (1, 1, 5 * codec.cfg.hop_length) and torch.isfinite(wav).all()
    assert torch.equal(fill_utterance(m, codec, codes[0, 0, :5], prompt, nar_soft_temperature=1.0), wav)
    assert not torch.allclose(fill_utterance(m, codec, codes[0, 0, :5], prompt, nar_soft_temperature=3.0), wav)
    m.cfg.decode = "argmax"
    assert not torch.allclose(fill_utterance(m, codec, codes[0, 0, :5], prompt), wav)
    with pytest.raises(ValueError, match="expected soft or argmax"):
        _nar(decode="mean")


def test_cli_train_and_generate(tmp_path, token_manifests, tiny_codec, capsys):
    from dualtts.cli import main

    d = {"model": {"preset": "tiny", "hidden_size": 32, "num_layers": 1, "num_heads": 2},
         "train_manifest": str(token_manifests / "train" / "manifest.jsonl"), "val_manifest": str(token_manifests / "test" / "manifest.jsonl"),
         "batch_size": 4, "max_frames": 40,
         "train": {"out_dir": str(tmp_path / "run"), "max_steps": 2, "lr": 3e-3, "warmup_steps": 1, "log_every": 1, "val_every": 2, "save_every": 2}}
    (tmp_path / "nar.yaml").write_text(yaml.safe_dump(d))
    assert main(["train", "nar", "--config", str(tmp_path / "nar.yaml")]) == 0
    val = json.loads((tmp_path / "run" / "validation.jsonl").read_text().splitlines()[-1])
    assert val["step"] == 2 and val["loss"] > 0 and "acc/q4" in val
    ck = tmp_path / "run" / "checkpoints" / "step-2" / "nar"
    man = token_manifests / "test" / "manifest.jsonl"
    assert main(["flow-generate", "--flow", str(ck), "--tokenizer", f"dualcodec:{tiny_codec}", "--manifest", str(man),
                 "--out", str(tmp_path / "gen"), "--per-speaker", "1", "--prompt-seconds", "0.5"]) == 0
    assert len(list((tmp_path / "gen").glob("*.wav"))) >= 1
    summary = json.loads((tmp_path / "gen" / "summary.json").read_text())
    assert summary["acoustic_rtf"] > 0 and summary["nar_soft_temperature"] == 1.0


def test_init_from_a_nar_of_another_lm_width_keeps_all_but_the_states_projection(tmp_path, capsys):
    from dualtts.flow.nar_train import _init_from

    old = _nar(cond_dim=8)
    old.save_pretrained(tmp_path / "old")
    new = _init_from(str(tmp_path / "old"), 12)
    assert new.cfg.cond_dim == 12 and new.cond_proj.weight.shape == (32, 12)
    for k, v in old.state_dict().items():
        if not k.startswith("cond_proj."):
            assert torch.equal(v, new.state_dict()[k]), k
    assert "starts afresh" in capsys.readouterr().err
    same = _init_from(str(tmp_path / "old"), 8)
    assert torch.equal(same.cond_proj.weight, old.cond_proj.weight)
