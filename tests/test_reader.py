"""Token reader (CTC phonemes from first-layer tokens) and best-of-N LM sampling: it learns to read, it ranks
the tokens that say the text above ones that do not, best-of-1 is plain sampling, and the CLI trains it and
uses it."""
import json

import numpy as np
import pytest
import torch

from dualtts.data.manifest import tokenizer_info
from dualtts.data.text import SymbolTable
from dualtts.lm.config import get_lm_config
from dualtts.lm.model import SemanticLM
from dualtts.lm.reader import TokenReader, get_reader_config, phoneme_error_rate
from dualtts.lm.rerank import generate_best_of

P, S = 12, 40  # phonemes (ids 0..3 are specials, 4 is a word boundary), codebook


def _reader(seed=0):
    torch.manual_seed(seed)
    return TokenReader(get_reader_config("test", num_phonemes=P, codebook_size=S, hidden_size=48, skip_ids=[0, 1, 2, 3, 4]))


def _utterance(g):
    """Phonemes 5..11 with word boundaries; each says 2-3 tokens drawn from its own three (a 'codebook' of sounds)."""
    ph = torch.randint(5, P, (int(torch.randint(4, 9, (1,), generator=g)),), generator=g)
    ph = torch.cat([ph[:3], torch.tensor([4]), ph[3:]])
    toks = []
    for p in ph.tolist():
        if p != 4:
            toks += [(p - 5) * 3 + int(torch.randint(0, 3, (1,), generator=g)) for _ in range(int(torch.randint(2, 4, (1,), generator=g)))]
    return ph, torch.tensor(toks)


def _train(reader, items, steps=250):
    opt = torch.optim.AdamW(reader.parameters(), lr=3e-3)
    batch = reader.batch([t for _, t in items], [p for p, _ in items])
    losses = []
    for _ in range(steps):
        loss = reader.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return reader.eval(), losses


def test_learns_to_read_and_ranks_the_right_tokens_first():
    g = torch.Generator().manual_seed(0)
    items = [_utterance(g) for _ in range(32)]
    reader, losses = _train(_reader(), items)
    assert losses[-1] < 0.2 * losses[0]
    held = [_utterance(g) for _ in range(8)]  # unseen utterances of the same 'sounds'
    refs = [reader.targets(p).tolist() for p, _ in held]
    assert all(4 not in r for r in refs)  # word boundaries are not targets
    assert phoneme_error_rate(reader.read([t for _, t in held]), refs) < 0.15
    # each utterance's own tokens read its phonemes better than another utterance's tokens, or a truncated copy
    own = reader.score([t for _, t in held], [p for p, _ in held])
    other = reader.score([held[(i + 1) % 8][1] for i in range(8)], [p for p, _ in held])
    cut = reader.score([t[: len(t) // 2] for _, t in held], [p for p, _ in held])
    assert bool((own < other).all()) and bool((own < cut).all())
    assert torch.isinf(reader.score([torch.zeros(0, dtype=torch.long)], [held[0][0]]))[0]


def test_phoneme_error_rate():
    assert phoneme_error_rate([[1, 2, 3]], [[1, 2, 3]]) == 0
    assert phoneme_error_rate([[1, 3]], [[1, 2, 3]]) == pytest.approx(1 / 3)
    assert phoneme_error_rate([[4, 5, 6, 7]], [[1, 2]]) == pytest.approx(4 / 2)


def test_best_of_one_is_plain_sampling_and_best_of_n_keeps_the_best_candidate():
    torch.manual_seed(0)
    lm = SemanticLM(get_lm_config(dict(num_phonemes=P, codebook_size=S, hidden_size=32, num_layers=1, num_heads=2,
                                       intermediate_size=64))).eval()
    reader = _reader(1).eval()
    ph = [torch.tensor([5, 6, 4, 7, 8, 9]), torch.tensor([10, 11, 4, 5])]
    prompts = [torch.tensor([1, 2, 3]), torch.tensor([4, 5])]
    targets = [[7, 8, 9], [5]]
    with torch.inference_mode():
        plain = lm.generate(ph, prompts, seed=3, target_phonemes=[3, 1])
    one = generate_best_of(lm, reader, ph, prompts, targets, candidates=1, seed=3, target_phonemes=[3, 1])
    assert torch.equal(plain, one)
    best, scores = generate_best_of(lm, reader, ph, prompts, targets, candidates=3, seed=3, target_phonemes=[3, 1],
                                    return_scores=True)
    for b in range(2):  # the chosen row is the candidate with the lowest score among seeds 3, 4, 5
        cands = [lm.generate([ph[b]], [prompts[b]], seed=3 + k, target_phonemes=[len(targets[b])])[0] for k in range(3)]
        cands = [c[c >= 0] for c in cands]
        s = reader.score(cands, [targets[b]] * 3)
        k = int(s.argmin())
        assert torch.equal(best[b][best[b] >= 0], cands[k]) and float(scores[b]) == pytest.approx(float(s[k]))
    with pytest.raises(ValueError, match="at least 1"):
        generate_best_of(lm, reader, ph, prompts, targets, candidates=0)


def test_cli_trains_a_reader_and_lm_generate_uses_it(tmp_path, token_manifests, manifests, tiny_codec, capsys):
    import yaml

    from dualtts.cli import main

    cfg = tmp_path / "reader.yaml"
    cfg.write_text(yaml.safe_dump({
        "model": "test", "train_manifest": str(token_manifests / "train" / "manifest.jsonl"),
        "val_manifest": str(token_manifests / "test" / "manifest.jsonl"), "symbols": str(manifests / "symbols.json"),
        "batch_size": 4, "train": {"out_dir": str(tmp_path / "reader"), "max_steps": 2, "val_every": 2, "save_every": 2,
                                   "warmup_steps": 1}}))
    assert main(["train", "reader", "--config", str(cfg)]) == 0
    val = [json.loads(x) for x in (tmp_path / "reader" / "validation.jsonl").read_text().splitlines()]
    assert val[-1]["step"] == 2 and val[-1]["loss"] > 0 and 0 <= val[-1]["per"]
    ck = tmp_path / "reader" / "checkpoints" / "step-2" / "reader"
    reader = TokenReader.from_pretrained(ck)
    info = tokenizer_info(token_manifests / "train" / "manifest.jsonl")
    symbols = SymbolTable.load(manifests / "symbols.json")
    assert reader.cfg.codebook_size == info["codebook_sizes"][0] and reader.cfg.num_phonemes == len(symbols)
    assert symbols.symbols.index(" ") in reader.cfg.skip_ids  # word boundaries are not read
    lm = SemanticLM(get_lm_config("tiny", num_phonemes=len(symbols), codebook_size=reader.cfg.codebook_size,
                                  frame_rate=info["frame_rate"]))
    lm_dir = lm.save_pretrained(tmp_path / "lm", symbols=symbols)
    capsys.readouterr()
    args = ["lm-generate", "--lm", str(lm_dir), "--tokenizer", f"dualcodec:{tiny_codec}", "--out", str(tmp_path / "gen"),
            "--manifest", str(token_manifests / "test" / "manifest.jsonl"), "--per-speaker", "1"]
    assert main(args + ["--reader", str(ck), "--candidates", "3"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["candidates"] == 3 and summary["pairs"] >= 1
    assert all(len(np.load(f)) > 0 for f in (tmp_path / "gen").glob("*.npy"))
    with pytest.raises(SystemExit, match="needs --reader"):
        main(args + ["--candidates", "3"])
