"""Collect recipes/compare/compare.sh into results.json (one object per tokenizer) and RESULTS.md (one table).

    python recipes/compare/report.py --runs exp/compare --tokenizers dc12 dc25 mimi enc1.5 enc6 --out recipes/compare
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dualtts.data.atomic import write_text_atomic  # noqa: E402
from dualtts.bench_timing import machine  # noqa: E402
from dualtts.evaluate import bootstrap_ci, paired_bootstrap  # noqa: E402

NAMES = {"dc12": "DualCodec 12.5 Hz", "dc25": "DualCodec 25 Hz", "mimi": "Mimi", "enc1.5": "EnCodec 1.5 kbps",
         "enc6": "EnCodec 6 kbps", "dc25a": "25 Hz acoustic only (DAC-like)", "dc25d": "25 Hz + SSL distillation on RVQ-1"}
ABLATION = ("dc25a", "dc25d", "dc25")  # the paper's ordering of first-layer WER: dual < distill < acoustic only


def overall(path: Path) -> dict:
    """The summary of an evaluation file, with 95 % bootstrap intervals (clips resampled) of its WER, NLL and SIM."""
    if not path.is_file():
        return {}
    d = json.loads(path.read_text())
    ci = {f"{m}_ci95": c["ci95"] for m in ("wer", "nll", "sim") if (c := bootstrap_ci(d["items"], m))}
    return {**d["overall"], **ci}


def items(path: Path) -> list[dict]:
    return json.loads(path.read_text())["items"] if path.is_file() else []


def train_seconds(log: Path) -> float | None:
    """Training seconds of a train_log.jsonl (summed over resumed segments, whose wall_s restarts at 0)."""
    if not log.is_file():
        return None
    total, last = 0.0, 0.0
    for r in (json.loads(l) for l in log.read_text().splitlines() if l.strip()):
        total, last = (total + last, r["wall_s"]) if r["wall_s"] < last else (total, r["wall_s"])
    return round(total + last, 1)


def summary(path: Path) -> dict:
    return json.loads((path / "summary.json").read_text()) if (path / "summary.json").is_file() else {}


def one(runs: Path, t: str) -> dict:
    r = runs / t
    info = json.loads((r / "tokens" / "test" / "tokenizer.json").read_text())
    sizes, fr = info["codebook_sizes"], float(info["frame_rate"])
    codec_dir = Path((r / "codec_dir").read_text().strip()) if (r / "codec_dir").is_file() else None
    q1, qall = overall(r / "eval-codec-q1.json"), overall(r / "eval-codec-qall.json")
    sem, tts = overall(r / "eval-lm-q1.json"), overall(r / "eval-tts.json")
    return {
        "name": NAMES.get(t, t), "frame_rate": fr, "codebooks": len(sizes), "tokens_per_s": fr * len(sizes),
        "kbps": round(fr * sum(math.log2(k) for k in sizes) / 1000, 3),
        "codec_first_layer": q1, "codec_all_layers": qall, "tts_semantic_only": sem, "tts": tts,
        # seconds of compute per second of speech, 2 threads, one utterance at a time (the LM: batches of 8)
        "rtf": {"codec_encode": summary(r / "codec-qall").get("encode_rtf"), "codec_decode": summary(r / "codec-qall").get("decode_rtf"),
                "lm": summary(r / "lm-q1").get("lm_rtf"), "nar_and_decode": summary(r / "tts").get("acoustic_rtf")},
        "train_s": {"codec": train_seconds(codec_dir / "train_log.jsonl") if codec_dir else None,
                    "lm": train_seconds(r / "lm" / "train_log.jsonl"), "nar": train_seconds(r / "nar" / "train_log.jsonl")},
    }


def ablation(runs: Path, arms: list[str], q1: dict) -> dict:
    """Paired differences between neighbouring ablation arms (acoustic → distill → dual), first-layer and TTS WER
    and Whisper NLL (which does not saturate at WER ≈ 1, as short runs do); ``q1``: each tokenizer's first-layer
    summary (``wer``, ``nll``)."""
    if len(arms) < 2:
        return {}
    files = {"first-layer": "eval-codec-q1.json", "TTS": "eval-tts.json"}
    pairs = [(b, a) for a, b in zip(arms, arms[1:])]  # (better-by-the-paper, worse-by-the-paper)
    out = []
    for first, second in pairs:
        for what, f in files.items():
            for m in ("wer", "nll"):
                c = paired_bootstrap(items(runs / first / f), items(runs / second / f), m)
                if c:
                    out.append({"first": first, "second": second, "metric": f"{what} {m.upper()}", **c})
    res: dict = {"arms": arms, "paired": out}
    said = []
    for m in ("wer", "nll"):
        v = {t: q1.get(t, {}).get(m) for t in arms}
        if any(x is None for x in v.values()):
            continue
        order = sorted(arms, key=lambda t: v[t])
        holds = order == list(reversed(arms))
        sure = sum(c["metric"] == f"first-layer {m.upper()}" and c["ci95"][1] < 0 for c in out)
        res[f"first_layer_{m}"], res[f"paper_ordering_holds_{m}"] = v, holds
        said.append(f"First-layer {m.upper()} order: {' < '.join(f'{NAMES[t]} ({v[t]:.3f})' for t in order)} — the "
                    f"paper's ordering {'holds' if holds else 'does not hold'} on these clips; {sure} of {len(pairs)} "
                    "steps resolved (paired CI below 0).")
    res["verdict"] = " ".join(said)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="exp/compare")
    ap.add_argument("--tokenizers", nargs="+", default=list(NAMES))
    ap.add_argument("--settings", default="", help="the run's settings, said in the report")
    ap.add_argument("--out", default="recipes/compare")
    ap.add_argument("--notes", help="a Markdown file whose text goes into RESULTS.md under 'Reading' (what the run says)")
    a = ap.parse_args()
    runs, out = Path(a.runs), Path(a.out)
    import torch

    res = {"settings": a.settings, "ground_truth": overall(runs / "eval-ground-truth.json"),
           "tokenizers": {t: one(runs, t) for t in a.tokenizers},
           "machine": machine(torch.get_num_threads(), full=True),
           "date": date.today().isoformat(),
           "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()}
    res["ablation"] = ablation(runs, [t for t in ABLATION if t in a.tokenizers],
                               {t: d["codec_first_layer"] for t, d in res["tokenizers"].items()})
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "results.json", json.dumps(res, indent=1))
    f = lambda d, k: "-" if d.get(k) is None else f"{d[k]:.3f}"  # noqa: E731
    lines = [f"# Token pipelines compared ({res['date']}, commit {res['commit'][:7]})", "",
             f"Settings: {a.settings}. Every codec trained from scratch here from its config on the same utterances, "
             "crops, batch, steps and seed (mel-only); the same LM and NAR presets and steps on each one's tokens; "
             "held-out speakers and sentences, Whisper base. RTF: seconds of compute per second of speech, one utterance at "
             "a time (the LM: batches of 8 pairs, sampling only). Machine: "
             f"{res['machine']['cpu']}, {res['machine']['threads']} threads, torch {res['machine']['torch']}, transformers "
             f"{res['machine']['transformers']}, Python {res['machine']['python']}.", "",
             f"Ground truth: WER {f(res['ground_truth'], 'wer')}, DNSMOS {f(res['ground_truth'], 'dnsmos')}.", "",
             "| tokenizer | Hz | codebooks | tokens/s | kbps | codec q1 WER / STOI / SIM | codec all WER / STOI / PESQ / SIM / DNSMOS "
             "| TTS semantic-only WER / SIM | TTS + NAR WER / SIM / DNSMOS | RTF codec enc / dec, LM, NAR + dec "
             "| train s (codec / LM / NAR) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t, d in res["tokenizers"].items():
        q1, qa, s, tt, ts = d["codec_first_layer"], d["codec_all_layers"], d["tts_semantic_only"], d["tts"], d["train_s"]
        rt = d["rtf"]
        lines.append(f"| {d['name']} | {d['frame_rate']:g} | {d['codebooks']} | {d['tokens_per_s']:g} | {d['kbps']:g} | "
                     f"{f(q1, 'wer')} / {f(q1, 'stoi')} / {f(q1, 'sim')} | "
                     f"{f(qa, 'wer')} / {f(qa, 'stoi')} / {f(qa, 'pesq')} / {f(qa, 'sim')} / {f(qa, 'dnsmos')} | "
                     f"{f(s, 'wer')} / {f(s, 'sim')} | {f(tt, 'wer')} / {f(tt, 'sim')} / {f(tt, 'dnsmos')} | "
                     f"{f(rt, 'codec_encode')} / {f(rt, 'codec_decode')}, {f(rt, 'lm')}, {f(rt, 'nar_and_decode')} | "
                     f"{ts['codec']} / {ts['lm']} / {ts['nar']} |")
    ci = lambda d, k: "-" if d.get(k) is None else f"{d[k]:.3f} [{d[k + '_ci95'][0]:.3f}, {d[k + '_ci95'][1]:.3f}]"  # noqa: E731
    lines += ["", "95 % bootstrap intervals (clips resampled):", "",
              "| tokenizer | codec q1 WER | codec q1 NLL | codec all NLL | TTS semantic-only WER | TTS + NAR WER | "
              "TTS + NAR NLL | TTS + NAR SIM |", "|---|---|---|---|---|---|---|---|"]
    for d in res["tokenizers"].values():
        lines.append(f"| {d['name']} | {ci(d['codec_first_layer'], 'wer')} | {ci(d['codec_first_layer'], 'nll')} | "
                     f"{ci(d['codec_all_layers'], 'nll')} | {ci(d['tts_semantic_only'], 'wer')} | {ci(d['tts'], 'wer')} | "
                     f"{ci(d['tts'], 'nll')} | {ci(d['tts'], 'sim')} |")
    if res["ablation"]:
        lines += ["", "## The paper's ablation (25 Hz, the same budget)", "",
                  "Paired per clip (first − second on the same clips; 95 % bootstrap CI of the mean difference; lower WER is "
                  "better; NLL: Whisper's per-token negative log-likelihood of the reference text, lower is more intelligible). "
                  "The paper's ordering of first-layer WER: dual stream < distillation < acoustic only.", "",
                  "| comparison | metric | mean difference | 95 % CI | first higher on |", "|---|---|---|---|---|"]
        lines += [f"| {NAMES[c['first']]} − {NAMES[c['second']]} | {c['metric']} | {c['mean']:+.3f} | "
                  f"[{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] | {c['wins']}/{c['n']} |" for c in res["ablation"]["paired"]]
        lines += ["", res["ablation"]["verdict"]]
    if a.notes:
        lines += ["", "## Reading", "", Path(a.notes).read_text().strip()]
    write_text_atomic(out / "RESULTS.md", "\n".join(lines) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
