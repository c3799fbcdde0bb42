"""Inference benchmarks of every stage in one run (``dualtts bench``), and the helpers the scripts in
``recipes/bench/`` share.

Each measurement runs in its own forked process (its peak RSS, and on CUDA its peak allocated memory, are
that model's alone) with ``threads`` torch threads, after one warm-up call; times are medians. RTF =
seconds of compute per second of audio (lower is faster). Speeds are reported as ratios to anchors
measured side by side in the same run: Mimi (8 layers) and EnCodec 24 kHz (6 kbps) built from their
default transformers configs with random weights (speed only; no hub access needed). How it measures:
:mod:`dualtts.bench_timing`.
"""
from __future__ import annotations

import resource
import statistics
from typing import TYPE_CHECKING
from pathlib import Path

import torch

if TYPE_CHECKING:
    from dualtts.synthesizer import PublishedSynthesizer

from dualtts.bench_timing import ROOT, SENTENCES, _params_M, machine, median_time, run_isolated, wav


# --- codec ---------------------------------------------------------------------------------------
def codec_tokenizer(spec: str, device="cpu"):
    """``mimi`` / ``encodec`` (default transformers configs, random weights: 8 layers / 6 kbps), a DualCodec
    preset name, or ``dualcodec:PATH`` (trained weights)."""
    if spec == "mimi":
        from transformers import MimiConfig, MimiModel

        from dualtts.codec.tokenizer import MimiTokenizer
        return MimiTokenizer(MimiModel(MimiConfig()), 8).to(device).eval()
    if spec == "encodec":
        from transformers import EncodecConfig, EncodecModel

        from dualtts.codec.tokenizer import EncodecTokenizer
        return EncodecTokenizer(EncodecModel(EncodecConfig()), 6.0).to(device).eval()
    if spec.startswith("dualcodec:"):
        from dualtts.codec.tokenizer import load_tokenizer
        return load_tokenizer(spec, device)
    from dualtts.codec.config import PRESETS
    from dualtts.codec.model import DualCodec
    return DualCodec(PRESETS[spec]()).to(device).eval()


def measure_codec(spec: str, batch: int, seconds: float, repeats: int, device="cpu", warmup: int = 1) -> dict:
    """Encode (DualCodec: with its SSL front end) and decode times of ``seconds`` of audio per item."""
    torch.manual_seed(0)
    tok = codec_tokenizer(spec, device)
    x = wav(batch, seconds, tok.sample_rate).to(device)
    with torch.inference_mode():
        codes = tok.encode(x)
    enc = median_time(lambda: tok.encode(x), repeats, warmup)
    dec = median_time(lambda: tok.decode(codes), repeats, warmup)
    audio = batch * seconds
    return {"encode_s": enc, "decode_s": dec, "encode_rtf": round(enc / audio, 4), "decode_rtf": round(dec / audio, 4),
            "frame_rate": tok.frame_rate, "layers": codes.shape[1], "params_M": _params_M(tok)}


# --- semantic LM ---------------------------------------------------------------------------------
def _lm(spec: str, weights: str, device):
    from dualtts.lm.config import get_lm_config
    from dualtts.lm.model import SemanticLM, quantize_for_cpu

    torch.manual_seed(0)
    if Path(spec).is_dir():
        m = SemanticLM.from_pretrained(spec, device)
    else:  # a preset, random weights (a 16384-entry codebook, 100 phonemes)
        m = SemanticLM(get_lm_config(spec, num_phonemes=100)).to(device)
    return quantize_for_cpu(m.eval(), weights)


def measure_lm(spec: str, weights: str, batch: int, device, repeats: int, new: int = 125, phonemes: int = 150,
               prompt: int = 38, warmup: int = 1) -> dict:
    """Generation of exactly ``new`` tokens after ``phonemes`` + ``prompt`` tokens: prefill and generation
    tokens/s, and the RTF (generate time / seconds of speech those tokens are)."""
    m = _lm(spec, weights, device)
    cfg = m.cfg
    g = torch.Generator().manual_seed(0)
    ph = [torch.randint(1, cfg.num_phonemes, (phonemes,), generator=g) for _ in range(batch)]
    pr = [torch.randint(0, cfg.codebook_size, (prompt,), generator=g) for _ in range(batch)]
    ids = torch.cat([ph[0], torch.tensor([cfg.sep_id]), pr[0] + cfg.speech_offset])[None].repeat(batch, 1).to(device)
    t_pre = median_time(lambda: m(ids, use_cache=True), repeats, warmup)
    t_gen = median_time(lambda: m.generate(ph, pr, seed=0, min_new_tokens=new, max_new_tokens=new), repeats, warmup)
    return {"weights": weights, "batch": batch, "device": str(device), "prefill_tokens_per_s": round(batch * ids.shape[1] / t_pre, 1),
            "tokens_per_s": round(batch * new / (t_gen - t_pre), 1), "tokens_per_s_end_to_end": round(batch * new / t_gen, 1),
            "ms_per_step": round(1000 * (t_gen - t_pre) / new, 2), "rtf": round(t_gen / (batch * new / cfg.frame_rate), 4),
            "params_M": _params_M(_lm(spec, "none", "cpu"))}


