"""Regenerate the figures in README.md and docs/*.md from the committed result files.

    python scripts/gen_docs.py           # rewrite every generated section in place
    python scripts/gen_docs.py --check   # exit 1 (and name the sections) if any differs from what would be written

A generated section is whatever lies between ``<!-- gen:NAME -->`` and ``<!-- /gen:NAME -->``; NAME is one of
``SECTIONS`` below, each a function of the committed JSON files (recipes/mini/results.json, recipes/bench/*.json,
recipes/compare/results.json, ...). Text outside the markers is written by hand and holds no measured figures;
tables that cannot be regenerated (old runs whose JSON was never committed) live in docs/results.md as history,
each with its source file. A key a result file lacks shows as "not measured yet".
"""
from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MISSING = "not measured yet"
MARK = re.compile(r"(<!-- gen:(?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /gen:(?P=name) -->)", re.S)


def load(rel: str):
    return json.loads((ROOT / rel).read_text(encoding="utf-8"))


def f(x, digits: int = 3, missing: str = "–") -> str:
    """A number with ``digits`` decimals; ``missing`` for None."""
    if x is None:
        return missing
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return f"{x:.{digits}f}"
    return str(x)


def m(d: dict, key: str, digits: int = 3) -> str:
    """A measured figure of a results dict, or "not measured yet"."""
    return f(d.get(key), digits, MISSING)


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _first_path(row: dict) -> str:
    """The file a default-setting row came from: the first path its ``source`` names."""
    src = row.get("source") or "recipes/bench/e2e_tradeoff.json"
    found = re.search(r"[\w./-]+\.json|exp/[\w./-]+", src)
    return found.group(0) if found else src


def commit(c: str | None) -> str:
    return f"`{c[:7]}`" if c else "–"


# --- the default model (recipes/mini/results.json) -------------------------------------------------------------------

def model_card() -> str:
    d = load("recipes/mini/results.json")
    n = d.get("clips")
    rows = [
        ["held-out set: engine voices it never heard saying Harvard sentences it never saw", f"{n}",
         f"**{m(d, 'wer')}**", f"**{m(d, 'sim')}**"],
        ["the same clips, the engines' own recordings (the ceiling)", f"{n}", m(d, "ground_truth_wer"), "–"],
        ["the same clips through the model's codec alone (all 8 layers)", f"{n}", m(d, "codec_wer"), m(d, "codec_sim")],
        ["everyday sentences it never saw, default voice (`natural_wer`)", "", m(d, "natural_wer"), "–"],
        ["the same everyday sentences said by the speech engines (`engines_natural_wer`)", "",
         m(d, "engines_natural_wer"), "–"],
        ["real recorded voices as prompts (`real_prompt_wer`, `real_prompt_sim`: to the speaker's other clips)", "",
         m(d, "real_prompt_wer"), m(d, "real_prompt_sim")],
        ["the same sentences in the default voice (`real_prompt_default_wer`, `real_prompt_default_sim`)", "",
         m(d, "real_prompt_default_wer"), m(d, "real_prompt_default_sim")],
    ]
    dflt = d.get("default_sampling")
    if dflt:  # the row above is best of 16; the model synthesizes with fewer candidates by default (issue 31)
        rows.insert(1, [f"the same set at the default setting ({dflt['setting']}; `{_first_path(dflt)}`)",
                        f"{n}", f(dflt.get("wer_held_out")), "–"])
    s = d.get("rtf_setup", {})
    out = table(["test set", "clips", "WER ↓", "SIM ↑"], rows)
    at = f"at best of {s['candidates']}, the default" if s.get("candidates") else d.get("lm_sampling", "see results.json")
    out += (f"\nDNSMOS {m(d, 'dnsmos')} (recordings {m(d, 'ground_truth_dnsmos')}); real-time factor {m(d, 'rtf')} on "
            f"{s.get('threads', '?')} CPU threads ({at}); WER and SIM rows: {d.get('lm_sampling', 'see results.json')}; "
            f"{f(d.get('model_MB'), 1)} MB of fp16 weights. WER: Whisper base; SIM: resemblyzer speaker similarity (on the "
            f"held-out set: to the target speaker's own recording of the sentence). Source: `recipes/mini/results.json` "
            f"(commit {commit(d.get('commit'))}; the full table: "
            "[docs/results.md](docs/results.md#the-default-model-dualtts-mini)).\n")
    if dflt:
        how = (f"keeps the best of {dflt['candidates']} LM samples" if dflt.get("good_enough") is None else
               f"samples up to {dflt['candidates']} LM candidates in rounds of {dflt['round_size']}, stopping once the "
               f"reader scores one at or below {dflt['good_enough']}")
        out += (f"\nBy default it {how} (`--candidates 16` is the first row): "
                f"streaming RTF {f(dflt.get('rtf'))} and {f(dflt.get('ttfa_s'))} s to the first audio on 2 threads "
                "([docs/benchmarks.md](docs/benchmarks.md#words-against-speed-best-of-n-settings)).\n")
    if d.get("natural_wer") is None and d.get("real_prompt_wer") is None:
        out += ("\nOn everyday sentences and real recorded voices it has not been measured yet "
                "(`recipes/mini/generalize_eval.py` scores both); expect it to do worse there than on the held-out set, "
                "whose sentences are of the kinds it was trained on.\n")
    else:
        out += (f"\nOutside its training distribution: WER {m(d, 'natural_wer')} on everyday sentences in the default "
                f"voice (the engines saying them: {m(d, 'engines_natural_wer')}; the held-out set: {m(d, 'wer')}), and "
                f"{m(d, 'real_prompt_wer')} with real recorded voices as prompts, at SIM {m(d, 'real_prompt_sim')} to "
                f"those speakers (the default voice: {m(d, 'real_prompt_default_sim')}).\n")
    return out


