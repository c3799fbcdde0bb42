"""Semantic LM: sequence layout, loss masking, learning, generation limits, batched == one by one, checkpoints."""
import copy
import json
import math

import numpy as np
import pytest
import torch
import yaml
from conftest import assert_resume_is_exact

from dualtts.lm.config import get_lm_config
from dualtts.lm.model import IGNORE, SemanticLM, collate, training_sequence

CFG = dict(num_phonemes=20, codebook_size=32, hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128)


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return SemanticLM(get_lm_config({**CFG, **kw}))


def _items(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randint(1, 20, (int(torch.randint(5, 10, (1,), generator=g)),), generator=g),
             torch.randint(0, 32, (int(torch.randint(8, 16, (1,), generator=g)),), generator=g)) for _ in range(n)]


def _overfit(model, items, steps=150):
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = collate(model.cfg, items)
    for _ in range(steps):
        loss = model.loss(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), float(loss.detach())


def test_sequence_layout_and_loss_mask():
    cfg = get_lm_config(CFG)
    ph, tok = torch.tensor([3, 4, 5]), torch.tensor([0, 7, 31])
    ids, labels = training_sequence(cfg, ph, tok)
    # [phonemes] [sep] [speech tokens shifted past the phoneme table and sep] [eos]
    assert ids.tolist() == [3, 4, 5, cfg.sep_id, 21, 28, 52, cfg.eos_id]
    # labels[i] = head index of ids[i+1] on speech/eos targets only: sep predicts the first token, the last token eos
    assert labels.tolist() == [IGNORE, IGNORE, IGNORE, 0, 7, 31, 32, IGNORE]
    batch = collate(cfg, [(ph, tok), (ph[:1], tok[:1])])
    assert batch["ids"].shape == (2, 8) and batch["attention_mask"][1].tolist() == [1] * 4 + [0] * 4
    assert (batch["labels"][1] != IGNORE).sum() == 2  # one token + eos; padding is never a target
    with pytest.raises(ValueError, match="speech token outside"):
        training_sequence(cfg, ph, torch.tensor([32]))
    with pytest.raises(ValueError, match="phoneme id outside"):
        training_sequence(cfg, torch.tensor([20]), tok)


def test_padding_does_not_change_the_loss_of_an_utterance():
    m = _model().eval()
    items = _items(2)
    alone = m.loss(collate(m.cfg, items[:1]))["loss"]
    # loss over a batch = token-weighted mean; recompute utterance 0's share with the other one masked out
    batch = collate(m.cfg, items)
    batch["labels"][1] = IGNORE
    assert torch.allclose(m.loss(batch)["loss"], alone, atol=1e-5)


def test_overfits_a_handful_and_generates_it_back():
    m, loss = _overfit(_model(), _items(4))
    assert loss < 0.05
    items = _items(4)
    ph, tok = items[0]
    out = m.generate([ph], [tok[:3]], greedy=True)
    assert out[0].tolist() == tok[3:].tolist()  # the continuation, then eos
    assert m.loss(collate(m.cfg, items))["acc"] > 0.99


def test_generation_respects_max_and_min_length():
    m, _ = _overfit(_model(), _items(4))
    ph, tok = _items(4)[0]
    assert m.generate([ph], [tok[:3]], greedy=True, max_new_tokens=4).shape[1] == 4
    n = len(tok) - 3
    longer = m.generate([ph], [tok[:3]], greedy=True, min_new_tokens=n + 3)
    assert longer.shape[1] >= n + 3  # eos is masked until the minimum
    # default maximum tied to the phoneme count: an untrained model cannot babble past it
    u = _model(seed=1).eval()
    out = u.generate([ph], [tok[:0]], seed=0, min_new_tokens=10**6)
    assert out.shape[1] == math.ceil(u.cfg.max_tokens_per_phoneme * len(ph) + 5)


def test_batched_generation_equals_one_by_one():
    m = _model(seed=2).eval()
    items = _items(3, seed=5)
    ph = [p for p, _ in items]
    prompts = [items[0][1][:6], items[1][1][:0], items[2][1][:2]]  # different prompt lengths, one empty
    kw = dict(seed=7, temperature=1.0, top_k=10, top_p=0.9, repetition_penalty=1.2, max_new_tokens=12)
    batched = m.generate(ph, prompts, **kw)
    for b in range(3):
        alone = m.generate([ph[b]], [prompts[b]], **kw)[0]
        row = batched[b][batched[b] >= 0]
        assert row.tolist() == alone[alone >= 0].tolist()
    assert m.generate(ph, prompts, **kw).tolist() == batched.tolist()  # seeded: reproducible
    assert m.generate(ph, prompts, **{**kw, "seed": 8}).tolist() != batched.tolist()
    with pytest.raises(TypeError, match="unknown sampling option"):
        m.generate(ph, prompts, top_z=3)