# --- acoustic stage ------------------------------------------------------------------------------
def measure_flow(preset: str, steps: int, batch: int, device, repeats: int, seconds: float = 10.0,
                 prompt_seconds: float = 3.0, frame_rate: float = 12.5, weights: str = "fp32") -> dict:
    """A flow preset (random weights, DualCodec 12.5 Hz latent: 1024 wide, 16384 codes): sampling
    ``seconds`` of speech with ``steps`` Euler steps, CFG on, a ``prompt_seconds`` prompt in context.
    ``weights`` bf16 / int8 (:meth:`AcousticFlow.for_inference`): also ``snr_db``, the sampled latent against
    the fp32 weights' from the same noise (the output layer drawn at random here, not zero as at init)."""
    from dualtts.flow.config import get_flow_config
    from dualtts.flow.model import AcousticFlow

    torch.manual_seed(0)
    f = AcousticFlow(get_flow_config(preset, latent_dim=1024, codebook_size=16384)).eval()
    torch.nn.init.normal_(f.out.weight, std=0.02)
    P, T = int(prompt_seconds * frame_rate), int(seconds * frame_rate)
    tokens = torch.randint(0, 16384, (batch, P + T), device=device)
    sem, prompt = torch.randn(batch, 1024, P + T, device=device), torch.randn(batch, 1024, P + T, device=device)
    ref = None
    if weights != "fp32":
        with torch.inference_mode():
            ref = f.to(device).sample(tokens, sem, prompt, [P] * batch, steps=steps).float()
        f = f.cpu()
    params = _params_M(f)
    f = f.for_inference(weights).to(device)
    with torch.inference_mode():
        f.sample(tokens, sem, prompt, [P] * batch, steps=1)  # warm-up: one step
    t = median_time(lambda: f.sample(tokens, sem, prompt, [P] * batch, steps=steps), repeats, warmup=0)
    out = {"preset": preset, "steps": steps, "batch": batch, "device": str(device), "weights": weights, "seconds": round(t, 3),
           "rtf": round(t / (batch * seconds), 4), "params_M": params}
    if ref is not None:
        with torch.inference_mode():
            x = f.sample(tokens, sem, prompt, [P] * batch, steps=steps).float()
        out["snr_db"] = round(float(10 * torch.log10(ref.pow(2).mean() / (x - ref).pow(2).mean().clamp(min=1e-20))), 1)
    return out


def measure_acoustic(model: str, device, repeats: int, seconds: float = 10.0, prompt_seconds: float = 3.0, steps: int = 16,
                     warmup: int = 1) -> dict:
    """The model folder's acoustic stage (NAR: one pass per layer; flow: ``steps`` steps) on random first-layer
    tokens, LM states and prompt codes; the codec decode is not included."""
    from dualtts.flow.infer import load_acoustic_stage

    torch.manual_seed(0)
    st = load_acoustic_stage(str(Path(model) / "flow"), device)
    cfg = st.cfg
    P, T = int(prompt_seconds * cfg.frame_rate), int(seconds * cfg.frame_rate)
    tokens = torch.randint(0, cfg.codebook_size, (1, P + T), device=device)
    cond = torch.randn(1, P + T, cfg.cond_dim, device=device) if cfg.cond_dim else None
    if getattr(st, "predicts_codes", False):
        codes = torch.randint(0, cfg.acoustic_codebook_size, (1, cfg.num_quantizers, P + T), device=device)
        codes[:, 0] = tokens
        fn, kind = (lambda: st.sample(codes, P, cond=cond)), "nar"
    else:
        from dualtts.codec.tokenizer import load_tokenizer

        sem = load_tokenizer(f"dualcodec:{Path(model) / 'codec'}", device).embed(tokens[:, None])
        prompt = torch.randn_like(sem)
        fn, kind = (lambda: st.sample(tokens, sem, prompt, [P], cond=cond, steps=steps)), f"flow, {steps} steps"
    t = median_time(fn, repeats, warmup)
    return {"stage": kind, "seconds": round(t, 3), "rtf": round(t / seconds, 4), "params_M": _params_M(st)}