def speak_results() -> str:
    d = load("recipes/mini/results.json")
    p, one = d.get("previous_model", {}), d.get("single_sample", {})
    rows = [
        ["ground truth (the engines' recordings)", m(d, "ground_truth_wer"), "–", "–", "–", m(d, "ground_truth_dnsmos")],
        ["codec resynthesis (shipped, fp16), all 8 layers", m(d, "codec_wer"), m(d, "codec_sim"), m(d, "codec_stoi"),
         m(d, "codec_pesq"), "–"],
        ["codec resynthesis, first layer only", m(d, "codec_first_layer_wer"), "–", m(d, "codec_first_layer_stoi"), "–",
         "–"],
        ["true first-layer tokens + the NAR + its tuned decoder (previous model)", m(p, "true_tokens_acoustic_stage_wer"),
         "–", "–", "–", "–"],
        ["true first-layer tokens + the NAR + its tuned decoder reading the LM's states",
         m(d, "true_tokens_acoustic_stage_wer"), m(d, "true_tokens_acoustic_stage_sim"), "–", "–", "–"],
        ["TTS: LM tokens, semantic-only decoding (best of 16)", m(d, "semantic_only_wer"), m(d, "semantic_only_sim"),
         "–", "–", "–"],
        ["TTS: LM tokens, semantic-only decoding (one sample)", m(one, "semantic_only_wer"), m(one, "semantic_only_sim"),
         "–", "–", "–"],
        ["previous model (git 9bb3749): best of 16 LM samples + NAR + tuned decoder", m(p, "wer"), m(p, "sim"), "–", "–", m(p, "dnsmos")],
        ["TTS, one LM sample (`--candidates 1`)", m(one, "wer"), m(one, "sim"), "–", "–", m(one, "dnsmos")],
        ["TTS: best of 16 LM samples + NAR + tuned decoder reading the LM's states (`--candidates 16`)",
         m(d, "wer"), m(d, "sim"), "–", "–", m(d, "dnsmos")],
    ]
    ds = d.get("default_sampling")
    if ds:
        rows.append([f"**TTS at the default setting, {ds['setting']} (what `Synthesizer` does; another draw: "
                     f"{_first_path(ds)})**", f"**{f(ds.get('wer_held_out'))}**", "–", "–", "–", "–"])
    out = table([f"decoded ({d.get('clips')} held-out clips: unseen voices, unseen sentences)", "WER", "SIM", "STOI",
                 "PESQ", "DNSMOS"], rows)
    out += "\n" + table(["LM (teacher-forced, first 400 utterances of each split)", "train", "dev (unseen speakers)",
                         "test (unseen speakers and sentences)"],
                        [["next-token top-1", m(d, "lm_train_top1"), m(d, "lm_val_top1"), m(d, "lm_test_top1")],
                         ["NLL (nats/token)", m(d, "lm_train_nll"), m(d, "lm_val_nll"), m(d, "lm_test_nll")]])
    s = d.get("rtf_setup", {})
    out += (f"\nReal-time factor of the whole pipeline: {m(d, 'rtf')} ({s.get('threads')} threads, "
            f"{s.get('audio_s')} s of audio). LM sampling: {d.get('lm_sampling')}. Acoustic stage: {d.get('acoustic_stage')}. "
            f"Source: `recipes/mini/results.json` (commit {commit(d.get('commit'))}).\n")
    return out


