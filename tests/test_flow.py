"""Flow stage: the flow-matching loss and its masks, infilling, CFG, the ODE sampler, learning, checkpoints, CLI."""
import json

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from conftest import assert_resume_is_exact

from dualtts.flow.config import get_flow_config
from dualtts.flow.infer import fill_utterance, split_latent
from dualtts.flow.model import AcousticFlow
from dualtts.flow.sampler import time_grid
from dualtts.flow.train import flow_matching_loss

D, S = 16, 24


def _flow(seed=0, **kw):
    torch.manual_seed(seed)
    f = AcousticFlow(get_flow_config("tiny", latent_dim=D, codebook_size=S, hidden_size=32, num_layers=2, num_heads=2, **kw))
    for p in f.out.parameters():  # a non-zero output layer, so untrained velocities are not all zero
        torch.nn.init.normal_(p, std=0.1)
    return f


def _data(B=2, F=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, S, (B, F), generator=g), torch.randn(B, D, F, generator=g), torch.randn(B, F, D, generator=g)


def test_loss_ignores_padding_and_the_prompt_span():
    f = _flow().eval()
    tokens, sem, x1 = _data()
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1, 12:] = False
    t = torch.tensor([0.3, 0.6])
    loss = lambda x, f=f: float(flow_matching_loss(f, tokens, sem, x, mask, torch.Generator().manual_seed(1), t=t, train=False)["loss"].detach())
    ref = loss(x1)
    x2 = x1.clone()
    x2[1, 12:] += 5.0  # padding frames: neither attended to nor scored
    assert loss(x2) == pytest.approx(ref, rel=1e-5)
    x3 = x1.clone()
    x3[0, -1] += 5.0  # a scored frame of row 0 changes the loss
    assert loss(x3) != pytest.approx(ref, rel=1e-3)
    all_prompt = _flow(prompt_min=1.0, prompt_max=1.0).eval()
    assert loss(x1, all_prompt) == 0.0  # frames given as the prompt are never scored


def test_sampling_shapes_keeps_the_prompt_and_solvers():
    f = _flow().eval()
    tokens, sem, x1 = _data()
    prompt = torch.randn(2, D, 20)
    for method in ("euler", "midpoint"):
        out = f.sample(tokens, sem, prompt, [5, 0], steps=4, method=method)
        assert out.shape == (2, D, 20) and torch.isfinite(out).all()
        assert torch.allclose(out[0, :, :5], prompt[0, :, :5], atol=1e-5)  # the prompt region comes back clean
        assert not torch.allclose(out[1, :, :5], prompt[1, :, :5], atol=1e-3)  # no prompt in row 1
    with pytest.raises(ValueError, match="steps"):
        f.sample(tokens, sem, steps=0)
    g = time_grid(16)
    assert g[0] == 0 and abs(float(g[-1]) - 1) < 1e-6 and (g.diff() > 0).all()
    assert float(g[1]) < 1 / 16  # sway -1 spends more steps near t = 0


def test_cfg_scale_mixes_conditional_and_unconditional():
    f = _flow().eval()
    tokens, sem, _ = _data(B=1)
    cond = f.sample(tokens, sem, steps=3, cfg_scale=1.0, sway=None)
    uncond = f.sample(torch.full_like(tokens, S), torch.zeros_like(sem), steps=3, cfg_scale=1.0, sway=None)
    assert torch.allclose(f.sample(tokens, sem, steps=3, cfg_scale=0.0, sway=None), uncond, atol=1e-4)
    assert not torch.allclose(cond, uncond, atol=1e-3)
    # one Euler step is linear in the guided velocity: cfg 2 = 2 cond - uncond
    c1, u1 = (f.sample(tk, sm, steps=1, cfg_scale=1.0, sway=None) for tk, sm in ((tokens, sem), (torch.full_like(tokens, S), torch.zeros_like(sem))))
    assert torch.allclose(f.sample(tokens, sem, steps=1, cfg_scale=2.0, sway=None), 2 * c1 - u1, atol=1e-4)