# --- end to end ----------------------------------------------------------------------------------
def measure_e2e(model: str | None, sentences: int, device, repeats: int, steps: int = 16, warmup: int = 1,
                sampling: dict | None = None) -> dict:
    """Streaming synthesis of the first ``sentences`` of :data:`SENTENCES` with the model's default voice:
    RTF, time to first audio (prompt encoding included), after ``warmup`` other sentences. ``sampling``: settings
    for :meth:`Synthesizer.synthesize_stream` (``candidates``, ``good_enough``, ``round_size``); None: the model's."""
    from dualtts.synthesizer import Synthesizer

    tts = Synthesizer.from_pretrained(model, device=str(device))
    text = " ".join(SENTENCES[:sentences])
    sampling = sampling or {}
    for _ in range(warmup):
        list(tts.synthesize_stream(SENTENCES[-1], steps=steps, **sampling))
    stats = []
    for _ in range(repeats):
        list(tts.synthesize_stream(text, seed=0, steps=steps, **sampling))
        stats.append(dict(tts.stats))
    med = lambda k: statistics.median(s[k] for s in stats)
    return {"chars": len(text), "sentences": sentences, "audio_s": med("seconds"), "wall_s": med("wall_s"), "rtf": med("rtf"),
            "ttfa_s": med("ttfa_s")}


def published_random(sizes: str, device) -> "PublishedSynthesizer":
    """The published DualCodec TTS pipeline with random weights (speed only): AR, NAR and codec (its w2v-BERT 2.0
    too) at the published sizes (``"published"``) or tiny ones with the real vocabularies (``"tiny"``)."""
    from dualtts.codec.config import PRESETS, DualCodecConfig
    from dualtts.codec.model import DualCodec
    from dualtts.published import load_text_frontend
    from dualtts.synthesizer import PublishedSynthesizer
    from dualtts.flow.valle_nar import ReferenceNAR, get_reference_nar_config
    from dualtts.lm.reference_ar import ReferenceAR, get_reference_ar_config

    torch.manual_seed(0)
    tiny = sizes == "tiny"
    ar = ReferenceAR(get_reference_ar_config(sizes, **dict(text_vocab_size=51866, codebook_size=16384) if tiny else {}))
    nar = ReferenceNAR(get_reference_nar_config(sizes))
    w2v = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_depthwise_kernel_size=7) if tiny \
        else dict(hidden_size=1024, num_hidden_layers=17, num_attention_heads=16, intermediate_size=4096, conv_depthwise_kernel_size=31)
    small = dict(encoder_dim=4, latent_dim=64, decoder_dim=32, semantic_dim=32, semantic_layers=2) if tiny else {}
    codec_cfg = PRESETS["reference-12hz"]().to_dict()  # w2v-BERT 2.0's sizes, the 17 layers read (hidden state 17)
    codec_cfg["ssl"].update(source="random", config=w2v, **dict(layer=2, dim=64) if tiny else {})
    codec = DualCodec(DualCodecConfig.from_dict({**codec_cfg, **small})).eval().to(device)
    half = torch.float16 if torch.device(device).type == "cuda" else None
    ar, nar = (m.to(device, half).eval() if half else m.to(device).eval() for m in (ar, nar))
    ar.set_text_frontend(load_text_frontend(ar.cfg.tokenizer))
    return PublishedSynthesizer(ar, nar, codec, "en", device)