def speak_stages() -> str:
    d = load("recipes/mini/results.json")
    st = d.get("stage_wall_s", {})
    rows = [[k, f(v / 60, 0)] for k, v in st.items()]
    out = table(["training stage (2 CPU cores)", "minutes"], rows)
    out += (f"\nAll training: {f(d.get('train_wall_s', 0) / 3600, 1)} h, counting the earlier chains the shipped "
            f"stages continued (`recipes/mini/results.json`, `stage_wall_s`, `train_wall_s`).\n")
    return out


def tts_mini() -> str:
    d = load("recipes/mini/tts_results.json")
    rows = [[r["decoded"], str(r["n"]), f(r.get("wer")), f(r.get("nll")), f(r.get("sim")), f(r.get("stoi"))]
            for r in d["rows"]]
    out = table(["decoded", "n", "WER", "NLL", "SIM", "STOI"], rows)
    prs = [[f"{p['system']} − {p['baseline']}", p["metric"], f"{p['mean']:+.3f}",
            f"{p['ci95'][0]:+.3f} to {p['ci95'][1]:+.3f}", f"{p['wins']}/{p['n']}"] for p in d["paired"]]
    out += "\nPaired per clip (95 % bootstrap CI):\n\n" + table(["difference", "metric", "mean", "95 % CI", "higher on"], prs)
    dev = [[f(r["temperature"], 1), str(r["n"]), f(r["sim"]), f(r["stoi"])] for r in d.get("dev_temperature", [])]
    if dev:
        out += ("\nThe flow's starting-noise temperature on the 2 dev speakers (chosen: "
                f"{f(d.get('temperature'), 1)}):\n\n" + table(["temperature", "n", "SIM", "STOI"], dev))
    out += "\nSource: `recipes/mini/tts_results.json`.\n"
    return out


# --- the codec --------------------------------------------------------------------------------------------------------

def _codec_rows(rows: list[dict], cols: list[str], extra: list[str] = ()) -> list[list[str]]:
    """One row per (codec, layers); the codec's name and settings only on its first row."""
    out, last = [], None
    for r in rows:
        first = r["codec"] != last
        last = r["codec"]
        out.append([r["codec"] if first else "", *[str(r.get(k, "-")) if first else "" for k in extra], r["layers"],
                    str(r["n"])] + [f(r.get(k)) for k in cols])
    return out


def codec_mini() -> str:
    rows = load("recipes/mini/codec_results.json")
    cols = ["wer", "stoi", "pesq", "mel", "sim"]
    out = table(["codec", "steps", "layers", "n", "WER", "STOI", "PESQ", "mel", "SIM"],
                _codec_rows(rows, cols, extra=["steps"]))
    return out + "\nSource: `recipes/mini/codec_results.json`.\n"


