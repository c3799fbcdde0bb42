"""Audio of any length through the codec: windowed semantic encoder, chunked encode/decode, the CLI on 70 s."""
import numpy as np
import soundfile as sf
import torch

from dualtts.codec.chunked import decode_chunked, encode_chunked
from dualtts.codec.model import DualCodec


def _long_speech(speech_dir, seconds: float, sr: int = 24000) -> np.ndarray:
    """espeak sentences repeated with short pauses up to ``seconds`` at the codec's rate."""
    from dualtts.data.audio import load_audio

    clips = [load_audio(speech_dir / f"{v}.wav", sr)[0] for v in ("male_a", "female_b", "female_a", "male_b")]
    out, i = [], 0
    while sum(map(len, out)) < seconds * sr:
        out += [clips[i % 4], np.zeros(sr // 4, np.float32)]
        i += 1
    return np.concatenate(out)[: int(seconds * sr)]


def test_semantic_encoder_reads_long_audio_in_windows(tiny_codec):
    ssl = DualCodec.from_pretrained(tiny_codec).ssl
    x = torch.randn(1, 16000 * 70) * 0.1
    h = ssl(x)
    assert h.shape[-1] == 70 * 50 and torch.isfinite(h).all()
    # a window is computed from its own audio (plus context) alone: the stitched middle of the first window
    # equals a pass over that window
    first = ssl(x[:, : 29 * 16000])
    assert torch.allclose(h[..., : 28 * 50], first[..., : 28 * 50], atol=1e-4)


def test_chunked_decode_matches_a_whole_pass_and_keeps_length(tiny_codec, speech_dir):
    codec = DualCodec.from_pretrained(tiny_codec)
    wav = torch.from_numpy(_long_speech(speech_dir, 25.3))[None, None]
    codes = codec.encode(wav)
    chunked = encode_chunked(codec, wav, chunk_seconds=8, context_seconds=2)
    assert chunked.shape == codes.shape
    assert (chunked == codes).float().mean() > 0.5  # the semantic encoder attends within its window: mostly equal
    whole = codec.decode(codes, lengths=wav.shape[-1])
    parts = decode_chunked(codec, codes, length=wav.shape[-1], chunk_seconds=8, context_seconds=2)
    assert parts.shape == whole.shape == wav.shape
    assert torch.allclose(parts, whole, atol=1e-4)  # the decoder is local: chunks with context are exact
    short = wav[..., : 24000 * 3]
    assert torch.equal(encode_chunked(codec, short), codec.encode(short))  # one chunk: the plain pass


def test_cli_encode_decode_70_seconds_keeps_the_length(tmp_path, tiny_codec, speech_dir):
    from dualtts.cli import main

    wav = _long_speech(speech_dir, 70.0)
    sf.write(tmp_path / "long.wav", wav, 24000)
    assert main(["encode", "--codec", str(tiny_codec), str(tmp_path / "long.wav"), str(tmp_path / "long.npz")]) == 0
    with np.load(tmp_path / "long.npz") as z:
        assert z["codes"].shape[1] == int(np.ceil(len(wav) / 960))
    assert main(["decode", "--codec", str(tiny_codec), str(tmp_path / "long.npz"), str(tmp_path / "back.wav")]) == 0
    back, sr = sf.read(tmp_path / "back.wav")
    assert sr == 24000 and len(back) == len(wav)
