"""``dualtts synthesize | lm-states | lm-generate | flow-generate``: text to speech, and the TTS stages on
zero-shot pairs of a token manifest."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from dualtts.data.audio import save_audio
from dualtts.data.manifest import read_jsonl
from dualtts.commands.common import add_device, add_tokenizer, open_tokenizer
from dualtts.published import NO_VOICE, is_published, published_language
from dualtts.synthesizer import Synthesizer
from dualtts.zeroshot import flow_generate, lm_generate, lm_states
from dualtts.lm.model import quantize_for_cpu
from dualtts.flow.infer import attach_tuned_decoder, load_acoustic_stage
from dualtts.lm.model import SemanticLM


def _lm(path: str, device: str):
    """An LM checkpoint with its phoneme table."""
    lm = SemanticLM.from_pretrained(path, device)
    if lm.symbols() is None:
        raise FileNotFoundError(f"{path}: no symbols.json (the phoneme table) in the LM checkpoint")
    return lm


def cmd_lm_states(a) -> int:
    lm = _lm(a.lm, a.device)
    print(json.dumps(lm_states(lm, lm.symbols(), a.manifest, a.out, batch_size=a.batch_size)))
    return 0


def cmd_lm_generate(a) -> int:
    device = a.device
    lm = _lm(a.lm, device)
    symbols = lm.symbols()
    lm = quantize_for_cpu(lm, a.quantize)
    sampling = _sampling(a)
    reader = None
    if a.reader:
        from dualtts.lm.reader import TokenReader

        reader = TokenReader.from_pretrained(a.reader, device)
    elif a.candidates > 1:
        raise SystemExit("error: --candidates > 1 needs --reader (a token reader: dualtts train reader)")
    summary = lm_generate(lm, open_tokenizer(a.tokenizer, device), symbols, a.manifest, a.out, per_speaker=a.per_speaker,
                          batch_size=a.batch_size, seed=a.seed, reader=reader, candidates=a.candidates, **sampling)
    print(json.dumps(summary))
    return 0


def cmd_flow_generate(a) -> int:
    device = a.device
    flow = load_acoustic_stage(a.flow, device)
    lm = _lm(a.lm, device) if a.lm else None
    tok = open_tokenizer(a.tokenizer, device)
    attach_tuned_decoder(flow, tok)  # the codec decoder tuned for this stage (dualtts train decoder), if any
    summary = flow_generate(flow, tok, a.manifest, a.out, per_speaker=a.per_speaker, lm=lm,
                            tokens_dir=a.tokens, prompt_seconds=a.prompt_seconds, as_codes=a.as_codes, seed=a.seed,
                            steps=a.steps, method=a.method, cfg_scale=a.cfg_scale, sway=None if a.sway == "none" else float(a.sway),
                            temperature=a.temperature, nar_soft_temperature=a.nar_soft_temperature,
                            nar_adapt_steps=a.nar_adapt_steps, nar_adapt_lr=a.nar_adapt_lr)
    print(json.dumps(summary))
    return 0


def _load_synthesizer(a):
    if a.model is not None and not (a.lm or a.flow) and is_published(a.model):  # --tokenizer: its codec (optional)
        return Synthesizer.from_pretrained(a.model, tokenizer=a.tokenizer, language=a.language, device=a.device,
                                           quantize=a.quantize)
    parts = (a.lm, a.flow, a.tokenizer)
    if any(parts) and not all(parts):
        raise SystemExit("error: give --lm, --flow and --tokenizer together (or --model FOLDER, or nothing for the default model)")
    if all(parts):
        return Synthesizer.from_pretrained(lm=a.lm, flow=a.flow, tokenizer=a.tokenizer, reader=a.reader, language=a.language,
                                           device=a.device, quantize=a.quantize)
    return Synthesizer.from_pretrained(a.model, language=a.language, device=a.device, quantize=a.quantize)


def _stream_to_file(chunks, path: str, sr: int) -> None:
    """Append chunks to ``path`` as they come (the WAV header is updated at every chunk, so the file plays
    while it grows); on any failure the partial file is removed."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        with sf.SoundFile(path, "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
            for i, c in enumerate(chunks):
                f.write(np.clip(c, -1, 1))
                f.flush()
                print(f"{path}: chunk {i + 1}, {f.frames / sr:.2f} s written", file=sys.stderr)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise


