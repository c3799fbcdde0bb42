"""Fewer host syncs per step (what a GPU waits on): the LM sampler (batched inverse-CDF draws from per-row seeded
streams, a look at "all rows ended" every k tokens, the head on the last position only), the quantizer's dead-code
restart, and the counter that checks them on a CPU (training.syncs)."""
import math

import pytest
import torch

from dualtts.lm.sampler import SamplingConfig, filter_logits, row_uniforms, sample_rows
from dualtts.training.syncs import HostSyncs

from test_lm import _items, _model


def _reference_generate(m, ph, prompt, seed, s: SamplingConfig, max_new, min_new):
    """One row, no KV cache, the whole sequence read again for every token; token t drawn with the t-th uniform of
    the row's generator by the inverse CDF (the sampler's documented draw, written out plainly)."""
    cfg, S = m.cfg, m.cfg.codebook_size
    u = torch.rand(max_new, generator=torch.Generator().manual_seed(seed))
    ids = torch.cat([torch.as_tensor(ph), torch.tensor([cfg.sep_id]), torch.as_tensor(prompt) + cfg.speech_offset]).long()
    hist, out = [int(t) for t in prompt][-s.repetition_window:], []
    for step in range(max_new):
        logits = m(ids[None])[0][0, -1].float()
        if step < min_new:
            logits[S] = -math.inf
        h = torch.tensor(([-1] * s.repetition_window + hist)[-s.repetition_window:])
        probs = filter_logits(logits[None], h[None], s).softmax(-1)[0]
        cdf = probs.cumsum(0)
        tok = int((cdf <= u[step] * cdf[-1]).sum())
        if tok == S:
            break
        out.append(tok)
        hist.append(tok)
        ids = torch.cat([ids, torch.tensor([tok + cfg.speech_offset])])
    return out


@torch.inference_mode()
def test_sampled_tokens_equal_a_plain_reference_for_each_seed():
    m = _model(seed=2).eval()
    items = _items(3, seed=5)
    ph = [p for p, _ in items]
    prompts = [items[0][1][:6], items[1][1][:0], items[2][1][:2]]  # left padding in the batch
    s = SamplingConfig(temperature=1.0, top_k=10, top_p=0.9, repetition_penalty=1.2, repetition_window=5)
    kw = dict(temperature=s.temperature, top_k=s.top_k, top_p=s.top_p, repetition_penalty=s.repetition_penalty,
              repetition_window=s.repetition_window, max_new_tokens=14, min_new_tokens=3)
    for sync_every in (1, 4):
        batched = m.generate(ph, prompts, seed=[11, 12, 13], sync_every=sync_every, **kw)
        for b in range(3):
            row = batched[b][batched[b] >= 0].tolist()
            assert row == _reference_generate(m, ph[b], prompts[b], 11 + b, s, 14, 3), (sync_every, b)


def test_inverse_cdf_draws_follow_the_distribution_and_skip_zero_mass():
    p = torch.tensor([0.1, 0.0, 0.45, 0.05, 0.4, 0.0])
    g = torch.Generator().manual_seed(0)
    n = 40000
    x = sample_rows(p.expand(n, -1), torch.rand(n, generator=g))
    freq = torch.bincount(x, minlength=6).float() / n
    assert freq[1] == 0 and freq[5] == 0
    assert (freq - p).abs().max() < 0.01, freq
    ref = torch.multinomial(p, n, replacement=True, generator=torch.Generator().manual_seed(1))  # the per-row op it replaces
    assert (freq - torch.bincount(ref, minlength=6).float() / n).abs().max() < 0.015
    edges = sample_rows(p.expand(3, -1) * 3.0, torch.tensor([0.0, 0.1 - 1e-6, 1 - 1e-7]))  # unnormalized rows, edge draws
    assert edges.tolist() == [0, 0, 4]
    # each row's stream is its own: a batch draws what each row draws alone
    gens = lambda *seeds: [torch.Generator().manual_seed(x) for x in seeds]
    assert torch.equal(row_uniforms(gens(3, 4, 5), 7, "cpu")[1], row_uniforms(gens(4), 7, "cpu")[0])


def test_repetition_penalty_marks_token_0_whatever_the_empty_slots():
    s = SamplingConfig(top_k=0, top_p=1.0, repetition_penalty=2.0)
    logits = torch.tensor([[1.0, 1.0, -1.0, 0.5]])
    out = filter_logits(logits, torch.tensor([[0, -1, -1, 2, -1]]), s)
    assert out.tolist() == [[0.5, 1.0, -2.0, 0.5]]


@torch.inference_mode()
def test_the_head_reads_only_the_last_position_when_asked():
    m = _model(seed=0).eval()
    ids = torch.randint(0, m.cfg.vocab_size, (2, 9))
    full, _ = m(ids)
    last, _ = m(ids, logits_to_keep=1)
    assert last.shape == (2, 1, full.shape[-1]) and torch.allclose(last[:, 0], full[:, -1], atol=1e-5)


@torch.inference_mode()
def test_generation_syncs_once_every_k_tokens():
    m = _model(seed=2).eval()
    items = _items(3, seed=5)
    ph = [p for p, _ in items]
    prompts = [items[0][1][:6], items[1][1][:0], items[2][1][:2]]  # padded: the decoding steps take a mask

    def syncs(n, k):
        with HostSyncs(all_devices=True) as s:
            out = m.generate(ph, prompts, seed=0, max_new_tokens=n, min_new_tokens=n, sync_every=k)
        assert out.shape == (3, n)
        return s.count, s.where

    (a, _), (b, where) = syncs(8, 8), syncs(40, 8)
    assert b - a <= (40 - 8) // 8, where  # per token: 1/k looks, nothing else (transformers' mask checks included)
    (c, _), (d, _) = syncs(8, 1), syncs(40, 1)
    assert d - c >= 30  # the counter does see the per-token look


def test_dead_code_restart_takes_no_host_sync_and_restarts_only_dead_codes():
    from dualtts.codec.quantizer import FactorizedVQ

    torch.manual_seed(0)
    vq = FactorizedVQ(8, 16, code_dim=4, dead_after=2).train()
    vq.codebook.weight.data[:] = torch.tensor([1.0, 0, 0, 0])  # collapsed: code 0 wins every frame
    vq.codebook.weight.data[0] += 0.1
    before = vq.codebook.weight.detach().clone()
    with HostSyncs(all_devices=True) as s:
        for _ in range(2):
            vq(torch.randn(2, 8, 6))
    assert s.count == 0, s.where
    after = vq.codebook.weight.detach()
    assert torch.equal(after[0], before[0])  # the used code is left alone
    assert not torch.equal(after[1:], before[1:]) and (vq.steps_unused[1:] == 0).all()
    assert torch.allclose(after[1:].norm(dim=-1), torch.ones(15), atol=1e-5)  # restarted on normalized encoder outputs


def test_codec_usage_is_read_in_one_sync(tiny_codec):
    from dualtts.codec.model import DualCodec

    codec = DualCodec.from_pretrained(tiny_codec)
    with HostSyncs(all_devices=True) as s:
        usage = codec.usage()
    assert s.count == 1 and len(usage) == len(codec.codebook_sizes)
    layers = [codec.semantic_vq, *codec.acoustic_rvq.layers]
    assert list(usage.values()) == pytest.approx([layer.perplexity_usage() for layer in layers])
