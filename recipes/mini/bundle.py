"""Package trained codec / LM / flow checkpoints as one TTS model folder (what ``Synthesizer.from_pretrained``
loads): ``OUT/{codec,lm,flow}/`` with fp16 weights (statistics buffers stay fp32), a default voice prompt
``prompt.wav`` + ``prompt.txt`` from a training utterance of a freely licensed voice, and ``bundle.json``
(sizes, where each part came from, as paths relative to the checkout, and how far fp16 moved the outputs).

    python recipes/mini/bundle.py --codec exp/speak/codec/final --lm exp/speak/lm/checkpoints/best/lm \\
        --flow exp/speak/flow/checkpoints/best/flow --manifest exp/corpus-v2/manifests/train.jsonl \\
        --out recipes/mini/checkpoints/dualtts-mini
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from dualtts.data.manifest import read_manifest  # noqa: E402
from dualtts.bundle import relative_paths, write_model_folder  # noqa: E402  (to_fp16, the folder layout: shared with dualtts finetune)

# CMU ARCTIC voices (free licence, BSD-style) behind RHVoice and flite, in order of preference
PROMPT_VOICES = ("rhvoice:clb", "rhvoice:slt", "flite:slt", "rhvoice:bdl")


def pick_prompt(manifest: str, corpus_speakers: Path | None) -> tuple:
    """A 3-6 s training utterance of the first available freely licensed voice (a Harvard sentence where there is
    one: natural prosody, unlike the corpus's free-order word sentences)."""
    from dualtts.data.corpus_maker.sentences import harvard_sentences

    harvard = set(harvard_sentences())
    utts = sorted(read_manifest(manifest), key=lambda u: (u.text not in harvard, u.id))
    voice_of = {}
    if corpus_speakers is not None and corpus_speakers.is_file():
        import csv

        with open(corpus_speakers, encoding="utf-8") as f:
            voice_of = {r["speaker"]: f"{r['engine']}:{r['voice']}" for r in csv.DictReader(f, delimiter="\t")}
    for want in PROMPT_VOICES:
        cands = [u for u in utts if voice_of.get(u.speaker) == want and 3.0 <= u.duration <= 6.0]
        if cands:
            return cands[0], want
    u = next(u for u in utts if 3.0 <= u.duration <= 6.0)
    return u, voice_of.get(u.speaker, u.speaker)


def weights_dtype(folder: Path) -> torch.dtype:
    """float16 when a checkpoint's weights hold fp16 tensors (a bundled part), else float32."""
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        half = any(f.get_slice(k).get_dtype() == "F16" for k in f.keys())
    return torch.float16 if half else torch.float32


def codec_fp16_error(fp32: Path, fp16: Path, wav_path: str) -> float:
    """Decoded-audio SNR (dB) of the fp16 codec against the fp32 one on the prompt."""
    from dualtts.codec.model import DualCodec
    from dualtts.data.audio import load_audio

    a, b = DualCodec.from_pretrained(fp32), DualCodec.from_pretrained(fp16)
    wav, _ = load_audio(wav_path, a.sample_rate)
    x = torch.from_numpy(wav)[None, None]
    codes = a.encode(x)
    ya, yb = a.decode(codes, lengths=x.shape[-1]), b.decode(codes, lengths=x.shape[-1])
    return float(10 * torch.log10(ya.pow(2).sum() / (ya - yb).pow(2).sum().clamp(min=1e-12)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--codec", required=True)
    ap.add_argument("--lm", required=True)
    ap.add_argument("--flow", required=True)
    ap.add_argument("--tuned-decoder", help="a codec checkpoint of dualtts train decoder: its decoder goes into flow/ "
                    "(TTS decodes with it, codec/ keeps its own)")
    ap.add_argument("--reader", help="token reader (dualtts train reader): best-of-N LM sampling in the bundle (optional)")
    ap.add_argument("--text-cfg-scale", type=float, default=None,
                    help="the LM's default guidance on the text, written into lm/config.yaml (LMs trained with text_dropout)")
    ap.add_argument("--candidates", type=int, default=None,
                    help="LM samples per sentence the model folder's Synthesizer keeps the best of by default (bundle.json)")
    ap.add_argument("--manifest", required=True, help="training manifest to take the default prompt from")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    corpus = Path(a.manifest).resolve().parents[1] / "corpus" / "SPEAKERS.tsv"
    u, voice = pick_prompt(a.manifest, corpus)
    # (paths relative to the checkout: bundle.json carries no path of the machine it was built on)
    info = {"sources": relative_paths(vars(a) | {"prompt": u.audio}, ROOT), "prompt_voice": voice,
            "prompt_licence": "CMU ARCTIC voice data (free use, BSD-style), through the RHVoice/flite voice"}
    if a.candidates is not None:
        info["candidates"] = a.candidates
    check = lambda tmp: {"codec_fp16_snr_db": round(codec_fp16_error(Path(a.codec), tmp / "codec", str(tmp / "prompt.wav")), 1)}
    if weights_dtype(Path(a.codec)) == torch.float16:  # the codec of an earlier bundle: its fp16 error was measured then
        old = Path(a.out) / "bundle.json"
        snr = json.loads(old.read_text()).get("codec_fp16_snr_db") if old.is_file() else None
        check = lambda tmp: {"codec_fp16_snr_db": snr, "codec_from_earlier_bundle": True}  # noqa: E731
    bundle = write_model_folder(a.out, a.codec, a.lm, a.flow, u.audio, u.text, info=info, check=check, reader=a.reader,
                                tuned_decoder=a.tuned_decoder)
    if a.text_cfg_scale is not None:
        import yaml

        from dualtts.data.atomic import write_text_atomic
        from dualtts.data.checkpoint import read_config

        cfg = read_config(Path(a.out) / "lm") | {"text_cfg_scale": a.text_cfg_scale}
        write_text_atomic(Path(a.out) / "lm" / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    print(json.dumps(bundle))


if __name__ == "__main__":
    main()