def _read_batch(path: str) -> list[dict]:
    """``items.jsonl``: one object per line with ``text`` and optional ``id``, ``prompt``, ``prompt_text``, ``seed``."""
    p = Path(path)
    items, seen = [], set()
    for n, d in read_jsonl(p, "batch file"):
        if not isinstance(d.get("text"), str):
            raise ValueError(f"{p}:{n}: expected an object with a 'text' string")
        unknown = set(d) - {"id", "text", "prompt", "prompt_text", "seed"}
        if unknown:
            raise ValueError(f"{p}:{n}: unknown field(s) {', '.join(sorted(unknown))}")
        d.setdefault("id", f"{n:04d}")
        d["id"] = str(d["id"])
        if not d["id"] or "/" in d["id"] or "\\" in d["id"] or d["id"].startswith("."):
            raise ValueError(f"{p}:{n}: id {d['id']!r} is not a plain file name")
        if d["id"] in seen:
            raise ValueError(f"{p}:{n}: duplicated id {d['id']!r}")
        seen.add(d["id"])
        if d.get("prompt") and not Path(d["prompt"]).is_absolute():
            d["prompt"] = str(p.parent / d["prompt"])
        items.append(d)
    if not items:
        raise ValueError(f"{p}: no items")
    return items


def cmd_synthesize(a) -> int:
    if (a.text is None) == (a.batch is None):
        raise SystemExit("error: give --text (with --out) or --batch ITEMS.jsonl (with --out-dir)")
    if a.text is not None and not a.out:
        raise SystemExit("error: --text needs --out FILE")
    if a.batch is not None and (not a.out_dir or a.stream):
        raise SystemExit("error: --batch needs --out-dir DIR (and no --stream)")
    if a.prompt_text is not None and a.prompt is None:
        raise SystemExit("error: --prompt-text without --prompt")
    items = _read_batch(a.batch) if a.batch else None
    if a.model is not None and is_published(a.model):  # before the download: the model has no voice nor phonemes
        published_language(a.language)
        if a.prompt is None and (items is None or any(not it.get("prompt") for it in items)):
            raise SystemExit(f"error: {NO_VOICE}")
    tts = _load_synthesizer(a)
    sr = tts.tokenizer.sample_rate
    kw = dict(steps=a.steps, cfg_scale=a.cfg_scale, candidates=a.candidates, adapt_steps=a.adapt_steps, content_prompt=a.content_prompt,
              prompt_eq=None if a.prompt_eq is None else a.prompt_eq == "on", **_sampling(a))
    if items is None:
        if a.stream:
            _stream_to_file(tts.synthesize_stream(a.text, a.prompt, a.prompt_text, seed=a.seed, **kw), a.out, sr)
        else:
            save_audio(a.out, tts(a.text, a.prompt, a.prompt_text, seed=a.seed, **kw), sr)
        print(json.dumps({"out": a.out, **tts.stats}))
        return 0
    failed = 0
    for it in tqdm(items, desc="synthesize", unit="text", file=sys.stderr, disable=None):
        out = Path(a.out_dir) / f"{it['id']}.wav"
        try:
            prompt = it.get("prompt", a.prompt)
            text_of_prompt = it.get("prompt_text", a.prompt_text if prompt == a.prompt else None)
            save_audio(out, tts(it["text"], prompt, text_of_prompt, seed=int(it.get("seed", a.seed)), **kw), sr)
        except (ValueError, OSError) as e:  # one bad item does not stop the batch
            failed += 1
            print(f"{a.batch}: item {it['id']}: {e}", file=sys.stderr)
    print(json.dumps({"out_dir": a.out_dir, "items": len(items), "written": len(items) - failed, "failed": failed}))
    return 1 if failed else 0


