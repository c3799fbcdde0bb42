"""The published DualCodec TTS NAR (``amphion/dualcodec-tts``: ``dualcodec_valle_nar_12hzv1.safetensors``) on our
stack: the first-layer codes of prompt + target and the prompt's acoustic codes -> the target's acoustic codes
(DualCodec 12.5 Hz: layer 1 semantic, 16384 entries; layers 2..8 acoustic, 4096 entries), one pass per layer.

The layout (state-dict keys as published; sizes of ``conf_tts/model/valle_nar/valle_nar.yaml``)::

    phone_embedder.weight              [11, H]      the text slot: id 0 is the one used (phone vocabulary of 1)
    prompt_embedder.embeddings.0/1..7  [16384, H] / [4096, H]   one table per layer, summed per frame
    model.model.embed_cond.weight      [8, H]       the target layer l (1..7; row 0 unused)
    model.model.layers.N.…             Llama blocks: q/k/v/o_proj, gate/up/down_proj, whose two RMSNorms are
                                       adaptive: scale = Linear(H, H)(embed_cond[l]) (``….to_weight``, with bias)
    model.model.norm.to_weight         the final norm, adaptive likewise
    model.lm_head.0..6.weight          [4107, H]    layer l is read by head l-1; codes are argmax over [0, 4096)
    model.model.embed_tokens.weight    [4107, H]    held for the layout, never read (inputs come as embeddings)

To predict layer l (1..7, 0-based) the sequence is ``[text slot] + prompt frames + target frames`` with
positions 0, 1, 2, ... (RoPE), full bidirectional attention: a prompt frame is the sum of its 8 layers'
embeddings, a target frame the sum of layers 0..l-1. The reference's inference fills layers 1..7 in turn,
greedily; no text is read (its text slot is always phone id 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dualtts.data.checkpoint import DictConfig, preset_config
from dualtts.data.published import Published

NAR_FILE = "dualcodec_valle_nar_12hzv1.safetensors"


@dataclass
class ReferenceNARConfig(DictConfig):
    WHAT = "reference NAR"

    stage: str = "nar"
    codebook_size: int = 16384          # layer 1 (semantic)
    acoustic_codebook_size: int = 4096  # layers 2..8
    num_quantizers: int = 8
    phone_vocab_size: int = 1           # the text slot's vocabulary (the published NAR: 1, i.e. no text)
    num_special: int = 10
    hidden_size: int = 1024
    num_layers: int = 12
    num_heads: int = 16
    intermediate_size: int = 4096
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    frame_rate: float = 12.5
    cond_dim: int = 0                   # flow.infer.fill_utterance: reads no LM states
    decode: str = "argmax"              # or "soft": the decoder reads expected code vectors (flow.infer)

    @property
    def head_size(self) -> int:
        """Output entries per head: the Llama config's vocab (phone + acoustic + specials); codes are the first A."""
        return self.phone_vocab_size + self.acoustic_codebook_size + self.num_special


NAR_PRESETS: dict[str, dict] = {
    "published": {},
    "tiny": dict(hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64),  # tests (real codebooks)
}


def get_reference_nar_config(spec: str | dict = "published", **overrides) -> ReferenceNARConfig:
    return preset_config(ReferenceNARConfig, NAR_PRESETS, spec, "reference NAR", None, **overrides)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE on x [B, heads, L, d] with cos/sin [L, d] (halves rotated, Llama's convention)."""
    a, b = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-b, a], -1) * sin


class AdaptiveRMSNorm(nn.Module):
    """RMS-normalize x [B, L, H] (fp32 statistics) and scale by ``to_weight(c)``, c [H] the layer embedding."""

    def __init__(self, hidden: int, eps: float):
        super().__init__()
        self.to_weight = nn.Linear(hidden, hidden)
        self.eps = eps

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return (self.to_weight(c) * h).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(hidden, hidden, bias=False) for _ in range(4))

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x [B, L, H] -> [B, L, H], every position reading every position."""
        B, L, H = x.shape
        q, k, v = (p(x).view(B, L, self.heads, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        y = F.scaled_dot_product_attention(_rotate(q, cos, sin), _rotate(k, cos, sin), v)
        return self.o_proj(y.transpose(1, 2).reshape(B, L, H))


class MLP(nn.Module):
    def __init__(self, hidden: int, inner: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, inner, bias=False)
        self.up_proj = nn.Linear(hidden, inner, bias=False)
        self.down_proj = nn.Linear(inner, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    """A pre-norm Llama block whose norms are scaled by the target layer's embedding."""

    def __init__(self, cfg: ReferenceNARConfig):
        super().__init__()
        H = cfg.hidden_size
        self.self_attn = Attention(H, cfg.num_heads)
        self.mlp = MLP(H, cfg.intermediate_size)
        self.input_layernorm = AdaptiveRMSNorm(H, cfg.rms_norm_eps)
        self.post_attention_layernorm = AdaptiveRMSNorm(H, cfg.rms_norm_eps)

    def forward(self, x, c, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x, c), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x, c))