def streams() -> str:
    rows = load("recipes/mini/streams.json")
    body = []
    for r in rows:
        first = r["layers"] in ("-", "all")
        body.append([r["codec"] if first else "", str(r.get("steps", "-")) if first else "",
                     f(r.get("train_min"), 1) if first else "", f(r.get("train_steps_per_s"), 2) if first else "",
                     f(r.get("decode_rtf"), 4) if first else "", r["layers"], f(r.get("wer")), f(r.get("nll")),
                     f(r.get("stoi")), f(r.get("pesq")), f(r.get("mel")), f(r.get("sim"))])
    out = table(["codec", "steps", "train min", "steps/s", "decode RTF", "layers", "WER", "NLL", "STOI", "PESQ", "mel", "SIM"],
                body)
    by = {(r["codec"], r["layers"]): r for r in rows}
    sp, dac = by.get(("codec-12hz", "all")), by.get(("codec-12hz-dac", "all"))
    if sp and dac:
        out += (f"\nIn equal CPU time the spectral stream took {sp['steps'] / dac['steps']:.1f}× the steps; with all layers "
                f"it ends at mel distance {sp['mel'] - dac['mel']:+.2f}, NLL {sp['nll'] - dac['nll']:+.2f}, PESQ "
                f"{sp['pesq'] - dac['pesq']:+.3f}, SIM {sp['sim'] - dac['sim']:+.3f} and STOI {sp['stoi'] - dac['stoi']:+.3f} "
                f"against the DAC-style stream, whose training took {100 * (1 - dac['train_min'] / sp['train_min']):.0f} % "
                f"less time and whose decoder is {dac['decode_rtf'] / sp['decode_rtf']:.0f}× slower.\n")
    t = load("recipes/mini/streams_train_speed.json")
    out += ("\nTraining speed measured first in the same run (batch 8 × 0.96 s, steps/s mel-only / with the discriminators): "
            + ", ".join(f"`{k}` {f(v['mel_only_steps_per_s'], 2)} / {f(v['gan_steps_per_s'], 2)}"
                        for k, v in t.items() if k != "setup")
            + ". Source: `recipes/mini/streams.json`, `recipes/mini/streams_train_speed.json`.\n")
    return out


CODEC_NAMES = {"12hz": "12hz (DAC stream)", "25hz": "25hz (DAC stream)", "12hz-istft": "12hz-istft",
               "tiny-12hz": "tiny-12hz", "tiny-25hz": "tiny-25hz", "mimi": "Mimi (default config, 8 layers)",
               "encodec_24khz": "EnCodec 24 kHz (6 kbps)"}


def codec_speed() -> str:
    d = load("recipes/bench/codec_speed.json")
    rows = []
    for k, v in d["codecs"].items():
        b1, b8 = v["batch1"], v.get("batch8", {})
        params = b1.get("params_without_ssl_M", b1.get("params_M"))
        rows.append([CODEC_NAMES.get(k, k), f"{f(params, 1)}M", f"{f(b1['encode_rtf'], 4)} / {f(b8.get('encode_rtf'), 4)}",
                     f"{f(b1['decode_rtf'], 4)} / {f(b8.get('decode_rtf'), 4)}", f(b1.get("peak_rss_MB"), 0)])
    names = {"w2v-bert-2.0-l17": "SSL: w2v-BERT 2.0 to layer 17", "whisper-base-ct2": "SSL: Whisper base (offline teacher)"}
    for k, v in d.get("ssl", {}).items():
        b1 = v["batch1"]
        rows.append([names.get(k, k), f"{f(b1['params_M'], 1)}M", f"{f(b1['encode_rtf'], 4)} / -", "-", f(b1["peak_rss_MB"], 0)])
    out = table(["model", "params", "encode RTF b1 / b8", "decode RTF b1 / b8", "peak RSS b1 (MB)"], rows)
    s = d["setup"]
    t = load("recipes/bench/codec_train_speed.json")
    out += (f"\n{s['threads']} threads, {f(s['seconds'], 0)} s of audio, {s['weights']}; {s['note']}. Decode time relative "
            f"to Mimi in the same run (batch 1): 12hz (DAC stream) {f(d['ratio_decode_vs_mimi'])}×, 12hz-istft "
            f"{f(d['ratio_decode_vs_mimi_12hz_istft'])}×, tiny-12hz {f(d['ratio_decode_vs_mimi_tiny12hz'])}×. "
            "Training speed at tiny size (batch " + t["setup"]["batch"] + ", steps/s mel-only / with the discriminators): "
            + ", ".join(f"`{k}` {f(v['mel_only_steps_per_s'], 2)} / {f(v['gan_steps_per_s'], 2)}"
                        for k, v in t.items() if k != "setup")
            + ". Source: `recipes/bench/codec_speed.json`, `recipes/bench/codec_train_speed.json`.\n")
    return out