def test_overfits_a_few_utterances():
    f = _flow(seed=1)
    for p in f.out.parameters():
        torch.nn.init.zeros_(p)
    tokens, sem, x1 = _data(B=2, F=16, seed=3)
    mask = torch.ones(2, 16, dtype=torch.bool)
    opt = torch.optim.AdamW(f.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(300):
        loss = flow_matching_loss(f, tokens, sem, x1, mask, g)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    f.eval()
    out = f.sample(tokens, sem, steps=16, cfg_scale=1.0)  # no prompt: the condition alone brings back each utterance
    err = (f.normalize(out) - x1).abs().mean()
    assert err < 0.5 * x1.abs().mean(), float(err)


def test_save_load_round_trip(tmp_path):
    f = _flow().eval()
    f.latent_mean.fill_(0.5)
    f.latent_std.fill_(2.0)
    f.save_pretrained(tmp_path / "flow")
    r = AcousticFlow.from_pretrained(tmp_path / "flow")
    tokens, sem, _ = _data()
    assert torch.equal(f.sample(tokens, sem, steps=2), r.sample(tokens, sem, steps=2))
    assert float(r.latent_std[0]) == 2.0
    with pytest.raises(FileNotFoundError, match="flow checkpoint not found"):
        AcousticFlow.from_pretrained(tmp_path / "missing")


def _train_yaml(tmp_path, token_manifests, tiny_codec, out, **train):
    d = {"model": {"preset": "tiny", "hidden_size": 32, "num_layers": 1, "num_heads": 2}, "tokenizer": f"dualcodec:{tiny_codec}",
         "train_manifest": str(token_manifests / "train" / "manifest.jsonl"), "val_manifest": str(token_manifests / "test" / "manifest.jsonl"),
         "batch_size": 4, "max_frames": 40, "val_utterances": 1, "val_steps": 2,
         "train": {"out_dir": str(out), "max_steps": 4, "lr": 3e-3, "warmup_steps": 1, "log_every": 1, "val_every": 0, "save_every": 2, **train}}
    p = tmp_path / f"{out.name}.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def test_training_lowers_the_loss_and_resumes_exactly(tmp_path, token_manifests, tiny_codec):
    from dualtts.flow.train import FlowTask, load_flow_train_config
    from dualtts.training.loop import Trainer

    cfg = load_flow_train_config(_train_yaml(tmp_path, token_manifests, tiny_codec, tmp_path / "fixed", max_steps=100))
    task = FlowTask(cfg)
    assert task.flow.cfg.latent_dim == 32 and task.flow.cfg.codebook_size == 64
    assert float(task.flow.latent_std.mean()) != 1.0  # statistics of the training latents
    trainer = Trainer(cfg.train, task)
    batch = next(iter(task.train_loader(0, 0)))
    torch.manual_seed(0)
    losses = [task.train_step(batch, trainer.update, i)["loss"] for i in range(40)]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses

    assert_resume_is_exact(load_flow_train_config, FlowTask, lambda name, **kw: _train_yaml(tmp_path, token_manifests, tiny_codec, tmp_path / name, **kw))


def test_cli_train_validate_and_generate(tmp_path, token_manifests, tiny_codec, capsys):
    from dualtts.cli import main

    cfg = _train_yaml(tmp_path, token_manifests, tiny_codec, tmp_path / "cli", max_steps=2, val_every=2)
    assert main(["train", "flow", "--config", str(cfg)]) == 0
    val = json.loads((tmp_path / "cli" / "validation.jsonl").read_text().splitlines()[-1])
    assert val["step"] == 2 and val["loss"] > 0 and val["mel"] > 0
    ck = tmp_path / "cli" / "checkpoints" / "step-2" / "flow"
    man = token_manifests / "test" / "manifest.jsonl"
    for extra in ([], ["--as-codes", "--method", "midpoint", "--steps", "2"]):
        out = tmp_path / ("gen" + str(len(extra)))
        assert main(["flow-generate", "--flow", str(ck), "--tokenizer", f"dualcodec:{tiny_codec}", "--manifest", str(man),
                     "--out", str(out), "--per-speaker", "2", "--prompt-seconds", "0.5", *extra]) == 0
        rows = {json.loads(x)["id"]: json.loads(x) for x in man.read_text().splitlines()}
        wavs = sorted(out.glob("*.wav"))
        assert len(wavs) == 2
        for w in wavs:  # the target's own length, at the codec's rate
            assert sf.info(str(w)).frames == round(rows[w.stem]["duration"] * 24000)


def test_fill_utterance_with_a_prompt(tiny_codec):
    from dualtts.codec.model import DualCodec

    codec = DualCodec.from_pretrained(tiny_codec)
    f = AcousticFlow(get_flow_config("tiny", latent_dim=32, codebook_size=64, hidden_size=32, num_layers=1, num_heads=2)).eval()
    prompt = torch.stack([torch.randint(0, s, (30,)) for s in codec.codebook_sizes])
    wav = fill_utterance(f, codec, torch.randint(0, 64, (10,)), prompt, prompt_seconds=0.4, steps=2)
    assert wav.shape == (1, 1, 10 * 960)
    sem, ac = split_latent(codec, prompt[None])
    assert torch.allclose(sem + ac, codec.embed(prompt[None]))


def test_synthesize_cli_end_to_end_and_bad_prompt(tmp_path, tiny_codec, manifests, speech_dir, capsys):
    """Text + prompt wav -> wav through LM, flow and codec (tiny random models): a file of whole frames, or one error line."""
    from conftest import TEXT_A
    from dualtts.data.text import SymbolTable
    from dualtts.cli import main
    from dualtts.synthesizer import split_sentences
    from dualtts.lm.config import get_lm_config
    from dualtts.lm.model import SemanticLM

    sym = SymbolTable.load(manifests / "symbols.json")
    torch.manual_seed(0)
    SemanticLM(get_lm_config("tiny", num_phonemes=len(sym), codebook_size=64, frame_rate=25.0, hidden_size=32, num_layers=1,
                             num_heads=2)).save_pretrained(tmp_path / "lm", symbols=sym)
    AcousticFlow(get_flow_config("tiny", latent_dim=32, codebook_size=64, hidden_size=32, num_layers=1, num_heads=2)).save_pretrained(tmp_path / "flow")
    args = ["synthesize", "--lm", str(tmp_path / "lm"), "--flow", str(tmp_path / "flow"), "--tokenizer", f"dualcodec:{tiny_codec}",
            "--prompt-text", TEXT_A, "--text", "Hello there. How are you?", "--steps", "2"]
    assert main([*args, "--prompt", str(speech_dir / "male_a.wav"), "--out", str(tmp_path / "out.wav")]) == 0
    info = sf.info(str(tmp_path / "out.wav"))
    assert info.samplerate == 24000 and info.frames > 0
    capsys.readouterr()
    assert main([*args, "--prompt", str(tmp_path / "missing.wav"), "--out", str(tmp_path / "bad.wav")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.wav" in err[0] and not (tmp_path / "bad.wav").exists()
    assert split_sentences("One. Two! " + "x " * 150) == ["One.", "Two!", ("x " * 100).strip(), ("x " * 50).strip()]


def _model_folder(root, tiny_codec, manifests, cond_dim: int = 0, speech_dir=None):
    """codec/ lm/ flow/ of tiny random models (a flow reading the LM's states with ``cond_dim`` = the LM width),
    and the default voice when ``speech_dir`` is given."""
    import shutil

    from conftest import TEXT_A
    from dualtts.data.text import SymbolTable
    from dualtts.lm.config import get_lm_config
    from dualtts.lm.model import SemanticLM

    sym = SymbolTable.load(manifests / "symbols.json")
    torch.manual_seed(0)
    SemanticLM(get_lm_config("tiny", num_phonemes=len(sym), codebook_size=64, frame_rate=25.0, hidden_size=32, num_layers=1,
                             num_heads=2)).save_pretrained(root / "lm", symbols=sym)
    AcousticFlow(get_flow_config("tiny", latent_dim=32, codebook_size=64, hidden_size=32, num_layers=1, num_heads=2,
                                 cond_dim=cond_dim)).save_pretrained(root / "flow")
    shutil.copytree(tiny_codec, root / "codec")
    if speech_dir is not None:
        shutil.copy(speech_dir / "male_a.wav", root / "prompt.wav")
        (root / "prompt.txt").write_text(TEXT_A + "\n")
    return root


def test_stream_batch_and_a_flow_that_reads_the_lm(tmp_path, tiny_codec, manifests, speech_dir, capsys):
    """synthesize_stream's chunks join into __call__'s output (ttfa reported); --stream grows a file; --batch writes
    one wav per item and reports bad items without stopping."""
    from dualtts.cli import main
    from dualtts.synthesizer import Synthesizer

    root = _model_folder(tmp_path / "model", tiny_codec, manifests, cond_dim=32, speech_dir=speech_dir)
    tts = Synthesizer.from_pretrained(root)
    text = "Hello there. How are you today?"
    chunks = list(tts.synthesize_stream(text, steps=2, max_new_tokens=20))
    assert len(chunks) == 2 and tts.stats["ttfa_s"] <= tts.stats["wall_s"]
    whole = tts(text, steps=2, max_new_tokens=20)
    assert np.array_equal(np.concatenate(chunks), whole) and tts.stats["seconds"] == round(len(whole) / 24000, 3)
    assert main(["synthesize", "--model", str(root), "--text", text, "--steps", "2", "--stream", "--out", str(tmp_path / "s.wav")]) == 0
    assert sf.info(str(tmp_path / "s.wav")).frames > 0 and "chunk 2" in capsys.readouterr().err
    items = tmp_path / "items.jsonl"
    items.write_text('{"text": "One sentence."}\n{"id": "b", "text": "Another one.", "seed": 3}\n{"id": "bad", "text": "  "}\n')
    assert main(["synthesize", "--model", str(root), "--batch", str(items), "--out-dir", str(tmp_path / "many"), "--steps", "2"]) == 1
    assert sorted(p.name for p in (tmp_path / "many").glob("*.wav")) == ["0001.wav", "b.wav"]
    assert "item bad: " in capsys.readouterr().err
    items.write_text('{"text": "x"}\n{"text": "y", "id": "0001"}\n')
    assert main(["synthesize", "--model", str(root), "--batch", str(items), "--out-dir", str(tmp_path / "x")]) == 2
    assert "duplicated id '0001'" in capsys.readouterr().err


def test_model_folder_with_default_voice(tmp_path, tiny_codec, manifests, speech_dir, capsys):
    """A folder with codec/ lm/ flow/ + prompt.wav/prompt.txt: `dualtts synthesize --model DIR --text ...` needs no other flag."""
    import shutil

    from conftest import TEXT_A
    from dualtts.cli import main
    from dualtts.synthesizer import Synthesizer

    root = _model_folder(tmp_path / "model", tiny_codec, manifests)
    with pytest.raises(ValueError, match="no prompt given"):
        Synthesizer.from_pretrained(root)("Hello.")
    shutil.copy(speech_dir / "male_a.wav", root / "prompt.wav")
    (root / "prompt.txt").write_text(TEXT_A + "\n")
    wav = Synthesizer.from_pretrained(str(root))("Hello there.", steps=2, max_new_tokens=30)
    assert wav.ndim == 1 and len(wav) % 960 == 0 and 0 < len(wav) <= 30 * 960
    assert main(["synthesize", "--model", str(root), "--text", "Hello there.", "--steps", "2", "--out", str(tmp_path / "o.wav")]) == 0
    assert sf.info(str(tmp_path / "o.wav")).frames > 0
    capsys.readouterr()
    tts = Synthesizer.from_pretrained(root)
    assert len(tts("Hello.", prompt=str(speech_dir / "female_b.wav"), steps=2, max_new_tokens=10)) > 0  # no transcript given
    heard = capsys.readouterr().err
    assert "female_b.wav: no transcript given; the ASR heard" in heard and "weather" in heard.lower()
    with pytest.raises(FileNotFoundError, match="not a DualTTS model folder"):
        Synthesizer.from_pretrained(root / "codec")
    with pytest.raises(ValueError, match="all three"):
        Synthesizer.from_pretrained(lm=str(root / "lm"))


def test_lm_states_condition_the_flow():
    f = _flow(cond_dim=8).eval()
    tokens, sem, x1 = _data()
    t, pm = torch.full((2,), 0.5), torch.zeros(2, 20, dtype=torch.bool)
    with pytest.raises(ValueError, match="conditioned on the semantic LM's states"):
        f(x1, t, tokens, sem.transpose(1, 2), x1, pm)
    cond = torch.randn(2, 20, 8)
    v = f(x1, t, tokens, sem.transpose(1, 2), x1, pm, cond=cond)
    assert not torch.allclose(v, f(x1, t, tokens, sem.transpose(1, 2), x1, pm, cond=torch.zeros_like(cond)))
    loss = flow_matching_loss(f.train(), tokens, sem, x1, torch.ones(2, 20, dtype=torch.bool), cond=cond)["loss"]
    loss.backward()
    assert f.cond_proj.weight.grad.abs().sum() > 0


def test_cli_lm_states_train_and_generate_with_a_conditioned_flow(tmp_path, token_manifests, manifests, tiny_codec, capsys):
    """dualtts lm-states -> a flow trained on them (cond_dim from the states) -> flow-generate needs and uses --lm."""
    from dualtts.data.text import SymbolTable
    from dualtts.cli import main
    from dualtts.lm.config import get_lm_config
    from dualtts.lm.model import SemanticLM

    sym = SymbolTable.load(manifests / "symbols.json")
    torch.manual_seed(0)
    SemanticLM(get_lm_config("tiny", num_phonemes=len(sym), codebook_size=64, frame_rate=25.0, hidden_size=24, num_layers=1,
                             num_heads=2)).save_pretrained(tmp_path / "lm", symbols=sym)
    for split in ("train", "test"):
        assert main(["lm-states", "--lm", str(tmp_path / "lm"), "--manifest", str(token_manifests / split / "manifest.jsonl"),
                     "--out", str(tmp_path / "states")]) == 0
    rows = [json.loads(x) for x in (token_manifests / "test" / "manifest.jsonl").read_text().splitlines()]
    x = np.load(tmp_path / "states" / f"{rows[0]['id']}.npy")
    assert x.dtype == np.float16 and x.shape == (np.load(token_manifests / "test" / rows[0]["codes"]).shape[1], 24)
    cfg = _train_yaml(tmp_path, token_manifests, tiny_codec, tmp_path / "cond", max_steps=2, val_every=2)
    d = yaml.safe_load(cfg.read_text())
    d["lm_states"] = str(tmp_path / "states")
    cfg.write_text(yaml.safe_dump(d))
    assert main(["train", "flow", "--config", str(cfg)]) == 0
    ck = tmp_path / "cond" / "checkpoints" / "step-2" / "flow"
    assert AcousticFlow.from_pretrained(ck).cfg.cond_dim == 24
    args = ["flow-generate", "--flow", str(ck), "--tokenizer", f"dualcodec:{tiny_codec}", "--per-speaker", "1",
            "--manifest", str(token_manifests / "test" / "manifest.jsonl"), "--steps", "2", "--prompt-seconds", "0.5"]
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "nolm")]) == 2
    assert "give the LM (--lm)" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "gen"), "--lm", str(tmp_path / "lm")]) == 0
    assert len(list((tmp_path / "gen").glob("*.wav"))) >= 1


def test_kill9_mid_run_then_resume_continues_the_same_curve(tmp_path, token_manifests, tiny_codec):
    from conftest import assert_kill9_resume_is_exact

    assert_kill9_resume_is_exact("flow", lambda name, **kw: _train_yaml(tmp_path, token_manifests, tiny_codec, tmp_path / name, **kw))


@pytest.mark.parametrize("weights,min_snr", [("bf16", 15.0), ("int8", 15.0)])
def test_reduced_precision_weights_sample_close_to_fp32(weights, min_snr):
    tokens, sem, x1 = _data()
    f = _flow().eval()
    with torch.inference_mode():
        ref = f.sample(tokens, sem, x1.transpose(1, 2), [5, 5], steps=4)
        x = _flow().eval().for_inference(weights).sample(tokens, sem, x1.transpose(1, 2), [5, 5], steps=4).float()
    assert x.shape == ref.shape and x.dtype == torch.float32
    snr = 10 * torch.log10(ref.pow(2).mean() / (x - ref).pow(2).mean())
    assert snr > min_snr, snr
    assert not torch.equal(x, ref)  # it did run at another precision
    with pytest.raises(ValueError, match="expected fp32, bf16 or int8"):
        _flow().for_inference("fp8")
