"""Collect the "make it speak" run (recipes/mini/speak.sh) into recipes/mini/results.json (one object), a Markdown
table (speak_results.md) and the loss curves (speak_curves.png).

    python recipes/mini/speak_report.py --runs exp/speak3 --previous exp/speak3/eval-previous \
        --bundle recipes/mini/checkpoints/dualtts-mini --out recipes/mini
(--runs: the tokens, LM, NAR and evaluations (eval/); --previous: evaluations of the previous default model on the
same clips, for comparison; --codec-runs: the codec stages' run folders, whose training time is carried over from
the previous results.json when their logs are not here.)
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dualtts.data.atomic import write_text_atomic  # noqa: E402

ROWS = [  # (evaluation file under the eval folder, or prev:FILE under --previous; what was decoded)
    ("eval-ground-truth.json", "ground truth"),
    ("eval-codec-qall.json", "codec resynthesis at 25 Hz (shipped), all 8 layers"),
    ("eval-codec-q1.json", "codec resynthesis at 25 Hz, first layer only"),
    ("prev:eval-gt-acoustic.json", "previous model: true first-layer tokens + NAR + tuned decoder (no LM states at the decoder)"),
    ("eval-gt-acoustic.json", "true first-layer tokens + NAR (reading the LM's states, soft decoding) + its tuned decoder reading the LM's states"),
    ("prev:eval-lm-q1.json", "previous model: LM tokens, semantic-only decoding"),
    ("eval-lm-q1.json", "TTS: LM tokens (one sample), semantic-only decoding"),
    ("eval-lm-q1-rN.json", "TTS: LM tokens (best of N by the token reader), semantic-only decoding"),
    ("prev:eval-tts.json", "previous model: LM tokens (best of 4) + NAR + tuned decoder (no LM states at the decoder)"),
    ("eval-tts-single.json", "TTS: LM tokens (one sample) + NAR + tuned decoder"),
    ("eval-tts.json", "TTS: LM tokens (best of N by the token reader) + NAR + tuned decoder (the shipped pipeline)"),
]


def overall(path: Path) -> dict:
    return json.loads(path.read_text())["overall"] if path.is_file() else {}


def lm_top1(lm_dir: str, manifest: str, limit: int = 400) -> dict:
    """Teacher-forced top-1 accuracy and loss of the LM on (the first ``limit`` utterances of) a token manifest."""
    from dualtts.lm.model import SemanticLM, collate
    from dualtts.lm.train import TokenDataset, _loss

    lm = SemanticLM.from_pretrained(lm_dir).eval()
    lines = Path(manifest).read_text().splitlines()[:limit]
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", dir=Path(manifest).parent, delete=False) as f:
        f.write("\n".join(lines) + "\n")
    try:
        ds = TokenDataset(f.name, lm.symbols())
    finally:
        Path(f.name).unlink()
    tot, loss, acc = 0, 0.0, 0.0
    with torch.inference_mode():
        for i in range(0, len(ds), 16):
            out = _loss(lm, collate(lm.cfg, [ds[j] for j in range(i, min(len(ds), i + 16))]))
            n = int(out["tokens"])
            tot, loss, acc = tot + n, loss + float(out["loss"]) * n, acc + float(out["acc"]) * n
    return {"top1": round(acc / tot, 4), "nll": round(loss / tot, 4), "utterances": len(ds)}


def rtf(bundle: str, texts: list[str], threads: int = 2) -> dict:
    """Real-time factor of the whole pipeline (default voice, batch 1): synthesis seconds / audio seconds."""
    from dualtts.synthesizer import Synthesizer

    torch.set_num_threads(threads)
    tts = Synthesizer.from_pretrained(bundle, device="cpu")
    tts(texts[0])  # warm-up
    t, audio = time.perf_counter(), 0.0
    for i, s in enumerate(texts):
        audio += len(tts(s, seed=i)) / tts.tokenizer.sample_rate
    return {"rtf": round((time.perf_counter() - t) / max(audio, 1e-9), 3), "audio_s": round(audio, 1), "threads": threads,
            "candidates": tts.default_candidates}  # (timed at the model's default setting)


def codec_frame_rate(bundle: str) -> float:
    from dualtts.codec.config import DualCodecConfig

    return float(DualCodecConfig.load(Path(bundle) / "codec" / "config.yaml").frame_rate)


def train_seconds(log: Path, last_step: int | None = None) -> tuple[int, float]:
    """(last step, training seconds) of a train_log.jsonl up to ``last_step`` (the checkpoint that was used);
    ``wall_s`` restarts at 0 when a run resumes, so the seconds are summed over the resumed segments."""
    rows = [json.loads(l) for l in log.read_text().splitlines() if l.strip()] if log.is_file() else []
    rows = [r for r in rows if last_step is None or r["step"] <= last_step]
    total, last = 0.0, 0.0
    for r in rows:
        if r["wall_s"] < last:  # a resume
            total += last
        last = r["wall_s"]
    return (rows[-1]["step"] if rows else 0), total + last


def stage_times(stages: dict[str, Path], previous: Path, last_steps: dict[str, int] | None = None,
                measured: dict[str, float] | None = None) -> dict:
    """Training seconds of each stage from its log (or ``measured``, for the stages that keep no log); a stage
    with neither (e.g. the codec, trained in an earlier session) is carried over from the previous results.json."""
    old = json.loads(previous.read_text()).get("stage_wall_s", {}) if previous.is_file() else {}
    out = dict(measured or {})
    for stage, folder in stages.items():
        step, secs = train_seconds(folder / "train_log.jsonl", (last_steps or {}).get(stage))
        if step:
            out[f"{stage} ({step} steps)"] = round(secs)
        else:
            out.update({k: v for k, v in old.items() if k.startswith(stage + " ")})
    return out


def curves(stages: dict[str, Path], out: Path) -> bool:
    """The loss curves of the stages that have a training log, one panel each, into ``out``; False (and no
    figure) when none has one."""
    if not stages:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(stages), figsize=(4.4 * len(stages), 3.6), squeeze=False)
    axes = axes[0]
    for ax, (stage, folder) in zip(axes, stages.items()):
        key = "mel" if stage.startswith("codec") else "loss"
        log = [json.loads(l) for l in (folder / "train_log.jsonl").read_text().splitlines() if l.strip()] \
            if (folder / "train_log.jsonl").is_file() else []
        v = folder / "validation.jsonl"
        val = [json.loads(l) for l in v.read_text().splitlines() if l.strip()] if v.is_file() else []
        if log:
            ax.plot([r["step"] for r in log], [r[key] for r in log], lw=0.8, label="train")
        vkey = key if not stage.startswith("codec") else "mel_all"  # the codec validates whole held-out utterances
        v = [r for r in val if vkey in r]
        if v:
            ax.plot([r["step"] for r in v], [r[vkey] for r in v], "o-",
                    label="validation (whole utterances)" if stage.startswith("codec") else "validation")
        ax.set_title(f"{stage}: {key}")
        ax.set_xlabel("step")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="exp/speak3")
    ap.add_argument("--eval-dir", default=None, help="the evaluations (default RUNS/eval)")
    ap.add_argument("--previous", default="exp/speak3/eval-previous")
    ap.add_argument("--codec-runs", nargs=2, default=["exp/speak", "exp/speak25"], help="the 12.5 and 25 Hz codec runs")
    ap.add_argument("--codec25-steps", type=int, default=10000, help="the 25 Hz codec checkpoint that was bundled")
    ap.add_argument("--stage-seconds", default=None,
                    help="JSON of measured seconds of the stages without a training log (corpus, tokens, lm-states)")
    ap.add_argument("--bundle", default="recipes/mini/checkpoints/dualtts-mini")
    ap.add_argument("--train-seconds", type=float, default=None, help="training wall time of the run")
    ap.add_argument("--lm-preset", default="small", help="the LM run (RUNS/lm-PRESET) and its NAR (RUNS/nar-PRESET)")
    ap.add_argument("--candidates", type=int, default=4, help="N of the best-of-N LM sampling that was evaluated")
    ap.add_argument("--out", default="recipes/mini")
    a = ap.parse_args()
    rows = [(f.replace("rN", f"r{a.candidates}"), w.replace("best of N", f"best of {a.candidates}")) for f, w in ROWS]
    runs, out, ev, prev = Path(a.runs), Path(a.out), Path(a.eval_dir or Path(a.runs) / "eval"), Path(a.previous)
    stages = {"codec 12.5 Hz": Path(a.codec_runs[0]) / "codec", "codec 25 Hz": Path(a.codec_runs[1]) / "codec",
              "lm": runs / f"lm-{a.lm_preset}", "nar": runs / f"nar-{a.lm_preset}",
              "lm text dropout": runs / f"lm-{a.lm_preset}-cfg", "reader": runs / "reader", "decoder": runs / "decoder",
              "decoder + LM states": runs / "decoder-states"}
    t0 = time.monotonic()
    o = {name: overall(prev / name[5:] if name.startswith("prev:") else ev / name) for name, _ in rows}
    gt, qall, q1, gta_prev, gta, sem_prev, sem, sem_best, tts_prev, tts_single, tts = (o[n] for n, _ in rows)
    train_lm = lm_top1(f"{a.bundle}/lm", str(runs / "tokens/train/manifest.jsonl"))
    val_lm = lm_top1(f"{a.bundle}/lm", str(runs / "tokens/dev/manifest.jsonl"))
    test_lm = lm_top1(f"{a.bundle}/lm", str(runs / "tokens/test/manifest.jsonl"))
    test_texts = [json.loads(l)["text"] for l in (runs / "tokens/test/manifest.jsonl").read_text().splitlines()[:5]]
    speed = rtf(a.bundle, test_texts)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    bundle_info = json.loads((Path(a.bundle) / "bundle.json").read_text())
    res = {
        "wer": tts.get("wer"), "sim": tts.get("sim"), "dnsmos": tts.get("dnsmos"), "rtf": speed["rtf"],
        "ground_truth_wer": gt.get("wer"), "ground_truth_dnsmos": gt.get("dnsmos"),
        "codec_wer": qall.get("wer"), "codec_stoi": qall.get("stoi"), "codec_pesq": qall.get("pesq"), "codec_sim": qall.get("sim"),
        "codec_first_layer_wer": q1.get("wer"), "codec_first_layer_stoi": q1.get("stoi"),
        "codec_frame_rate": codec_frame_rate(a.bundle),
        "semantic_only_wer": sem_best.get("wer"), "semantic_only_sim": sem_best.get("sim"),
        "single_sample": {"wer": tts_single.get("wer"), "sim": tts_single.get("sim"), "dnsmos": tts_single.get("dnsmos"),
                          "semantic_only_wer": sem.get("wer"), "semantic_only_sim": sem.get("sim")},
        "lm_sampling": f"best of {a.candidates} samples by the token reader (lm/reader.py), classifier-free guidance on the text 2.0, "
                       "top-k 15, top-p 0.85, temperature 1",
        "true_tokens_acoustic_stage_wer": gta.get("wer"), "true_tokens_acoustic_stage_sim": gta.get("sim"),
        "previous_model": {"wer": tts_prev.get("wer"), "sim": tts_prev.get("sim"), "dnsmos": tts_prev.get("dnsmos"),
                           "semantic_only_wer": sem_prev.get("wer"), "true_tokens_acoustic_stage_wer": gta_prev.get("wer")},
        "acoustic_stage": "NAR (flow/nar.py) reading the LM's states, decoding expected code vectors (decode: soft) with the "
                          "codec's decoder fine-tuned on them, plus a projection of the LM's states added to the decoder's input "
                          "(flow/decoder_train.py, state_adapter)",
        "lm_val_top1": val_lm["top1"], "lm_train_top1": train_lm["top1"], "lm_test_top1": test_lm["top1"],
        "lm_val_nll": val_lm["nll"], "lm_train_nll": train_lm["nll"], "lm_test_nll": test_lm["nll"],
        "clips": tts.get("n"), "eval_set": "held-out speakers saying held-out sentences (test split), Whisper base",
        "model": a.bundle, "model_MB": bundle_info["total_MB"], "rtf_setup": speed,
        "machine": {"cpus": torch.get_num_threads(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__},
        "train_wall_s": a.train_seconds, "report_wall_s": None, "commit": commit,
        "stage_wall_s": stage_times(stages, out / "results.json", {"codec 25 Hz": a.codec25_steps},
                                    json.loads(a.stage_seconds) if a.stage_seconds else None),
    }
    if res["train_wall_s"] is None:  # not given: the sum of the stages' times
        res["train_wall_s"] = float(sum(res["stage_wall_s"].values()))
    res["report_wall_s"] = round(time.monotonic() - t0, 1)
    res["wall_s"] = round(res["train_wall_s"] + res["report_wall_s"], 1)
    write_text_atomic(out / "results.json", json.dumps(res, indent=1))
    fmt = lambda v: "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
    lines = ["| decoded | n | WER | SIM | STOI | PESQ | DNSMOS |", "|---|---|---|---|---|---|---|"]
    for (name, what), r in zip(rows, o.values()):
        lines.append(f"| {what} | {fmt(r.get('n'))} | " + " | ".join(fmt(r.get(k)) for k in ("wer", "sim", "stoi", "pesq", "dnsmos")) + " |")
    lines += ["", "| LM top-1 / NLL | train | dev (unseen speakers) | test (unseen speakers and sentences) |", "|---|---|---|---|",
              f"| top-1 | {train_lm['top1']:.3f} | {val_lm['top1']:.3f} | {test_lm['top1']:.3f} |",
              f"| NLL | {train_lm['nll']:.3f} | {val_lm['nll']:.3f} | {test_lm['nll']:.3f} |", "",
              f"Real-time factor of the whole pipeline ({speed['threads']} threads, default voice): {speed['rtf']}"]
    logged = {k: v for k, v in stages.items() if (v / "train_log.jsonl").is_file()}
    if not logged:  # (e.g. a report made from a copy of the evaluations, without the training runs)
        note = f"No training logs (train_log.jsonl) under {', '.join(sorted({str(v) for v in stages.values()}))}: no loss curves drawn."
        lines += ["", note]
        print(note, file=sys.stderr)
    write_text_atomic(out / "speak_results.md", "\n".join(lines) + "\n")
    curves(logged, out / "speak_curves.png")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
