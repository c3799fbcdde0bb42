"""Subcommands of the TTS stages: ``synthesize``, and ``lm-generate`` / ``flow-generate`` on zero-shot pairs of a token manifest."""
from __future__ import annotations

import json


def _device(name: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def _tokenizer(spec: str, device: str):
    from codec.tokenizer import load_tokenizer

    return load_tokenizer(spec if ":" in spec else f"dualcodec:{spec}", device).eval()


def cmd_lm_generate(a) -> int:
    from dualtts.zeroshot import lm_generate, quantize_for_cpu
    from lm.model import SemanticLM

    device = _device(a.device)
    lm = SemanticLM.from_pretrained(a.lm, device)
    symbols = lm.symbols()
    if symbols is None:
        raise FileNotFoundError(f"{a.lm}: no symbols.json (the phoneme table) in the LM checkpoint")
    lm = quantize_for_cpu(lm, a.quantize)
    sampling = {k: v for k, v in dict(temperature=a.temperature, top_k=a.top_k, top_p=a.top_p,
                                      repetition_penalty=a.repetition_penalty).items() if v is not None}
    summary = lm_generate(lm, _tokenizer(a.tokenizer, device), symbols, a.manifest, a.out, per_speaker=a.per_speaker,
                          batch_size=a.batch_size, seed=a.seed, **sampling)
    print(json.dumps(summary))
    return 0


def cmd_flow_generate(a) -> int:
    from dualtts.zeroshot import flow_generate
    from flow.model import AcousticFlow

    device = _device(a.device)
    flow = AcousticFlow.from_pretrained(a.flow, device)
    summary = flow_generate(flow, _tokenizer(a.tokenizer, device), a.manifest, a.out, per_speaker=a.per_speaker,
                            tokens_dir=a.tokens, prompt_seconds=a.prompt_seconds, as_codes=a.as_codes, seed=a.seed,
                            steps=a.steps, method=a.method, cfg_scale=a.cfg_scale, sway=None if a.sway == "none" else float(a.sway),
                            temperature=a.temperature)
    print(json.dumps(summary))
    return 0


def cmd_synthesize(a) -> int:
    from data.audio import save_audio
    from dualtts.synthesizer import Synthesizer

    parts = (a.lm, a.flow, a.tokenizer)
    if any(parts) and not all(parts):
        raise SystemExit("error: give --lm, --flow and --tokenizer together (or --model FOLDER, or nothing for the default model)")
    if all(parts):
        tts = Synthesizer.from_pretrained(lm=a.lm, flow=a.flow, tokenizer=a.tokenizer, language=a.language, device=a.device,
                                          quantize=a.quantize)
    else:
        tts = Synthesizer.from_pretrained(a.model, language=a.language, device=a.device, quantize=a.quantize)
    if a.prompt_text is not None and a.prompt is None:
        raise SystemExit("error: --prompt-text without --prompt")
    wav = tts(a.text, a.prompt, a.prompt_text, seed=a.seed, steps=a.steps, cfg_scale=a.cfg_scale)
    save_audio(a.out, wav, tts.tokenizer.sample_rate)
    print(json.dumps({"out": a.out, "seconds": round(len(wav) / tts.tokenizer.sample_rate, 2)}))
    return 0


def _pair_args(p, model: str) -> None:
    """Arguments shared by the commands that run a stage over zero-shot pairs of a token manifest."""
    p.add_argument(f"--{model}", required=True, help=f"{model} checkpoint folder (…/checkpoints/best/{model})")
    p.add_argument("--tokenizer", required=True, help="dualcodec:PATH | mimi:ID | encodec:ID (the one the tokens came from)")
    p.add_argument("--manifest", required=True, help="token manifest of held-out speakers (dualtts extract-tokens)")
    p.add_argument("--out", required=True)
    p.add_argument("--per-speaker", type=int, default=None, help="targets per speaker (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")


def add_parsers(sub) -> None:
    s = sub.add_parser("synthesize", help="text + a voice prompt (audio and its transcript) -> speech")
    s.add_argument("--model", default=None, help="model folder with codec/ lm/ flow/ (default: the shipped dualtts-mini)")
    s.add_argument("--lm", help="LM checkpoint folder (with --flow and --tokenizer, instead of --model)")
    s.add_argument("--flow", help="flow checkpoint folder")
    s.add_argument("--tokenizer", help="dualcodec:PATH | mimi:ID | encodec:ID (the one both were trained on)")
    s.add_argument("--text", required=True)
    s.add_argument("--prompt", help="voice prompt audio (0.5 to 15 s); default: the model's default voice")
    s.add_argument("--prompt-text", help="transcript of the prompt audio (default: transcribed by the offline ASR, and said so)")
    s.add_argument("--out", required=True, help="output audio file (written atomically)")
    s.add_argument("--language", default="en-us")
    s.add_argument("--steps", type=int, default=16)
    s.add_argument("--cfg-scale", type=float, default=2.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--quantize", default="none", choices=["none", "bf16", "int8"])
    s.add_argument("--device", default="auto")
    s.set_defaults(func=cmd_synthesize)

    g = sub.add_parser("lm-generate", help="zero-shot pairs of a token manifest -> LM tokens decoded semantic-only (OUT/<id>.wav)")
    _pair_args(g, "lm")
    g.add_argument("--batch-size", type=int, default=8)
    g.add_argument("--temperature", type=float)
    g.add_argument("--top-k", type=int)
    g.add_argument("--top-p", type=float)
    g.add_argument("--repetition-penalty", type=float)
    g.add_argument("--quantize", default="none", choices=["none", "bf16", "int8"], help="inference weights (int8: CPU)")
    g.set_defaults(func=cmd_lm_generate)

    f = sub.add_parser("flow-generate", help="zero-shot pairs of a token manifest -> acoustic layers filled in by the flow stage (OUT/<id>.wav)")
    _pair_args(f, "flow")
    f.add_argument("--tokens", help="folder of first-layer tokens <id>.npy (lm-generate output); default: the ground truth")
    f.add_argument("--prompt-seconds", type=float, default=3.0)
    f.add_argument("--steps", type=int, default=16)
    f.add_argument("--method", default="euler", choices=["euler", "midpoint"])
    f.add_argument("--cfg-scale", type=float, default=2.0)
    f.add_argument("--sway", default="-1", help="sway coefficient of the time grid, or none (uniform)")
    f.add_argument("--temperature", type=float, default=1.0, help="scale of the starting noise (< 1: less varied detail)")
    f.add_argument("--as-codes", action="store_true", help="re-quantize the latent into acoustic codes before decoding")
    f.set_defaults(func=cmd_flow_generate)