# --- the TTS stages ---------------------------------------------------------------------------------------------------

def lm_speed() -> str:
    d = load("recipes/bench/lm_speed.json")
    by = {}
    for r in d["runs"]:
        by.setdefault(r["weights"], {})[r["batch"]] = r
    names = {"none": "fp32", "bf16": "bf16", "int8": "int8 (dynamic Linear)"}
    rows = [[names.get(w, w), f(v.get(1, {}).get("tokens_per_s"), 1), f(v.get(8, {}).get("tokens_per_s"), 1),
             f(v.get(1, {}).get("prefill_tokens_per_s"), 0), f(v.get(1, {}).get("ms_per_step"), 2),
             f(v.get(1, {}).get("peak_rss_MB"), 0)] for w, v in by.items()]
    s = d["setup"]
    out = table(["weights", "tokens/s batch 1", "tokens/s batch 8 (all rows)", "prefill tokens/s", "ms per step (b1)",
                 "peak RSS (MB)"], rows)
    return out + (f"\n`{s['preset']}` preset, {s['weights']}, {s['threads']} CPU threads, {s['prompt_phonemes']} phonemes + "
                  f"{s['prompt_tokens']} prompt tokens, {s['new_tokens']} new tokens. Source: `recipes/bench/lm_speed.json`.\n")


def flow_speed() -> str:
    d = load("recipes/bench/flow_speed.json")
    rows = [[r["preset"], f"{f(r['params_M'], 1)}M", str(r["steps"]), str(r["batch"]), f(r["rtf"], 4), f(r["peak_rss_MB"], 0)]
            for r in d["runs"]]
    s = d["setup"]
    out = table(["preset", "params", "steps", "batch", "RTF", "peak RSS (MB)"], rows)
    by = d.get("rtf_16_steps_by", {})
    out += (f"\n{s['weights']}, {s['threads']} CPU threads, {f(s['speech_seconds'], 0)} s of speech + a "
            f"{f(s['prompt_seconds'], 0)} s prompt in context, {s['solver']}, CFG {s['cfg']}. A later run "
            f"(`{by.get('command', 'dualtts bench')}`, {by.get('date', '?')}, commit {commit(by.get('commit'))}): `base` at "
            f"16 steps RTF {f(d.get('rtf_16_steps'), 4)} in fp32 and {f(d.get('rtf_16_steps_bf16'), 4)} with bf16 weights "
            f"(output {f(d.get('snr_db_bf16'), 1)} dB SNR from fp32's). Source: `recipes/bench/flow_speed.json`.\n")
    return out


# --- benchmarks -------------------------------------------------------------------------------------------------------