def _pair_args(p, model: str) -> None:
    """Arguments shared by the commands that run a stage over zero-shot pairs of a token manifest."""
    p.add_argument(f"--{model}", required=True, help=f"{model} checkpoint folder (…/checkpoints/best/{model})")
    add_tokenizer(p, required=True, what=" (the one the tokens came from)")
    p.add_argument("--manifest", required=True, help="token manifest of held-out speakers (dualtts extract-tokens)")
    p.add_argument("--out", required=True)
    p.add_argument("--per-speaker", type=int, default=None, help="targets per speaker (default: all)")
    p.add_argument("--seed", type=int, default=0)
    add_device(p)


def _sampling_args(p) -> None:
    """The LM's sampling settings (lm.sampler.SamplingConfig; unset = its default)."""
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--repetition-penalty", type=float)
    p.add_argument("--min-prompt-rate", type=float, help="no end of speech before this fraction of the length the prompt's speaking rate predicts")
    p.add_argument("--text-cfg-scale", type=float, help="classifier-free guidance of the LM on the text (LMs trained with text_dropout; 1 = off)")
    p.add_argument("--good-enough", type=float, help="best-of-N in rounds of --round-size candidates, stopping after the first "
                   "round where the token reader scores a candidate at or below this (CTC loss per phoneme); default: all at once")
    p.add_argument("--round-size", type=int, help="candidates per round with --good-enough (default 4)")


def _sampling(a) -> dict:
    return {k: v for k, v in dict(temperature=a.temperature, top_k=a.top_k, top_p=a.top_p, repetition_penalty=a.repetition_penalty,
                                  min_prompt_rate=a.min_prompt_rate, text_cfg_scale=a.text_cfg_scale, good_enough=a.good_enough,
                                  round_size=a.round_size).items() if v is not None}