def measure_published(sentences: int, device, repeats: int, sizes: str = "published", warmup: int = 1) -> dict:
    """The published pipeline (:func:`published_random`) streaming the first ``sentences`` of :data:`SENTENCES` with
    the shipped model's voice prompt: RTF and time to first audio. Random weights rarely say eos, so each sentence
    gets a fixed 12.5 tokens per 15 characters (about the speaking rate)."""
    from dualtts.model_path import default_model_dir

    default_dir = default_model_dir()

    tts = published_random(sizes, device)
    prompt, prompt_text = str(default_dir / "prompt.wav"), (default_dir / "prompt.txt").read_text(encoding="utf-8").strip()
    text = " ".join(SENTENCES[:sentences])
    n = round(12.5 * len(text) / sentences / 15)
    kw = dict(prompt=prompt, prompt_text=prompt_text, min_new_tokens=n, max_new_tokens=n)
    for _ in range(warmup):
        list(tts.synthesize_stream(SENTENCES[-1], **kw))
    stats = []
    for _ in range(repeats):
        list(tts.synthesize_stream(text, seed=0, **kw))
        stats.append(dict(tts.stats))
    med = lambda k: statistics.median(s[k] for s in stats)
    return {"sizes": sizes, "chars": len(text), "sentences": sentences, "tokens_per_sentence": n, "audio_s": med("seconds"),
            "wall_s": med("wall_s"), "rtf": med("rtf"), "ttfa_s": med("ttfa_s"), "params_M": _params_M(tts.lm) + _params_M(tts.flow)}


# --- one run of everything -----------------------------------------------------------------------
FULL = dict(seconds=10.0, repeats=3, warmup=1, lm_new=125, lm_phonemes=150, lm_prompt=38, flow_preset="base",
            e2e_sentences=[1, 2, 4, 8], e2e_repeats=2, published="published")
QUICK = dict(seconds=0.5, repeats=1, warmup=0, lm_new=12, lm_phonemes=20, lm_prompt=6, flow_preset="tiny",
             e2e_sentences=[1, 2], e2e_repeats=1, published="tiny")
# our codecs at each frame rate (trained checkpoints, else the preset with random weights); the model's own replaces its rate's
OUR_CODECS = {12.5: (ROOT / "recipes/mini/checkpoints/tiny-12hz-3h", "tiny-12hz"),
              25.0: (ROOT / "recipes/mini/checkpoints/dualtts-mini/codec", "tiny-25hz")}


def _ratio(a, b):
    return round(a / b, 3) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0 else None