def bench() -> str:
    b = load("recipes/bench/bench.json")
    s = b["setup"]
    out = (f"`dualtts bench` on {s['cpu']}, {s['threads']} threads, torch {s['torch']}, {s['date']}, commit "
           f"{commit(s['commit'])} (`recipes/bench/bench.json`). Codec: {f(s['sizes']['seconds'], 0)} s of audio, batch 1, "
           "encode including the SSL front end; Mimi and EnCodec with random weights (speed only).\n\n")
    rows = [[k, f(v.get("frame_rate"), 1), str(v.get("layers")), f(v.get("params_M"), 2), f(v.get("encode_rtf"), 4),
             f(v.get("decode_rtf"), 4), f(v.get("peak_rss_MB"), 0)] for k, v in b["codec"].items()]
    out += table(["codec", "frame rate (Hz)", "layers", "params (M)", "encode RTF", "decode RTF", "peak RSS (MB)"], rows)
    r = b["ratios"]
    out += (f"\nDecode time against Mimi: the model's 25 Hz codec {f(r.get('dualcodec_25hz_decode_vs_mimi'))}×, the 12.5 Hz "
            f"one {f(r.get('dualcodec_12.5hz_decode_vs_mimi'))}×; against EnCodec "
            f"{f(r.get('dualcodec_25hz_decode_vs_encodec'))}× and {f(r.get('dualcodec_12.5hz_decode_vs_encodec'))}×.\n\n")
    rows = [[k, f(v.get("params_M"), 2), f(v.get("tokens_per_s"), 1), f(v.get("prefill_tokens_per_s"), 0), f(v.get("rtf"), 4),
             f(v.get("peak_rss_MB"), 0)] for k, v in b["lm"].items()]
    z = s["sizes"]
    out += (f"The LM of the default model at that commit (an earlier one than the shipped model) generating exactly "
            f"{z['lm_new']} tokens after {z['lm_phonemes']} phonemes + {z['lm_prompt']} prompt tokens, batch 1:\n\n"
            + table(["LM", "params (M)", "tokens/s", "prefill tokens/s", "RTF", "peak RSS (MB)"], rows))
    fl = load("recipes/bench/flow_speed.json")
    by = fl.get("rtf_16_steps_by", {})
    nar = b["flow"]["model_acoustic"]
    out += (f"\nAcoustic stage, {f(s['sizes']['seconds'], 0)} s of speech after a prompt: that model's NAR RTF "
            f"{f(nar['rtf'], 4)} ({f(nar['params_M'], 2)}M); the flow `base` preset at 16 steps RTF "
            f"{f(fl.get('rtf_16_steps'), 4)} in fp32 and {f(fl.get('rtf_16_steps_bf16'), 4)} with bf16 weights "
            f"({by.get('date', '?')}, `recipes/bench/flow_speed.json`).\n\n")
    e = load("recipes/bench/e2e_speed.json")
    em = e.get("machine", {})
    rows = [[str(x["sentences"]), str(x["chars"]), f(x["audio_s"], 2), f(x["rtf"], 3), f(x["ttfa_s"], 3), f(x["peak_rss_MB"], 0)]
            for x in e["by_length"]]
    out += (f"End to end with the shipped model, {e['mode']}, {e['threads']} threads ({em.get('date')}, commit "
            f"{commit(em.get('commit'))}, `recipes/bench/e2e_speed.json`): **RTF {f(e['rtf'], 4)}**, **time to first audio "
            f"{f(e['ttfa_s'], 3)} s** ({e['note']}).\n\n")
    out += table(["sentences", "characters", "audio (s)", "RTF", "TTFA (s)", "peak RSS (MB)"], rows)
    p = load("recipes/bench/published_speed.json")
    ps = p["setup"]
    rows = [[str(x["sentences"]), str(x["chars"]), str(x["tokens_per_sentence"]), f(x["audio_s"], 2), f(x["rtf"], 3),
             f(x["ttfa_s"], 3), f(x["peak_rss_MB"], 0)] for x in p["published"].values()]
    params = next(iter(p["published"].values()))["params_M"]
    out += (f"\nThe published `amphion/dualcodec-tts` on this stack with random weights of its real size ({f(params, 1)}M "
            f"parameters; `dualtts bench --parts published`, {ps['threads']} threads, fp32, {ps['date']}, commit "
            f"{commit(ps['commit'])}, `recipes/bench/published_speed.json`), each sentence held to a fixed token count:\n\n")
    out += table(["sentences", "characters", "tokens / sentence", "audio (s)", "RTF", "TTFA (s)", "peak RSS (MB)"], rows)
    return out


TRAIN_MODES = [("fp32", "fp32 steps/s"), ("bf16", "bf16"), ("cached_teacher", "teacher cache"), ("compiled", "compiled"),
               ("cached_compiled", "cache + compiled")]


