"""Best-of-N that costs little: the candidates' shared prompt is prefilled once (same tokens as without sharing), and
rounds that stop once the reader is satisfied give the full best-of-N when nothing is ever good enough."""
import torch

from dualtts.lm.config import get_lm_config
from dualtts.lm.model import SemanticLM
from dualtts.lm.reader import TokenReader, get_reader_config
from dualtts.lm.rerank import generate_best_of
from dualtts.lm.sampler import generate


def _models():
    torch.manual_seed(0)
    lm = SemanticLM(get_lm_config("tiny", num_phonemes=12, codebook_size=32, frame_rate=25.0, hidden_size=32, num_layers=2,
                                  num_heads=2)).eval()
    reader = TokenReader(get_reader_config("tiny", num_phonemes=12, codebook_size=32)).eval()
    return lm, reader


def _inputs():
    g = torch.Generator().manual_seed(1)
    ph = [torch.randint(1, 12, (9,), generator=g), torch.randint(1, 12, (6,), generator=g)]
    prompts = [torch.randint(0, 32, (7,), generator=g), torch.randint(0, 32, (4,), generator=g)]
    return ph, prompts, [p[-4:] for p in ph]


def test_shared_prefix_gives_the_same_tokens_as_separate_rows():
    lm, _ = _models()
    ph, prompts, _ = _inputs()
    rows = [ph[0]] * 3 + [ph[1]] * 2
    prm = [prompts[0]] * 3 + [prompts[1]] * 2
    kw = dict(seed=[4, 5, 6, 7, 8], max_new_tokens=12, text_cfg_scale=2.0)
    shared = generate(lm, rows, prm, **kw)
    plain = generate(lm, rows, prm, share_prefix=False, **kw)
    assert torch.equal(shared, plain)
    one = generate(lm, [rows[1]], [prm[1]], seed=[5], max_new_tokens=12, text_cfg_scale=2.0)[0]
    assert shared[1][shared[1] >= 0].tolist() == one[one >= 0].tolist()


def test_rounds_that_never_stop_early_equal_all_candidates_at_once():
    lm, reader = _models()
    ph, prompts, targets = _inputs()
    kw = dict(candidates=8, seed=3, max_new_tokens=10, return_scores=True)
    full, s_full = generate_best_of(lm, reader, ph, prompts, targets, **kw)
    rounds, s_rounds = generate_best_of(lm, reader, ph, prompts, targets, good_enough=-1.0, round_size=3, **kw)
    assert torch.equal(full, rounds) and torch.allclose(s_full, s_rounds)
    # a threshold every candidate meets stops after the first round: that round's best, i.e. best of the first 3
    first, _ = generate_best_of(lm, reader, ph, prompts, targets, good_enough=float("inf"), round_size=3, **kw)
    three, _ = generate_best_of(lm, reader, ph, prompts, targets, **(kw | {"candidates": 3}))
    assert torch.equal(first, three)


def test_set_default_picks_the_best_setting_that_meets_the_targets(tmp_path):
    """recipes/bench/set_default.py: of the settings meeting every target, the lowest held-out WER goes into
    bundle.json (rounds bring good_enough and round_size; a plain best-of-N drops them) and results.json; when none
    meets them nothing is written and it exits 1. e2e_tradeoff.sampling_of turns a row into Synthesizer settings."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]

    def load(name):
        spec = importlib.util.spec_from_file_location(name, root / "recipes" / "bench" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    sd, et = load("set_default"), load("e2e_tradeoff")
    rows = [{"setting": "best_of_1", "candidates": 1, "wer_held_out": 0.49, "rtf": 0.28, "ttfa_s": 0.7, "meets_targets": False},
            {"setting": "best_of_4", "candidates": 4, "wer_held_out": 0.39, "rtf": 0.34, "ttfa_s": 0.9, "meets_targets": True},
            {"setting": "rounds_2_good_1.5", "candidates": 16, "good_enough": 1.5, "round_size": 2, "wer_held_out": 0.38,
             "rtf": 0.43, "ttfa_s": 0.8, "meets_targets": True},
            {"setting": "best_of_16", "candidates": 16, "wer_held_out": 0.36, "rtf": 0.78, "ttfa_s": 1.8, "meets_targets": False}]
    assert et.sampling_of(rows[2]) == {"candidates": 16, "good_enough": 1.5, "round_size": 2}
    assert et.sampling_of(rows[1]) == {"candidates": 4}
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "bundle.json").write_text(json.dumps({"candidates": 16, "good_enough": 9.0, "round_size": 4}))
    (tmp_path / "results.json").write_text("{}")
    tr = tmp_path / "tradeoff.json"
    tr.write_text(json.dumps({"targets": {"rtf": 0.5}, "settings": rows}))
    assert sd.main(["--tradeoff", str(tr), "--model", str(tmp_path / "model"), "--results", str(tmp_path / "results.json")]) == 0
    b = json.loads((tmp_path / "model" / "bundle.json").read_text())
    assert (b["candidates"], b["good_enough"], b["round_size"]) == (16, 1.5, 2)
    assert json.loads((tmp_path / "results.json").read_text())["default_sampling"]["setting"] == "rounds_2_good_1.5"
    rows[2]["meets_targets"] = False
    tr.write_text(json.dumps({"targets": {"rtf": 0.5}, "settings": rows}))
    assert sd.main(["--tradeoff", str(tr), "--model", str(tmp_path / "model")]) == 0
    b = json.loads((tmp_path / "model" / "bundle.json").read_text())
    assert b["candidates"] == 4 and "good_enough" not in b and "round_size" not in b
    for r in rows:
        r["meets_targets"] = False
    tr.write_text(json.dumps({"targets": {"rtf": 0.5}, "settings": rows}))
    assert sd.main(["--tradeoff", str(tr), "--model", str(tmp_path / "model")]) == 1
    assert json.loads((tmp_path / "model" / "bundle.json").read_text())["candidates"] == 4