def add_parsers(sub) -> None:
    s = sub.add_parser("synthesize", help="text + a voice prompt (audio and its transcript) -> speech")
    s.add_argument("--model", default=None, help="model folder with codec/ lm/ flow/ (default: the shipped dualtts-mini); "
                   "amphion/dualcodec-tts or a folder of its two .safetensors: the published DualCodec TTS (needs --prompt)")
    s.add_argument("--lm", help="LM checkpoint folder (with --flow and --tokenizer, instead of --model)")
    s.add_argument("--flow", help="flow checkpoint folder")
    s.add_argument("--reader", help="token reader checkpoint folder (optional, with --lm/--flow/--tokenizer): best-of-N sampling")
    s.add_argument("--tokenizer", help="dualcodec:PATH | mimi:ID | encodec:ID (the one both were trained on; with the "
                   "published --model: its codec, default amphion/dualcodec:12hz)")
    s.add_argument("--text", help="what to say (or --batch)")
    s.add_argument("--batch", help="items.jsonl: one {\"text\", \"id\"?, \"prompt\"?, \"prompt_text\"?, \"seed\"?} per line -> OUT_DIR/<id>.wav")
    s.add_argument("--out-dir", help="output folder of --batch")
    s.add_argument("--stream", action="store_true", help="write the audio sentence by sentence as it is produced")
    s.add_argument("--prompt", help="voice prompt audio (0.5 to 15 s); default: the model's default voice")
    s.add_argument("--prompt-text", help="transcript of the prompt audio (default: transcribed by the offline ASR, and said so)")
    s.add_argument("--out", help="output audio file (written atomically; with --stream it grows as audio comes)")
    s.add_argument("--language", default="en-us", help="espeak-ng voice of the phonemizer (default en-us); the published "
                   "model: en (en-us, en-gb) or zh (cmn, zh-cn)")
    s.add_argument("--steps", type=int, default=16)
    s.add_argument("--cfg-scale", type=float, default=2.0)
    s.add_argument("--candidates", type=int, default=None, help="LM samples per sentence; the model's token reader keeps "
                   "the one that says the text best (default: the model's bundle.json, 4 for the shipped model; else 4 when the model "
                   "has a reader/, else 1; 4 is about 4x faster)")
    s.add_argument("--adapt-steps", type=int, default=0, help="fine-tune the NAR acoustic stage on the prompt first, this many "
                   "steps per sentence: closer to the prompt's voice (SIM +0.024 on the mini model), acoustic stage ~13x slower")
    s.add_argument("--content-prompt", choices=["prompt", "default"], default=None,
                   help="with --prompt: what the LM continues (prompt: that prompt; default: the model's default voice, for the "
                        "words, while the acoustic stage continues --prompt, for the voice); default: the model's setting, else "
                        "default where the model has a default voice")
    s.add_argument("--prompt-eq", choices=["on", "off"], default=None,
                   help="with --prompt: filter the output with the EQ that undoes the codec's colour of the prompt's voice "
                        "(dualtts.voice_eq; default: on, or the model's bundle.json)")
    _sampling_args(s)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--quantize", default="none", choices=["none", "bf16", "int8"])
    add_device(s)
    s.set_defaults(func=cmd_synthesize)

    g = sub.add_parser("lm-generate", help="zero-shot pairs of a token manifest -> LM tokens decoded semantic-only (OUT/<id>.wav)")
    _pair_args(g, "lm")
    g.add_argument("--batch-size", type=int, default=8)
    g.add_argument("--reader", help="token reader checkpoint (dualtts train reader): keep the best of --candidates samples")
    g.add_argument("--candidates", type=int, default=1, help="LM samples per pair, scored by --reader (default 1)")
    _sampling_args(g)
    g.add_argument("--quantize", default="none", choices=["none", "bf16", "int8"], help="inference weights (int8: CPU)")
    g.set_defaults(func=cmd_lm_generate)

    t = sub.add_parser("lm-states", help="token manifest -> the LM's teacher-forced states per utterance (OUT/<id>.npy), to train a flow on")
    t.add_argument("--lm", required=True, help="LM checkpoint folder")
    t.add_argument("--manifest", required=True, help="token manifest (dualtts extract-tokens)")
    t.add_argument("--out", required=True)
    t.add_argument("--batch-size", type=int, default=32)
    add_device(t)
    t.set_defaults(func=cmd_lm_states)

    f = sub.add_parser("flow-generate", help="zero-shot pairs of a token manifest -> acoustic layers filled in by the flow stage (OUT/<id>.wav)")
    _pair_args(f, "flow")
    f.add_argument("--lm", help="the semantic LM whose states condition the flow (flows trained with lm_states)")
    f.add_argument("--tokens", help="folder of first-layer tokens <id>.npy (lm-generate output); default: the ground truth")
    f.add_argument("--prompt-seconds", type=float, default=3.0)
    f.add_argument("--steps", type=int, default=16)
    f.add_argument("--method", default="euler", choices=["euler", "midpoint"])
    f.add_argument("--cfg-scale", type=float, default=2.0)
    f.add_argument("--sway", default="-1", help="sway coefficient of the time grid, or none (uniform)")
    f.add_argument("--temperature", type=float, default=1.0, help="scale of the starting noise (< 1: less varied detail)")
    f.add_argument("--as-codes", action="store_true", help="re-quantize the latent into acoustic codes before decoding")
    f.add_argument("--nar-soft-temperature", type=float, default=1.0,
                   help="NAR stages with decode: soft: temperature of the distributions whose expected code vectors are "
                        "decoded (1: the best of 0.7 / 1 / 1.5 on the mini model, recipes/mini/speak_experiments.md)")
    f.add_argument("--nar-adapt-steps", type=int, default=0,
                   help="NAR stages: fine-tune a copy on each prompt's own codes for this many steps first (test-time "
                        "adaptation to the voice; 0: off)")
    f.add_argument("--nar-adapt-lr", type=float, default=1e-4, help="learning rate of --nar-adapt-steps")
    f.set_defaults(func=cmd_flow_generate)
