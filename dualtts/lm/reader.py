"""A phoneme reader over first-layer tokens: which phonemes does a token sequence say? (CTC)

The semantic LM samples tokens; some samples say the text, many mumble or skip words. The reader is a small
CTC recogniser from first-layer tokens to phonemes, trained on the true tokens of the TTS corpus
(``dualtts train reader``). :func:`lm.rerank.generate_best_of` samples N candidates per sentence and keeps the
one the reader finds closest to the text (lowest CTC loss per phoneme): best-of-N decoding for intelligibility,
decided inside the pipeline, without an external ASR.

Layout: token embedding -> ``conv_layers`` residual 1-D convolutions (local context, and the only position
information) -> ``num_layers`` transformer encoder layers -> phoneme logits ``[B, F, P + 1]`` (blank = P).
Word boundaries, punctuation and stress marks (``skip_symbols``) are not targets: they have no reliable sound.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dualtts.data.checkpoint import DictConfig, Pretrained, preset_config
from dualtts.data.text import PUNCTUATION, SymbolTable

SKIP_SYMBOLS = " ˈˌ" + PUNCTUATION


@dataclass
class ReaderConfig(DictConfig):
    WHAT = "token reader"

    num_phonemes: int = 128          # the LM's phoneme table (ids [0, P)); the CTC blank is P
    codebook_size: int = 1024        # first-layer codebook of the tokenizer
    hidden_size: int = 192
    conv_layers: int = 2
    kernel_size: int = 5
    num_layers: int = 3
    num_heads: int = 4
    dropout: float = 0.1
    skip_ids: list[int] = field(default_factory=list)  # phoneme ids that are not CTC targets (spaces, punctuation, stress)


PRESETS: dict[str, dict] = {
    "tiny": dict(hidden_size=192, conv_layers=2, num_layers=3, num_heads=4),
    "test": dict(hidden_size=32, conv_layers=1, num_layers=1, num_heads=2),
}


def get_reader_config(spec: str | dict, defaults: dict | None = None, **overrides) -> ReaderConfig:
    return preset_config(ReaderConfig, PRESETS, spec, "token reader", defaults, **overrides)


def skip_ids(symbols: SymbolTable) -> list[int]:
    """The table's ids that carry no sound of their own (specials, word boundaries, punctuation, stress)."""
    return [i for i, s in enumerate(symbols.symbols) if i < 4 or s in SKIP_SYMBOLS]