def run(parts, model: str | None, threads: int, device, out_dir, quick: bool = False, log=print) -> dict:
    """Measure ``parts`` (codec, lm, flow, e2e; published: optional) and write ``bench.json``, ``e2e_speed.json`` (e2e), the
    ``rtf_16_steps`` of ``flow_speed.json`` (flow; its other fields kept), ``RESULTS.md`` and PNG plots
    (:mod:`dualtts.bench_report`)."""
    import json

    from dualtts.data.atomic import write_text_atomic
    from dualtts.model_path import default_model_dir

    default_dir = default_model_dir()

    S, device, out = QUICK if quick else FULL, torch.device(device), Path(out_dir)
    model = str(model or default_dir)
    # spawn, not fork: a fork of a process whose torch/OpenMP threads have run can deadlock on their locks (seen in
    # the test suite), and CUDA cannot be forked; each child pays a fresh import instead
    method = "spawn"
    iso = lambda fn, *args: run_isolated(fn, threads, *args, method=method)
    setup = {**machine(threads, full=True, method=method), "device": str(device), "model": model, "quick": quick, "sizes": S,
             "anchors": "Mimi (8 layers) and EnCodec 24 kHz (6 kbps) from their default transformers configs, random weights: "
                        "speed only", "process": method, "parent_rss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    res: dict = {"setup": setup, "ratios": {}}
    log(json.dumps(res["setup"]))

    def step(part, name, fn, *args):
        r = iso(fn, *args)
        log(f"{part} {name}: {json.dumps(r)}")
        res.setdefault(part, {})[name] = r
        return r

    if "codec" in parts:
        from dualtts.codec.config import get_config

        ours = {f"dualcodec_{r:g}hz": f"dualcodec:{ck}" if (ck / "model.safetensors").is_file() else preset
                for r, (ck, preset) in OUR_CODECS.items()}
        cc = get_config(str(Path(model) / "codec"))
        setup["model_codec"] = f"dualcodec_{cc.sample_rate / cc.hop_length:g}hz"
        ours[setup["model_codec"]] = f"dualcodec:{Path(model) / 'codec'}"
        for name, spec in {**ours, "mimi": "mimi", "encodec": "encodec"}.items():
            step("codec", name, measure_codec, spec, 1, S["seconds"], S["repeats"], device, S["warmup"])
        c = res["codec"]
        for name in ours:
            for op in ("encode", "decode"):
                for anchor in ("mimi", "encodec"):
                    res["ratios"][f"{name}_{op}_vs_{anchor}"] = _ratio(c[name].get(f"{op}_rtf"), c[anchor].get(f"{op}_rtf"))
    if "lm" in parts:
        lm_dir = str(Path(model) / "lm")
        for w in ("none", "int8") if device.type == "cpu" else ("none",):
            step("lm", f"model_lm_{'fp32' if w == 'none' else w}", measure_lm, lm_dir, w, 1, device, S["repeats"], S["lm_new"],
                 S["lm_phonemes"], S["lm_prompt"], S["warmup"])
    if "flow" in parts:
        step("flow", "model_acoustic", measure_acoustic, model, device, S["repeats"], S["seconds"], min(3.0, S["seconds"]), 16,
             S["warmup"])
        r = step("flow", f"flow_{S['flow_preset']}_16_steps", measure_flow, S["flow_preset"], 16, 1, device, S["repeats"],
                 S["seconds"], min(3.0, S["seconds"]))
        rb = step("flow", f"flow_{S['flow_preset']}_16_steps_bf16", measure_flow, S["flow_preset"], 16, 1, device, S["repeats"],
                  S["seconds"], min(3.0, S["seconds"]), 12.5, "bf16")
        res["ratios"]["model_acoustic_vs_flow_16_steps"] = _ratio(res["flow"]["model_acoustic"].get("rtf"), r.get("rtf"))
        res["ratios"]["flow_16_steps_bf16_vs_fp32"] = _ratio(rb.get("rtf"), r.get("rtf"))
        if "rtf" in r:
            path, key = out / "flow_speed.json", "rtf_16_steps" if device.type == "cpu" else "rtf_16_steps_gpu"
            d = json.loads(path.read_text()) if path.is_file() else {}
            d[key] = r["rtf"]
            if "rtf" in rb:
                d[f"{key}_bf16"], d[f"snr_db_bf16{key[12:]}"] = rb["rtf"], rb.get("snr_db")
            d[f"{key}_by"] = {"command": "dualtts bench", "preset": S["flow_preset"], "speech_seconds": S["seconds"], "quick": quick,
                              **{k: res["setup"][k] for k in ("threads", "cpu", "date", "commit")}}
            out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, json.dumps(d, indent=1))
    if "e2e" in parts:
        rows = [step("e2e", f"sentences_{n}", measure_e2e, model, n, device, S["e2e_repeats"], 16, S["warmup"])
                for n in S["e2e_sentences"]]
        ok = [r for r in rows if "rtf" in r]
        if ok:
            e2e = {"rtf": round(sum(r["wall_s"] for r in ok) / sum(r["audio_s"] for r in ok), 4),
                   "ttfa_s": round(statistics.median(r["ttfa_s"] for r in ok), 3), "threads": threads, "device": str(device),
                   "mode": "streaming (sentence by sentence), the model's default voice, 16 steps",
                   "note": "rtf: all lengths together (sum of wall / sum of audio); ttfa_s: median over lengths",
                   "machine": {k: res["setup"].get(k) for k in ("cpu", "cores", "gpu", "torch", "date", "commit")},
                   "model": model, "quick": quick, "by_length": rows}
            res["e2e_summary"] = {k: e2e[k] for k in ("rtf", "ttfa_s")}
            old = out / "e2e_speed.json"
            if old.is_file() and "settings" in json.loads(old.read_text()):  # recipes/bench/e2e_tradeoff.py's, kept
                e2e["settings"] = json.loads(old.read_text())["settings"]
            out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out / "e2e_speed.json", json.dumps(e2e, indent=1))
    if "published" in parts:  # optional: the published DualCodec TTS, random weights (dualtts.published)
        for n in S["e2e_sentences"][:2]:
            step("published", f"sentences_{n}", measure_published, n, device, S["e2e_repeats"], S["published"], S["warmup"])
    anchor = res.get("codec", {}).get("mimi", {}).get("decode_rtf")
    for name, rtf in [(f"lm_{k}", v.get("rtf")) for k, v in res.get("lm", {}).items()] + \
                     [(f"acoustic_{k}", v.get("rtf")) for k, v in res.get("flow", {}).items()] + \
                     [("e2e", res.get("e2e_summary", {}).get("rtf"))]:
        if rtf is not None and anchor:
            res["ratios"][f"{name}_rtf_vs_mimi_decode"] = _ratio(rtf, anchor)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "bench.json", json.dumps(res, indent=1))
    from dualtts.bench_report import write_report

    write_report(res, out)
    return res