def e2e_tradeoff() -> str:
    path = ROOT / "recipes/bench/e2e_tradeoff.json"
    if not path.is_file():
        return "Not measured yet (`recipes/bench/e2e_tradeoff.py`).\n"
    d = load("recipes/bench/e2e_tradeoff.json")
    t, mc = d["targets"], d.get("machine", {})
    b = load(d["model"] + "/bundle.json") if (ROOT / d["model"] / "bundle.json").is_file() else {}
    default = {"candidates": b.get("candidates")} | ({"good_enough": b["good_enough"], "round_size": b.get("round_size", 4)}
                                                    if b.get("good_enough") is not None else {})
    is_default = lambda r: {k: r.get(k) for k in default} == default and (r.get("good_enough") is None) == ("good_enough" not in default)
    rows = [[("**" + r["setting"] + "**") if is_default(r) else r["setting"], f(r.get("mean_candidates_held_out"), 2),
             f(r.get("wer_held_out")), f(r.get("wer_natural")), f(r.get("rtf")), f(r.get("ttfa_s")),
             "yes" if r.get("meets_targets") else "no"] for r in d["settings"]]
    return (f"Best-of-N settings of the default model (`{d['model']}`) on {mc.get('cpu', 'CPU')}, {mc.get('threads')} threads, "
            f"{mc.get('date', '')}, commit {commit(mc.get('commit'))} (`recipes/bench/e2e_tradeoff.json`, "
            f"`e2e_tradeoff.png`): WER on the {d.get('held_out_clips')} held-out clips"
            + (f" and on {nat} natural sentences" if (nat := max((r.get("natural_n") or 0 for r in d["settings"]), default=0)) else "")
            + f", streaming RTF and time to first audio ({d['mode']}). Targets: RTF <= {t['rtf']}, TTFA <= {t['ttfa_s']} s, held-out WER <= "
            f"{t['wer_held_out']}. The default is in bold.\n\n"
            + table(["setting", "candidates sampled (mean)", "WER held-out", "WER natural", "RTF", "TTFA (s)", "meets targets"], rows))


def train_speed() -> str:
    d = load("recipes/bench/train_speed.json")
    rows = []
    for stage in ("codec", "lm", "flow"):
        st = d[stage]
        cells = [stage]
        for mode, _ in TRAIN_MODES:
            r = st.get(mode)
            if not r or "steps_per_s" not in r:
                cells.append("–")
                continue
            c = f(r["steps_per_s"], 2)
            if mode != "fp32":
                c += f" ({f(r['speedup'], 2)}×"
                c += f", first step {f(r['first_step_s'], 0)} s)" if r.get("compiled") else ")"
            cells.append(c)
        best = st.get("best", {})
        cells.append(f"{best.get('mode')}: {f(best.get('speedup'), 2)}×, loss {100 * best.get('loss_vs_fp32', 0):+.1f} %")
        rows.append(cells)
    s = d["setup"]
    out = table(["stage (mini preset)"] + [h for _, h in TRAIN_MODES] + ["best (loss vs fp32)"], rows)
    return out + (f"\n{s['threads']} threads, {s['steps']} steps each, native bf16: {s['native_bf16']}; {s['note']}. "
                  "Source: `recipes/bench/train_speed.json` (it also lists each stage's top operators).\n")


COMPARE_ORDER = ["dc25", "dc12", "mimi", "enc1.5", "enc6", "dc25d", "dc25a"]