class TokenReader(Pretrained, nn.Module):
    WHAT = "token reader"

    def __init__(self, cfg: ReaderConfig):
        super().__init__()
        self.cfg = cfg
        H = cfg.hidden_size
        self.embed = nn.Embedding(cfg.codebook_size + 1, H)  # the last row pads
        self.convs = nn.ModuleList(nn.Sequential(nn.Conv1d(H, H, cfg.kernel_size, padding=cfg.kernel_size // 2), nn.GELU(),
                                                 nn.Dropout(cfg.dropout)) for _ in range(cfg.conv_layers))
        layer = nn.TransformerEncoderLayer(H, cfg.num_heads, 4 * H, cfg.dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(H)
        self.head = nn.Linear(H, cfg.num_phonemes + 1)
        self.register_buffer("keep", self._keep_table(), persistent=False)

    def _keep_table(self) -> torch.Tensor:
        keep = torch.ones(self.cfg.num_phonemes, dtype=torch.bool)
        keep[[i for i in self.cfg.skip_ids if 0 <= i < self.cfg.num_phonemes]] = False
        return keep

    @property
    def device(self) -> torch.device:
        return self.embed.weight.device

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """tokens: [B, F] (padding any value), mask: [B, F] bool (True = a token) -> log-probs [B, F, P + 1]."""
        x = self.embed(torch.where(mask, tokens.clamp(0, self.cfg.codebook_size - 1), self.cfg.codebook_size))
        m = mask[..., None].to(x.dtype)
        for conv in self.convs:
            x = x + conv((x * m).transpose(1, 2)).transpose(1, 2)
        x = self.encoder(x * m, src_key_padding_mask=~mask)
        return self.head(self.norm(x)).float().log_softmax(-1)

    def targets(self, phonemes) -> torch.Tensor:
        """phonemes: [Lp] ids -> the CTC targets (sounding symbols only) [L]."""
        p = torch.as_tensor(phonemes, dtype=torch.long, device=self.keep.device)
        return p[self.keep[p.clamp(0, self.cfg.num_phonemes - 1)] & (p >= 0) & (p < self.cfg.num_phonemes)]

    def batch(self, tokens: list, phonemes: list) -> dict[str, torch.Tensor]:
        """Lists of token rows [F_b] and phoneme ids [Lp_b] -> padded tensors on the reader's device."""
        toks = [torch.as_tensor(t, dtype=torch.long).reshape(-1) for t in tokens]
        tgts = [self.targets(p).cpu() for p in phonemes]
        F_ = max(1, max(len(t) for t in toks))
        L = max(1, max(len(t) for t in tgts))
        out = {"tokens": torch.zeros(len(toks), F_, dtype=torch.long), "mask": torch.zeros(len(toks), F_, dtype=torch.bool),
               "targets": torch.zeros(len(toks), L, dtype=torch.long),
               "token_lengths": torch.tensor([len(t) for t in toks]), "target_lengths": torch.tensor([len(t) for t in tgts])}
        for b, (t, y) in enumerate(zip(toks, tgts)):
            out["tokens"][b, :len(t)], out["mask"][b, :len(t)], out["targets"][b, :len(y)] = t, True, y
        return {k: v.to(self.device) for k, v in out.items()}

    def ctc(self, batch: dict[str, torch.Tensor], zero_infinity: bool = False) -> torch.Tensor:
        """Per-utterance CTC loss [B] (nats, summed over frames; an impossible alignment: inf, or 0 with
        ``zero_infinity``, which also zeroes its gradient)."""
        return ctc_per_utterance(self(batch["tokens"], batch["mask"]), batch, self.cfg.num_phonemes, zero_infinity)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """CTC loss per target phoneme over the batch (training; impossible alignments count as 0)."""
        return self.ctc(batch, zero_infinity=True).sum() / batch["target_lengths"].sum().clamp(min=1)

    @torch.inference_mode()
    def score(self, tokens: list, phonemes: list) -> torch.Tensor:
        """CTC loss per target phoneme [B] of each token row reading its phonemes: lower = says the text better
        (an empty row or one too short to say them: inf)."""
        was = self.training
        self.eval()
        b = self.batch(tokens, phonemes)
        per = self.ctc(b) / b["target_lengths"].clamp(min=1)
        self.train(was)
        return torch.where(b["token_lengths"] > 0, per, torch.full_like(per, float("inf")))

    @torch.inference_mode()
    def read(self, tokens: list) -> list[list[int]]:
        """Greedy CTC transcription of each token row -> phoneme ids (repeats merged, blanks dropped)."""
        b = self.batch(tokens, [[] for _ in tokens])
        best = self(b["tokens"], b["mask"]).argmax(-1).cpu()
        out = []
        for row, n in zip(best, b["token_lengths"].tolist()):
            ids = torch.unique_consecutive(row[:n]).tolist()
            out.append([i for i in ids if i != self.cfg.num_phonemes])
        return out

    # --- checkpoints (data.checkpoint.Pretrained) ---
    @classmethod
    def config_from_folder(cls, path: Path) -> ReaderConfig:
        return get_reader_config(str(path))


def ctc_per_utterance(logp: torch.Tensor, batch: dict[str, torch.Tensor], blank: int, zero_infinity: bool) -> torch.Tensor:
    """logp: [B, F, P + 1] -> CTC loss [B] of each row's targets (:meth:`TokenReader.batch`)."""
    return F.ctc_loss(logp.transpose(0, 1), batch["targets"], batch["token_lengths"], batch["target_lengths"],
                      blank=blank, reduction="none", zero_infinity=zero_infinity)


def phoneme_error_rate(hyps: list[list[int]], refs: list[list[int]]) -> float:
    """Edit distance summed over utterances / reference length summed."""
    err = tot = 0
    for h, r in zip(hyps, refs):
        d = list(range(len(h) + 1))
        for i, rc in enumerate(r, 1):
            prev, d[0] = d[0], i
            for j, hc in enumerate(h, 1):
                prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (rc != hc))
        err, tot = err + d[len(h)], tot + len(r)
    return err / max(tot, 1)
