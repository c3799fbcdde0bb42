"""DualCodec configuration (a plain dataclass) and the named presets.

Presets: ``12hz`` / ``25hz`` follow the paper (DAC-style waveform stream, ≈84M / ≈102M parameters
without the SSL model, w2v-BERT 2.0 layer 17 teacher); ``tiny-12hz`` / ``tiny-25hz`` are CPU-sized
with the frame-rate spectral stream and the offline Whisper-base teacher.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from dualtts.codec.ssl import SSLConfig
from dualtts.data.checkpoint import read_config


@dataclass
class DualCodecConfig:
    sample_rate: int = 24000
    hop_length: int = 1920                 # samples per frame: 1920 = 12.5 Hz, 960 = 25 Hz
    stream: str = "dac"                    # acoustic stream: "dac" (waveform convs) or "spectral" (STFT/iSTFT)
    latent_dim: int = 1024
    # DAC-style stream
    encoder_dim: int = 32
    encoder_rates: list[int] = field(default_factory=lambda: [4, 5, 6, 8, 2])
    decoder_dim: int = 1536
    # spectral stream (frame-rate ConvNeXt, STFT in / iSTFT out at hop_length // spec_upsample)
    spec_dim: int = 512
    spec_layers: int = 8
    spec_hidden: int = 1536
    spec_upsample: int = 8
    # semantic stream. semantic_mode: "dual" (the paper: RVQ-1 quantizes the SSL stream), "distill" (RVQ-1 quantizes
    # the acoustic latent and is trained to predict SSL features, SpeechTokenizer-style), "none" (acoustic only, DAC)
    semantic_mode: str = "dual"
    ssl: SSLConfig = field(default_factory=lambda: SSLConfig(kind="w2v-bert", source="facebook/w2v-bert-2.0", layer=17, dim=1024))
    semantic_dim: int = 768
    semantic_layers: int = 4
    semantic_hidden: int = 2048
    semantic_codebook_size: int = 16384
    # acoustic residual VQ
    n_acoustic: int = 7
    acoustic_codebook_size: int = 4096
    code_dim: int = 8
    bypass_prob: float = 0.125
    dead_code_after: int = 20
    # "reference": behave as the reference DualCodec package (dualcodec 0.4.2), so its published weights load
    # (codec.reference): causal ConvNeXt semantic branch without layer scale whose decoder output (ssl.dim) is the
    # semantic latent, raw codebook rows, no output padding when upsampling, its Snake numerics, torchaudio's
    # resampler, w2v-BERT features with its padding/attention mask, F-1 frames for F frames' worth of samples
    compat: str = "none"

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def codebook_sizes(self) -> list[int]:
        return [self.semantic_codebook_size] + [self.acoustic_codebook_size] * self.n_acoustic

    def kbps(self, n_layers: int | None = None) -> float:
        import math

        sizes = self.codebook_sizes[: n_layers or len(self.codebook_sizes)]
        return self.frame_rate * sum(math.log2(s) for s in sizes) / 1000

    def validate(self) -> "DualCodecConfig":
        import math

        if self.stream not in ("dac", "spectral"):
            raise ValueError(f"stream must be 'dac' or 'spectral', got {self.stream!r}")
        if self.stream == "dac" and math.prod(self.encoder_rates) != self.hop_length:
            raise ValueError(f"encoder_rates {self.encoder_rates} multiply to {math.prod(self.encoder_rates)}, not hop_length {self.hop_length}")
        if self.stream == "spectral" and self.hop_length % self.spec_upsample:
            raise ValueError(f"hop_length {self.hop_length} is not divisible by spec_upsample {self.spec_upsample}")
        if self.semantic_mode not in ("dual", "distill", "none"):
            raise ValueError(f"semantic_mode must be dual, distill or none, got {self.semantic_mode!r}")
        if self.hop_length % 480:
            raise ValueError(f"hop_length {self.hop_length} must be a multiple of 480 (the SSL's 50 Hz at 24 kHz)")
        if self.compat not in ("none", "reference"):
            raise ValueError(f"compat must be 'none' or 'reference', got {self.compat!r}")
        if self.compat == "reference" and (self.stream, self.semantic_mode) != ("dac", "dual"):
            raise ValueError("compat 'reference' needs stream 'dac' and semantic_mode 'dual' (the reference's layout)")
        if self.compat == "reference" and self.ssl.dim != self.latent_dim:
            raise ValueError(f"compat 'reference': the semantic decoder's output is the latent, so ssl.dim ({self.ssl.dim}) "
                             f"must equal latent_dim ({self.latent_dim})")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DualCodecConfig":
        d = copy.deepcopy(d)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown codec config field(s): {', '.join(sorted(unknown))}")
        if isinstance(d.get("ssl"), dict):
            d["ssl"] = SSLConfig(**d["ssl"])
        return cls(**d).validate()

    def save(self, path: str | Path) -> None:
        from dualtts.data.atomic import write_text_atomic

        write_text_atomic(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: str | Path) -> "DualCodecConfig":
        return cls.from_dict(read_config(path))


def _preset(**kw) -> DualCodecConfig:
    return DualCodecConfig(**kw).validate()


def _offline_teacher() -> SSLConfig:
    return SSLConfig(kind="whisper", source="ct2:base", layer=-1, dim=512)


PRESETS = {
    "12hz": lambda: _preset(),
    "25hz": lambda: _preset(hop_length=960, encoder_dim=64, encoder_rates=[4, 5, 6, 8], n_acoustic=11, acoustic_codebook_size=1024),
    # reference-size 12.5 Hz codec with the frame-rate spectral stream (fast decoding on CPUs)
    "12hz-istft": lambda: _preset(stream="spectral", spec_dim=768, spec_layers=6, spec_hidden=1920, spec_upsample=8),
    "tiny-12hz": lambda: _preset(hop_length=1920, stream="spectral", latent_dim=256, spec_dim=256, spec_layers=4, spec_hidden=768,
                                 spec_upsample=8, ssl=_offline_teacher(), semantic_dim=256, semantic_layers=2, semantic_hidden=768,
                                 semantic_codebook_size=1024, n_acoustic=7, acoustic_codebook_size=1024),
    "tiny-25hz": lambda: _preset(hop_length=960, stream="spectral", latent_dim=256, spec_dim=256, spec_layers=4, spec_hidden=768,
                                 spec_upsample=4, ssl=_offline_teacher(), semantic_dim=256, semantic_layers=2, semantic_hidden=768,
                                 semantic_codebook_size=1024, n_acoustic=7, acoustic_codebook_size=1024),
    # the reference package's layout and numerics (dualcodec 0.4.2), for its published weights (codec.reference)
    "reference-12hz": lambda: _preset(compat="reference"),
    "reference-25hz": lambda: _preset(compat="reference", hop_length=960, encoder_dim=64, encoder_rates=[4, 5, 6, 8], n_acoustic=11,
                                      acoustic_codebook_size=1024),
    # the paper's waveform stream at tiny size, to compare the two acoustic streams on a CPU
    "tiny-12hz-dac": lambda: _preset(hop_length=1920, stream="dac", latent_dim=256, encoder_dim=8, encoder_rates=[4, 5, 6, 8, 2],
                                     decoder_dim=512, ssl=_offline_teacher(), semantic_dim=256, semantic_layers=2, semantic_hidden=768,
                                     semantic_codebook_size=1024, n_acoustic=7, acoustic_codebook_size=1024),
}


def get_config(name_or_path: str) -> DualCodecConfig:
    """A preset name, a YAML file, or a checkpoint folder (its ``config.yaml``)."""
    if name_or_path in PRESETS:
        return PRESETS[name_or_path]()
    p = Path(name_or_path)
    if p.is_dir() and (p / "config.yaml").is_file():
        return DualCodecConfig.load(p / "config.yaml")
    if p.is_file():
        return DualCodecConfig.load(p)
    raise FileNotFoundError(f"{name_or_path}: not a preset ({', '.join(PRESETS)}), YAML file or checkpoint folder")


def random_teacher_like(cfg: DualCodecConfig) -> SSLConfig:
    """A random SSL config of the same feature size, so sizes can be reported without downloading the teacher."""
    key = {"whisper": "d_model", "w2v-bert": "hidden_size", "hf": "hidden_size"}[cfg.ssl.kind]
    extra = {"num_hidden_layers": 1} if cfg.ssl.kind != "whisper" else {"encoder_layers": 1}
    return SSLConfig(kind=cfg.ssl.kind, source="random", layer=-1, config={key: cfg.ssl.dim, **extra}, dim=cfg.ssl.dim)