def compare() -> str:
    d = load("recipes/compare/results.json")
    g = d["ground_truth"]
    rows = []
    for k in COMPARE_ORDER + [k for k in d["tokenizers"] if k not in COMPARE_ORDER]:
        t = d["tokenizers"].get(k)
        if t is None:
            continue
        q1, a, tts, r = t["codec_first_layer"], t["codec_all_layers"], t["tts"], t.get("rtf", {})
        rows.append([t["name"], f(t["frame_rate"], 1).rstrip("0").rstrip("."), f(t["kbps"], 1),
                     f"{f(q1['wer'])} / {f(q1['nll'])} / {f(q1['stoi'])}", f"{f(a['stoi'])} / {f(a['sim'])}",
                     f"{f(tts['wer'])} / {f(tts['nll'])} / {f(tts['sim'])}",
                     f"{f(r.get('codec_decode'))} / {f(r.get('lm'))}"])
    out = (f"Settings: {d['settings']}; {d['date']}, commit {commit(d['commit'])}; ground truth WER {f(g['wer'])}, NLL "
           f"{f(g['nll'])} ({g['n']} clips).\n\n")
    out += table(["tokenizer", "Hz", "kbps", "codec first layer WER / NLL / STOI", "codec all layers STOI / SIM",
                  "TTS (LM + NAR) WER / NLL / SIM", "RTF decode / LM"], rows)
    ab = d.get("ablation")
    if ab:
        names = {k: v["name"] for k, v in d["tokenizers"].items()}
        rows = [[f"{names[p['first']]} − {names[p['second']]}", p["metric"], f"{p['mean']:+.3f}",
                 f"{p['ci95'][0]:+.3f} to {p['ci95'][1]:+.3f}", f"{p['wins']}/{p['n']}"] for p in ab["paired"]]
        out += "\nThe paper's ablation, paired per clip (first − second):\n\n"
        out += table(["comparison", "metric", "mean", "95 % CI", "first higher on"], rows)
        out += f"\n{ab.get('verdict', '')}\n"
    return out + "\nSource: `recipes/compare/results.json` (the full report: `recipes/compare/RESULTS.md`).\n"


def libritts_hours() -> str:
    d = load("recipes/libritts/hours_estimate.json")
    rows = []
    for rate, stages in d["rates"].items():
        for stage, v in stages.items():
            rng = v.get("range", [None, None])
            dg = 1 if (v.get("hours") or 0) >= 1 else 2
            rows.append([rate, stage, f(v.get("hours"), dg), f"{f(rng[0], dg)}–{f(rng[1], dg)}"])
    out = table(["frame rate", "stage", "hours (estimate)", "range"], rows)
    return out + f"\n{d['what']}. GPU: {d['gpu']}. Source: `recipes/libritts/hours_estimate.json`.\n"


SECTIONS = {
    "model-card": model_card,
    "speak-results": speak_results,
    "speak-stages": speak_stages,
    "tts-mini": tts_mini,
    "codec-mini": codec_mini,
    "streams": streams,
    "codec-speed": codec_speed,
    "lm-speed": lm_speed,
    "flow-speed": flow_speed,
    "bench": bench,
    "train-speed": train_speed,
    "e2e-tradeoff": e2e_tradeoff,
    "compare": compare,
    "libritts-hours": libritts_hours,
}


def files() -> list[Path]:
    return [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def render(text: str, where: str = "") -> str:
    """``text`` with every generated section rewritten."""
    def sub(mt: re.Match) -> str:
        name = mt.group("name")
        if name not in SECTIONS:
            raise SystemExit(f"{where}: unknown generated section {name!r} (known: {', '.join(SECTIONS)})")
        return mt.group(1) + SECTIONS[name]() + mt.group(4)
    return MARK.sub(sub, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 if a section is out of date")
    args = ap.parse_args(argv)
    stale, used = [], set()
    for path in files():
        old = path.read_text(encoding="utf-8")
        if len(re.findall(r"<!-- gen:[a-z0-9-]+ -->", old)) != len(re.findall(r"<!-- /gen:[a-z0-9-]+ -->", old)):
            raise SystemExit(f"{path.relative_to(ROOT)}: unbalanced <!-- gen:NAME --> markers")
        used |= {mt.group("name") for mt in MARK.finditer(old)}
        new = render(old, str(path.relative_to(ROOT)))
        if new == old:
            continue
        stale.append(path)
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                       str(path.relative_to(ROOT)), "generated"))
        else:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {path.relative_to(ROOT)}")
    unused = sorted(set(SECTIONS) - used)
    if unused:
        print(f"note: sections no file uses: {', '.join(unused)}", file=sys.stderr)
    if args.check and stale:
        print(f"out of date: {', '.join(str(p.relative_to(ROOT)) for p in stale)} (run python scripts/gen_docs.py)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