def test_save_load_round_trip(tmp_path, manifests):
    from dualtts.data.text import SymbolTable

    sym = SymbolTable.load(manifests / "symbols.json")
    m = _model(num_phonemes=len(sym))
    m.save_pretrained(tmp_path / "lm", symbols=sym)
    assert yaml.safe_load((tmp_path / "lm" / "config.yaml").read_text())["codebook_size"] == 32
    r = SemanticLM.from_pretrained(tmp_path / "lm")
    ids = torch.randint(0, m.cfg.vocab_size, (2, 9))
    assert torch.equal(m.eval()(ids)[0], r(ids)[0])
    assert r.symbols().symbols == sym.symbols
    with pytest.raises(FileNotFoundError, match="semantic LM checkpoint not found"):
        SemanticLM.from_pretrained(tmp_path / "nope")


def _train_yaml(tmp_path, token_manifests, manifests, out, **train):
    d = {"model": {"preset": "tiny", "hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64},
         "train_manifest": str(token_manifests / "train" / "manifest.jsonl"),
         "val_manifest": str(token_manifests / "test" / "manifest.jsonl"), "symbols": str(manifests / "symbols.json"),
         "batch_size": 4, "train": {"out_dir": str(out), "max_steps": 4, "lr": 3e-3, "warmup_steps": 1, "log_every": 1,
                                    "val_every": 0, "save_every": 2, **train}}
    p = tmp_path / f"{out.name}.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def test_training_lowers_the_loss_and_resumes_exactly(tmp_path, token_manifests, manifests):
    from dualtts.lm.train import LMTask, load_lm_train_config
    from dualtts.training.loop import Trainer

    cfg = load_lm_train_config(_train_yaml(tmp_path, token_manifests, manifests, tmp_path / "fixed", max_steps=100))
    task = LMTask(cfg)
    assert task.lm.cfg.codebook_size == 64 and task.lm.cfg.frame_rate == 25.0  # from tokenizer.json
    trainer = Trainer(cfg.train, task)
    batch = next(iter(task.train_loader(0, 0)))
    losses = [task.train_step(batch, trainer.update, i)["loss"] for i in range(30)]
    assert losses[-1] < 0.7 * losses[0], losses

    assert_resume_is_exact(load_lm_train_config, LMTask, lambda name, **kw: _train_yaml(tmp_path, token_manifests, manifests, tmp_path / name, **kw))


def test_cli_train_validate_and_generate(tmp_path, token_manifests, manifests, tiny_codec, capsys):
    from dualtts.cli import main

    cfg = _train_yaml(tmp_path, token_manifests, manifests, tmp_path / "cli", max_steps=2, val_every=2)
    assert main(["train", "lm", "--config", str(cfg)]) == 0
    val = [json.loads(x) for x in (tmp_path / "cli" / "validation.jsonl").read_text().splitlines()]
    assert val[-1]["step"] == 2 and 0 <= val[-1]["acc"] <= 1 and val[-1]["loss"] > 0
    ck = tmp_path / "cli" / "checkpoints" / "step-2" / "lm"
    capsys.readouterr()
    assert main(["lm-generate", "--lm", str(ck), "--tokenizer", f"dualcodec:{tiny_codec}", "--out", str(tmp_path / "gen"),
                 "--manifest", str(token_manifests / "test" / "manifest.jsonl"), "--per-speaker", "2", "--seed", "1"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["pairs"] == 2 and summary["lm_rtf"] > 0
    wavs = sorted((tmp_path / "gen").glob("*.wav"))
    for w in wavs:
        import soundfile as sf

        n = len(np.load(w.with_suffix(".npy")))
        assert sf.info(str(w)).frames == n * 960  # semantic-only decode of the generated tokens, 25 Hz


def test_best_checkpoint_is_kept(tmp_path, token_manifests, manifests):
    from dualtts.lm.train import LMTask, load_lm_train_config
    from dualtts.training.loop import Trainer

    cfg = load_lm_train_config(_train_yaml(tmp_path, token_manifests, manifests, tmp_path / "best", max_steps=6, val_every=2,
                                           save_every=0, best_metric="loss", keep_checkpoints=1))
    Trainer(cfg.train, LMTask(cfg)).fit(resume=False)
    root = tmp_path / "best" / "checkpoints"
    val = [json.loads(x) for x in (tmp_path / "best" / "validation.jsonl").read_text().splitlines()]
    best = min(val, key=lambda r: r["loss"])
    assert json.loads((root / "best.json").read_text())["step"] == best["step"]
    assert json.loads((root / "best" / "state.json").read_text())["step"] == best["step"]
    assert SemanticLM.from_pretrained(root / "best" / "lm") is not None


def test_int8_and_bf16_weights_generate_and_stay_close():
    from dualtts.lm.model import quantize_for_cpu

    m, _ = _overfit(_model(), _items(4))
    ph, tok = _items(4)[0]
    ids = training_sequence(m.cfg, ph, tok)[0][None]
    ref = m(ids)[0]
    for mode in ("int8", "bf16"):
        q = quantize_for_cpu(copy.deepcopy(m), mode)
        logits = q(ids)[0].float()
        assert (logits.argmax(-1) == ref.argmax(-1)).float().mean() > 0.9, mode
        assert q.generate([ph], [tok[:3]], greedy=True)[0].tolist() == tok[3:].tolist(), mode
    with pytest.raises(ValueError, match="quantize"):
        quantize_for_cpu(m, "int4")


def test_accelerate_launch_two_cpu_processes_with_best_checkpoint(tmp_path, token_manifests, manifests):
    from conftest import accelerate_launch

    cfg = _train_yaml(tmp_path, token_manifests, manifests, tmp_path / "ddp", max_steps=4, val_every=2, save_every=0,
                      best_metric="loss")
    r = accelerate_launch("train", "lm", "--config", str(cfg))
    assert r.returncode == 0, r.stderr[-3000:]
    root = tmp_path / "ddp" / "checkpoints"
    assert (root / "step-4" / "lm" / "model.safetensors").is_file() and (root / "best" / "lm" / "model.safetensors").is_file()
    assert len((tmp_path / "ddp" / "validation.jsonl").read_text().splitlines()) == 2  # written once, by the main process


def test_speech_states_are_causal_aligned_and_batch_independent():
    """The flow's content condition: one state per speech token, reading only the text and tokens up to it."""
    m = _model().eval()
    (ph, tok), (ph2, tok2) = _items(2)
    s = m.speech_states([ph], [tok])[0]
    assert s.shape == (len(tok), CFG["hidden_size"]) and s.dtype == torch.float32
    assert torch.allclose(m.speech_states([ph], [tok[:5]])[0], s[:5], atol=1e-5)  # causal: a prefix keeps its states
    changed = tok.clone()
    changed[7] = (changed[7] + 1) % 32
    s2 = m.speech_states([ph], [changed])[0]
    assert torch.allclose(s2[:7], s[:7], atol=1e-5) and not torch.allclose(s2[7], s[7])
    other_text = m.speech_states([ph2], [tok])[0]
    assert not torch.allclose(other_text, s)  # the text is read
    both = m.speech_states([ph, ph2], [tok, tok2])  # right padding does not leak into the shorter row
    assert torch.allclose(both[0], s, atol=1e-5) and torch.allclose(both[1], m.speech_states([ph2], [tok2])[0], atol=1e-5)


def test_min_prompt_rate_holds_eos_until_the_prompts_speaking_rate():
    m, _ = _overfit(_model(), _items(4))
    ph, tok = _items(4)[0]
    n = len(tok) - 3
    assert m.generate([ph], [tok[:3]], greedy=True).shape[1] == n  # learned to stop after its own tokens
    n_target = len(ph) - 2  # the prompt: 3 tokens for its 2 phonemes, 1.5 tokens per phoneme
    rate = (n + 4.5) / (1.5 * n_target)  # predicts n + 4 tokens
    out = m.generate([ph], [tok[:3]], greedy=True, target_phonemes=[n_target], min_prompt_rate=rate, max_new_tokens=n + 10)
    assert out.shape[1] >= n + 4


def test_nan_loss_steps_are_skipped_counted_and_repeated_ones_stop_training(tmp_path, token_manifests, manifests):
    """A NaN loss (injected into the real LM task on chosen steps) leaves the weights alone and is counted; too many
    in a row stop training with one clear message."""
    from dualtts.lm.train import LMTask, load_lm_train_config
    from dualtts.training.loop import Trainer

    class Poisoned(LMTask):
        bad_steps: set = set()

        def train_step(self, batch, update, step):
            if step in self.bad_steps:
                return super().train_step(batch, lambda name, loss: update(name, loss * float("nan")), step)
            return super().train_step(batch, update, step)

    cfg = load_lm_train_config(_train_yaml(tmp_path, token_manifests, manifests, tmp_path / "nan", max_steps=6, log_every=1))
    task = Poisoned(cfg)
    Poisoned.bad_steps = {2, 3}
    trainer = Trainer(cfg.train, task)
    before = {k: v.clone() for k, v in task.lm.state_dict().items()}
    trainer.fit(resume=False, until=2)
    after_good = {k: v.clone() for k, v in task.lm.state_dict().items()}
    assert any(not torch.equal(before[k], after_good[k]) for k in before)
    trainer.fit(resume=False, until=4)  # steps 3 and 4 (indices 2, 3) are NaN: no change
    assert all(torch.equal(after_good[k], v) for k, v in task.lm.state_dict().items())
    out = trainer.fit(resume=False)
    assert out["history"][-1]["skipped_steps"] == 2 and all(torch.isfinite(v).all() for v in task.lm.state_dict().values())
    Poisoned.bad_steps = set(range(100))
    cfg = load_lm_train_config(_train_yaml(tmp_path, token_manifests, manifests, tmp_path / "nan2", max_steps=20, max_bad_steps=3))
    with pytest.raises(RuntimeError, match="NaN/inf 3 steps in a row"):
        Trainer(cfg.train, Poisoned(cfg)).fit(resume=False)


def test_kill9_mid_run_then_resume_continues_the_same_curve(tmp_path, token_manifests, manifests):
    from conftest import assert_kill9_resume_is_exact

    assert_kill9_resume_is_exact("lm", lambda name, **kw: _train_yaml(tmp_path, token_manifests, manifests, tmp_path / name, **kw))


def test_text_dropout_is_seeded_by_epoch_and_index(tmp_path, token_manifests, manifests):
    from dualtts.data.text import SymbolTable
    from dualtts.lm.train import TextDropout, TokenDataset

    base = TokenDataset(token_manifests / "train" / "manifest.jsonl", SymbolTable.load(manifests / "symbols.json"))
    drops = lambda seed, epoch: [len(TextDropout(base, 0.5, seed, epoch)[i][0]) == 0 for i in range(len(base))]
    a = drops(0, 0)
    assert a == drops(0, 0) and a != drops(0, 1) and 0 < sum(a) < len(a)
    assert all(torch.equal(TextDropout(base, 0.5, 0, 0)[i][1], base[i][1]) for i in range(len(base)))  # tokens kept
    assert not any(len(TextDropout(base, 0.0, 0, 0)[i][0]) == 0 for i in range(len(base)))


def test_text_guidance_mixes_the_text_and_no_text_rows():
    m = _model().eval()
    ph, pr = [torch.tensor([3, 4, 5, 6]), torch.tensor([7, 8])], [torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6, 7])]
    kw = dict(seed=2, target_phonemes=[4, 2], min_new_tokens=6, max_new_tokens=6)
    with torch.inference_mode():
        plain = m.generate(ph, pr, **kw)
        assert torch.equal(m.generate(ph, pr, text_cfg_scale=1.0, **kw), plain)
        # scale 0: only the rows without text count -> what the LM samples when given no text at all
        no_text = m.generate([p[:0] for p in ph], pr, **kw)
        assert torch.equal(m.generate(ph, pr, text_cfg_scale=0.0, **kw), no_text)
        guided = m.generate(ph, pr, text_cfg_scale=3.0, **kw)
    assert guided.shape == plain.shape and not torch.equal(guided, plain)
    m.cfg.text_cfg_scale = 0.0  # the config's default guidance, overridable per call
    with torch.inference_mode():
        assert torch.equal(m.generate(ph, pr, **kw), no_text)
        assert torch.equal(m.generate(ph, pr, text_cfg_scale=1.0, **kw), plain)
