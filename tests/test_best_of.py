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