class Backbone(nn.Module):
    def __init__(self, cfg: ReferenceNARConfig):
        super().__init__()
        H = cfg.hidden_size
        self.embed_tokens = nn.Embedding(cfg.head_size, H)  # unused (published layout)
        self.embed_cond = nn.Embedding(cfg.num_quantizers, H)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.num_layers))
        self.norm = AdaptiveRMSNorm(H, cfg.rms_norm_eps)
        d = H // cfg.num_heads
        self.register_buffer("inv_freq", 1.0 / cfg.rope_theta ** (torch.arange(0, d, 2).float() / d), persistent=False)

    def forward(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        """x [B, L, H] input embeddings, layer 1..Q-1 -> final hidden states [B, L, H]."""
        c = self.embed_cond(torch.tensor(layer, device=x.device))
        freqs = torch.arange(x.shape[1], device=x.device).float()[:, None] * self.inv_freq.float()[None]
        ang = torch.cat([freqs, freqs], -1)
        cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
        for blk in self.layers:
            x = blk(x, c, cos, sin)
        return self.norm(x, c)


class _Core(nn.Module):  # the published ``model.`` prefix: ``model.model`` (backbone) and ``model.lm_head``
    def __init__(self, cfg: ReferenceNARConfig):
        super().__init__()
        self.model = Backbone(cfg)
        self.lm_head = nn.ModuleList(nn.Linear(cfg.hidden_size, cfg.head_size, bias=False)
                                     for _ in range(cfg.num_quantizers - 1))


class _LayerTables(nn.Module):  # the published ``prompt_embedder.embeddings.N``
    def __init__(self, cfg: ReferenceNARConfig):
        super().__init__()
        sizes = [cfg.codebook_size] + [cfg.acoustic_codebook_size] * (cfg.num_quantizers - 1)
        self.embeddings = nn.ModuleList(nn.Embedding(n, cfg.hidden_size) for n in sizes)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, q, F] (layers 0..q-1) -> the sum of their embeddings [B, F, H]."""
        return sum(self.embeddings[k](codes[:, k]) for k in range(codes.shape[1]))


class ReferenceNAR(Published, nn.Module):
    WHAT = "reference NAR"
    get_config = staticmethod(get_reference_nar_config)
    PUBLISHED_FILE = NAR_FILE
    predicts_codes = True  # flow.infer.fill_utterance: fills codes layer by layer

    def __init__(self, cfg: ReferenceNARConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg if cfg is not None else ReferenceNARConfig()
        self.phone_embedder = nn.Embedding(cfg.phone_vocab_size + cfg.num_special, cfg.hidden_size)
        self.prompt_embedder = _LayerTables(cfg)
        self.model = _Core(cfg)

    @property
    def device(self) -> torch.device:
        return self.phone_embedder.weight.device

    def forward(self, codes: torch.Tensor, layer: int, prompt_len: int) -> torch.Tensor:
        """Logits ``[B, 1 + F, head_size]`` (text slot, then every frame) for code layer ``layer`` (1..Q-1).

        codes: [B, Q, F]: all layers on the first ``prompt_len`` frames, layers 0..layer-1 on the rest (the
        others are not read)."""
        Q = self.cfg.num_quantizers
        if not 1 <= layer < Q:
            raise ValueError(f"layer {layer}: this NAR predicts layers 1..{Q - 1}")
        if codes.shape[1] < Q and prompt_len:
            raise ValueError(f"codes have {codes.shape[1]} layers; the prompt's frames need all {Q}")
        B = codes.shape[0]
        slot = self.phone_embedder.weight[:1].expand(B, 1, -1)
        prompt = self.prompt_embedder(codes[:, :Q, :prompt_len])
        target = self.prompt_embedder(codes[:, :layer, prompt_len:])
        h = self.model.model(torch.cat([slot, prompt.to(slot.dtype), target.to(slot.dtype)], 1), layer)
        return self.model.lm_head[layer - 1](h)

    @torch.inference_mode()
    def sample(self, codes: torch.Tensor, prompt_len: int, cond: torch.Tensor | None = None, temperature: float = 0.0,
               seed: int = 0, soft: bool = False):
        """codes [1, Q, F]: the first layer everywhere and all layers on the first ``prompt_len`` frames -> the
        same with layers 2..Q filled in on the other frames, argmax per layer (the reference), or sampled at
        ``temperature`` > 0; with ``soft`` also the distributions ``probs [1, Q-1, F, A]`` (one-hot on the
        prompt's frames): ``(codes, probs)``. ``cond`` must be None (this NAR reads no LM states)."""
        if cond is not None:
            raise ValueError("the reference NAR reads no LM states (cond_dim 0): pass cond=None")
        codes, A = codes.clone(), self.cfg.acoustic_codebook_size
        g = torch.Generator(device=codes.device).manual_seed(seed)
        probs = []
        for j in range(1, self.cfg.num_quantizers):
            logits = self(codes, j, prompt_len)[:, 1 + prompt_len:, :A].float()  # [B, Ft, A]
            if temperature > 0:
                p = (logits / temperature).softmax(-1)
                pred = torch.multinomial(p.flatten(0, 1), 1, generator=g).view(p.shape[:2])
            else:
                pred = logits.argmax(-1)
            codes[:, j, prompt_len:] = pred
            if soft:
                head = F.one_hot(codes[:, j, :prompt_len], A).to(logits.dtype)
                probs.append(torch.cat([head, logits.softmax(-1)], 1))
        return (codes, torch.stack(probs, 1)) if soft else codes
