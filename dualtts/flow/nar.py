"""A VALL-E style non-autoregressive acoustic stage: first-layer tokens (+ a voice prompt's codes, + the
semantic LM's states) -> the acoustic RVQ codes, one pass per layer. The discrete alternative to the flow
(:mod:`flow.model`) behind the same interface (:func:`flow.infer.fill_utterance`).

To predict layer ``l`` (2..Q) every frame reads the sum of the embeddings of its known layers: the first
layer and layers 2..l-1 everywhere, and all layers on the prompt's frames; plus the LM's state at the frame
(``cond_dim`` > 0). A transformer whose LayerNorms are modulated by the layer index (the flow's block with
the layer in place of the flow time) scores the layer's codebook with a head per layer. Training: a random
layer per utterance, cross-entropy on the non-prompt frames. Inference: layers 2..Q in turn, argmax
(or sampling at ``temperature`` > 0); with ``soft`` the distributions are returned too, so that the decoder
can read the expected code vectors (``decode: soft``) instead of one guessed code per layer.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dualtts.data.checkpoint import DictConfig, Pretrained, preset_config
from dualtts.flow.model import Block


@dataclass
class NARConfig(DictConfig):
    WHAT = "NAR"

    stage: str = "nar"               # marks the checkpoint as a NAR acoustic stage (flow.load_acoustic_stage)
    codebook_size: int = 16384       # first layer (semantic)
    acoustic_codebook_size: int = 4096
    num_quantizers: int = 8          # all layers, the first included
    frame_rate: float = 12.5
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    dropout: float = 0.1
    cond_dim: int = 0                # the semantic LM's states (dualtts lm-states); 0 = none
    prompt_min: float = 0.1          # the prompt span during training: a prefix of this fraction...
    prompt_max: float = 0.7          # ...up to this fraction of the frames
    prompt_dropout: float = 0.1      # no prompt at all
    # inference: "soft": the decoder reads each layer's expected code vector under the predicted distribution
    # (a tokenizer with ``embed_acoustic_probs``, i.e. DualCodec; argmax elsewhere), or "argmax": one code per layer.
    # Soft keeps more of the words (recipes/mini/speak_experiments.md: true tokens 0.644 WER against 0.733)
    decode: str = "soft"
    # the LM's states projected onto the codec's latent and added to what the decoder reads (width of that latent;
    # 0 = none). Trained with the decoder (``dualtts train decoder`` with ``state_adapter: true``): the text reaches
    # the waveform directly instead of only through the expected code vectors (recipes/mini/speak_experiments.md)
    decoder_cond: int = 0


NAR_PRESETS: dict[str, dict] = {
    "tiny": dict(hidden_size=256, num_layers=4, num_heads=4),
    "base": dict(hidden_size=1024, num_layers=12, num_heads=16),  # the reference NAR's width
}


def get_nar_config(spec: str | dict, defaults: dict | None = None, **overrides) -> NARConfig:
    return preset_config(NARConfig, NAR_PRESETS, spec, "NAR", defaults, **overrides)


class AcousticNAR(Pretrained, nn.Module):
    WHAT = "NAR"
    predicts_codes = True

    def __init__(self, cfg: NARConfig):
        super().__init__()
        if cfg.decode not in ("soft", "argmax"):
            raise ValueError(f"NAR decode {cfg.decode!r}: expected soft or argmax")
        self.cfg = cfg
        H, A, Q = cfg.hidden_size, cfg.acoustic_codebook_size, cfg.num_quantizers
        self.sem_embed = nn.Embedding(cfg.codebook_size, H)
        self.ac_embed = nn.ModuleList(nn.Embedding(A, H) for _ in range(Q - 1))
        self.prompt_flag = nn.Embedding(2, H)
        self.layer_embed = nn.Embedding(Q, H)
        self.cond_proj = nn.Linear(cfg.cond_dim, H) if cfg.cond_dim else None
        self.blocks = nn.ModuleList(Block(H, cfg.num_heads, cfg.mlp_ratio, cfg.dropout) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(H)
        self.heads = nn.ModuleList(nn.Linear(H, A) for _ in range(Q - 1))
        self.latent_cond = None
        if cfg.decoder_cond:
            if not cfg.cond_dim:
                raise ValueError("NAR decoder_cond projects the LM's states: it needs cond_dim > 0")
            self.latent_cond = nn.Linear(cfg.cond_dim, cfg.decoder_cond)
            nn.init.zeros_(self.latent_cond.weight)   # starts as no change to the decoder's input
            nn.init.zeros_(self.latent_cond.bias)

    @classmethod
    def config_from_folder(cls, path: Path) -> NARConfig:
        return get_nar_config(str(path))

    @property
    def device(self) -> torch.device:
        return self.sem_embed.weight.device

    def forward(self, codes: torch.Tensor, layer: torch.Tensor, prompt_mask: torch.Tensor, key_mask: torch.Tensor | None = None,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[B, F, A]`` of acoustic layer ``layer[b]`` (1..Q-1, i.e. RVQ layer 2..Q) of each row.

        codes: [B, Q', F] (Q' >= the layers read; unknown entries are ignored); layer: [B] long;
        prompt_mask: [B, F] bool (all layers read there); key_mask: [B, F] True on real frames; cond: [B, F, C].
        """
        B, _, Fn = codes.shape
        h = self.sem_embed(codes[:, 0]) + self.prompt_flag(prompt_mask.long())
        for k in range(1, codes.shape[1]):
            use = (k < layer)[:, None] | prompt_mask                        # layers below the target, or the prompt
            h = h + self.ac_embed[k - 1](codes[:, k]) * use[..., None].to(h.dtype)
        if self.cond_proj is not None:
            if cond is None:
                raise ValueError(f"this NAR is conditioned on the semantic LM's states (cond_dim={self.cfg.cond_dim}): pass cond")
            h = h + self.cond_proj(cond.to(h.dtype))
        lemb = self.layer_embed(layer)
        for blk in self.blocks:
            h = blk(h, lemb, key_mask)
        h = self.norm(h)
        W = torch.stack([hd.weight for hd in self.heads])[layer - 1]       # [B, A, H]
        b = torch.stack([hd.bias for hd in self.heads])[layer - 1]         # [B, A]
        return torch.einsum("bfh,bah->bfa", h, W) + b[:, None]

    def rebuilt(self, fresh: str, **overrides) -> "AcousticNAR":
        """A NAR of this config with ``overrides``, holding this one's weights except those under ``fresh`` (a
        parameter prefix), which start as a new model's."""
        new = AcousticNAR(get_nar_config(self.cfg.to_dict(), **overrides))
        state = {k: v for k, v in self.state_dict().items() if not k.startswith(fresh)}
        missing, unexpected = new.load_state_dict(state, strict=False)
        assert not unexpected and all(k.startswith(fresh) for k in missing), (missing, unexpected)
        new.checkpoint_dir = getattr(self, "checkpoint_dir", None)
        return new

    def latent_offset(self, cond: torch.Tensor) -> torch.Tensor | None:
        """cond [B, F, C] (the LM's states on the decoded frames) -> the decoder input's offset ``[B, D, F]``, or None
        without ``decoder_cond``."""
        if self.latent_cond is None:
            return None
        return self.latent_cond(cond.to(self.latent_cond.weight.dtype)).transpose(1, 2)

    def loss(self, codes: torch.Tensor, mask: torch.Tensor, cond=None, generator=None, layer=None, train: bool = True) -> dict:
        """codes [B, Q, F]; mask [B, F] real frames -> cross-entropy and top-1 on the non-prompt frames of a
        random layer per row (or ``layer`` [B])."""
        cfg, B, _, Fn = self.cfg, *codes.shape
        dev = codes.device
        u = lambda *s: torch.rand(*s, generator=generator).to(dev)
        if layer is None:
            layer = torch.randint(1, cfg.num_quantizers, (B,), generator=generator).to(dev)
        frac = cfg.prompt_min + (cfg.prompt_max - cfg.prompt_min) * u(B)
        plen = (frac * mask.sum(1)).long()
        if train:
            plen = torch.where(u(B) < cfg.prompt_dropout, torch.zeros_like(plen), plen)
        pmask = torch.arange(Fn, device=dev)[None] < plen[:, None]
        logits = self(codes, layer, pmask, mask, cond)
        target = codes.gather(1, layer.view(B, 1, 1).expand(B, 1, Fn))[:, 0]
        keep = mask & ~pmask
        ce = F.cross_entropy(logits[keep].float(), target[keep])
        acc = (logits[keep].argmax(-1) == target[keep]).float().mean()
        return {"loss": ce, "acc": acc.detach()}

    def adapted(self, prompt_codes: torch.Tensor, cond: torch.Tensor | None = None, steps: int = 20, lr: float = 1e-4,
                batch_size: int = 8, seed: int = 0) -> "AcousticNAR":
        """A copy fine-tuned on one voice prompt (test-time adaptation): ``steps`` Adam steps of the training loss on
        the prompt's own codes, ``prompt_codes [Q, Fp]`` (all layers), a random prefix of it as the prompt and a
        random layer per row, ``batch_size`` rows a step (``cond [Fp, C]``: the LM's states on the prompt). Uses
        nothing but the prompt, so it stays zero-shot; ``self`` is left as it is."""
        import copy

        with torch.inference_mode(False), torch.enable_grad():
            nar = copy.deepcopy(self).eval()                  # eval: no attention dropout on so few frames
            codes = prompt_codes.clone()[None].expand(batch_size, -1, -1).to(self.device)
            mask = torch.ones(batch_size, codes.shape[-1], dtype=torch.bool, device=self.device)
            c = None if cond is None else cond.clone().float()[None].expand(batch_size, -1, -1).to(self.device)
            opt = torch.optim.Adam([p for p in nar.parameters() if p.requires_grad], lr=lr)
            g = torch.Generator().manual_seed(seed)
            for _ in range(steps):
                loss = nar.loss(codes, mask, c, generator=g, train=False)["loss"]
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return nar

    @torch.inference_mode()
    def sample(self, codes: torch.Tensor, prompt_len, cond: torch.Tensor | None = None, temperature: float = 0.0,
               seed: int = 0, soft: bool = False, key_mask: torch.Tensor | None = None, soft_temperature=1.0):
        """codes [B, Q, F]: the first layer everywhere and all layers on each row's first ``prompt_len`` frames
        (an int, or [B] long) -> the same with layers 2..Q filled in on the other frames (and with ``soft``, the
        predicted distributions ``probs [B, Q-1, F, A]``, one-hot on the prompt's frames: ``(codes, probs)``).
        ``key_mask [B, F]``: True on real frames (rows of different lengths); ``cond [B, F, C]``;
        ``soft_temperature`` (a float or [B]) flattens the returned distributions (not the codes)."""
        codes = codes.clone()
        probs = []
        B, _, Fn = codes.shape
        plen = torch.as_tensor(prompt_len, device=codes.device).view(-1, 1)
        pmask = torch.arange(Fn, device=codes.device)[None] < plen                  # [B or 1, F]
        pmask = pmask.expand(B, Fn)
        g = torch.Generator(device=codes.device).manual_seed(seed)
        soft_t = torch.as_tensor(soft_temperature, device=codes.device).view(-1, 1, 1)
        for j in range(1, self.cfg.num_quantizers):
            logits = self(codes, torch.full((B,), j, device=codes.device), pmask, key_mask, cond).float()  # [B, F, A]
            if temperature > 0:
                p = (logits / temperature).softmax(-1)
                pred = torch.multinomial(p.flatten(0, 1), 1, generator=g).view(B, Fn)
            else:
                pred = logits.argmax(-1)
            codes[:, j] = torch.where(pmask, codes[:, j], pred)
            if soft:
                p = (logits / soft_t).softmax(-1)
                p[pmask] = F.one_hot(codes[:, j][pmask], p.shape[-1]).to(p.dtype)
                probs.append(p)
        return (codes, torch.stack(probs, 1)) if soft else codes
