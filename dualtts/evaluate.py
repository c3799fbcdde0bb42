"""``dualtts evaluate``: score a folder of generated audio against references.

References: a corpus folder (LibriTTS layout, or any wavs with ``<id>.normalized.txt`` /
``<id>.txt`` beside them) or a JSONL manifest. Hypotheses: a folder of ``<id>.wav`` (searched
recursively), matched to references by id. Reports each metric overall and per group (speaker,
or engine when the corpus has a ``SPEAKERS.tsv``), prints a table and writes JSON.
"""
from __future__ import annotations

import json
import math
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

from tqdm import tqdm

from dualtts.data.atomic import write_text_atomic
from dualtts.data.manifest import read_manifest
from dualtts.metrics.asr import normalize

ALL_METRICS = ("wer", "nll", "sim", "dnsmos", "pesq", "stoi", "mel")
DEFAULT_METRICS = ("wer", "sim", "dnsmos", "pesq", "stoi", "mel")


def load_references(ref: str | Path) -> list[dict]:
    """``[{id, audio, text, speaker}]`` from a manifest or a folder of wav + transcript files."""
    ref = Path(ref)
    if ref.is_file():
        return [{"id": u.id, "audio": u.audio, "text": u.text, "speaker": u.speaker} for u in read_manifest(ref)]
    if not ref.is_dir():
        raise FileNotFoundError(f"{ref}: no such folder or manifest")
    rows = []
    for wav in sorted(ref.rglob("*.wav")):
        txt = next((t for t in (wav.with_suffix(".normalized.txt"), wav.with_suffix(".txt")) if t.is_file()), None)
        text = txt.read_text(encoding="utf-8").strip() if txt else None
        speaker = wav.parent.parent.name if len(wav.relative_to(ref).parts) >= 3 else wav.parent.name
        rows.append({"id": wav.stem, "audio": str(wav), "text": text, "speaker": speaker})
    if not rows:
        raise FileNotFoundError(f"{ref}: no .wav files")
    return rows


def speaker_groups(ref: str | Path) -> dict[str, str]:
    """speaker -> engine from a corpus' SPEAKERS.tsv (empty if there is none)."""
    from dualtts.data.corpus_maker import read_speakers_table

    ref = Path(ref)
    table = (ref if ref.is_dir() else ref.parent) / "SPEAKERS.tsv"
    return {r["speaker"]: r["engine"] for r in read_speakers_table(table)} if table.is_file() else {}


def evaluate(
    ref: str | Path,
    hyp: str | Path,
    metrics: tuple[str, ...] = DEFAULT_METRICS,
    asr_model: str = "base",
    by: str = "auto",
    per_speaker: int | None = None,
    seed: int = 0,
) -> dict:
    """Compute ``metrics`` for every reference with a matching hypothesis.

    ``by``: "speaker", "engine", or "auto" (engine when SPEAKERS.tsv exists). ``per_speaker``
    caps the clips per speaker (a seeded sample) to bound the time on large corpora.
    """
    from dualtts import metrics as M

    unknown = set(metrics) - set(ALL_METRICS)
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(sorted(unknown))}; choose from {', '.join(ALL_METRICS)}")
    refs = load_references(ref)
    hyp = Path(hyp)
    if not hyp.is_dir():
        raise FileNotFoundError(f"{hyp}: hypothesis folder not found")
    hyp_files = {p.stem: p for p in hyp.rglob("*.wav")}
    pairs = [(r, hyp_files[r["id"]]) for r in refs if r["id"] in hyp_files]
    missing = len(refs) - len(pairs)
    if not pairs:
        raise FileNotFoundError(f"{hyp}: none of the {len(refs)} reference ids has a matching <id>.wav")
    if per_speaker:
        rng = random.Random(seed)
        by_spk = defaultdict(list)
        for p in pairs:
            by_spk[p[0]["speaker"]].append(p)
        n_ref = Counter(r["speaker"] for r in refs)  # missing: only clips the per-speaker sample wanted and lacked
        missing = sum(max(0, min(per_speaker, n) - len(by_spk.get(s, []))) for s, n in n_ref.items())
        pairs = [p for s in sorted(by_spk) for p in sorted(rng.sample(by_spk[s], min(per_speaker, len(by_spk[s]))), key=lambda p: p[0]["id"])]
    engines = speaker_groups(ref)
    key = "engine" if (by == "engine" or (by == "auto" and engines)) else "speaker"
    group_of = (lambda s: engines.get(s, "?")) if key == "engine" else (lambda s: s)

    refs_a = [r["audio"] for r, _ in pairs]
    hyps_a = [str(h) for _, h in pairs]
    results: dict[str, list[float]] = {}
    bar = tqdm(metrics, desc="metrics", file=sys.stderr, disable=None)
    for m in bar:
        bar.set_postfix_str(m)
        if m in ("wer", "nll"):
            texts = [r["text"] for r, _ in pairs]
            if any(t is None for t in texts):
                raise ValueError(f"{ref}: {m.upper()} needs transcripts (<id>.normalized.txt or a manifest)")
            if m == "nll":
                results["nll"] = M.transcript_nll(texts, hyps_a, model=asr_model).items
            else:
                s = M.wer(texts, hyps_a, model=asr_model)
                results["wer"], hyps_text = s.items, s.extra["hypotheses"]
        elif m == "sim":
            results["sim"] = M.speaker_similarity(refs_a, hyps_a).items
        elif m == "dnsmos":
            results["dnsmos"] = M.dnsmos(hyps_a).items
        elif m == "pesq":
            results["pesq"] = M.pesq(refs_a, hyps_a).items
        elif m == "stoi":
            results["stoi"] = M.stoi(refs_a, hyps_a).items
        elif m == "mel":
            results["mel"] = M.mel_distance(refs_a, hyps_a).items

    items = []
    for i, (r, h) in enumerate(pairs):
        row = {"id": r["id"], "speaker": r["speaker"], "group": group_of(r["speaker"]), "hyp": str(h)}
        row.update({m: results[m][i] for m in results})
        if "wer" in results:
            row["transcript"] = hyps_text[i]
            row["ref_words"] = len(normalize(r["text"]).split())
        items.append(row)
    return {"n": len(items), "missing_hypotheses": missing, "group_by": key,
            "asr_model": asr_model if {"wer", "nll"} & set(results) else None, **_tables(items, results)}


def merge_reports(old: dict, new: dict) -> dict:
    """``old`` (an ``evaluate`` summary) with the metrics of ``new``, scored on the same clips, added."""
    if [r["id"] for r in old["items"]] != [r["id"] for r in new["items"]]:
        raise ValueError(f"the reports score different clips ({old['n']} and {new['n']}): they cannot be merged")
    items = [{**a, **{k: v for k, v in b.items() if k not in a}} for a, b in zip(old["items"], new["items"])]
    metrics = [m for m in ALL_METRICS if m in old["overall"] or m in new["overall"]]
    return {**old, "asr_model": old.get("asr_model") or new.get("asr_model"), "missing_hypotheses": new["missing_hypotheses"],
            **_tables(items, metrics)}


def _tables(items: list[dict], metrics) -> dict:
    """``overall``, per-``group`` and per-item results of scored ``items``."""
    groups = defaultdict(list)
    for row in items:
        groups[row["group"]].append(row)
    return {"overall": _aggregate(items, metrics), "groups": {g: _aggregate(rows, metrics) for g, rows in sorted(groups.items())},
            "items": items}


def _aggregate(rows: list[dict], results) -> dict:
    """Means of ``results`` (metric names) over ``rows``; WER corpus-level."""
    out = {"n": len(rows)}
    for m in results:
        vals = [r[m] for r in rows if isinstance(r[m], float) and math.isfinite(r[m])]
        out[m] = round(sum(vals) / len(vals), 4) if vals else None
    if "wer" in results:  # corpus-level WER within the group: errors / reference words
        pairs = [(r["wer"], r["ref_words"]) for r in rows if math.isfinite(r["wer"])]
        words = sum(w for _, w in pairs)
        out["wer"] = round(sum(e * w for e, w in pairs) / words, 4) if words else None
    return out


def bootstrap_ci(items: list[dict], metric: str, n_boot: int = 2000, seed: int = 0) -> dict | None:
    """95 % bootstrap interval (resampling clips) of a metric over evaluation items (``evaluate(...)["items"]``).

    WER is corpus-level within each resample (errors / reference words), as in the summaries; others are means.
    """
    import numpy as np

    ok = [r for r in items if isinstance(r.get(metric), float) and math.isfinite(r[metric])]
    if not ok:
        return None
    v = np.array([r[metric] for r in ok])
    w = np.array([r.get("ref_words", 1) if metric == "wer" else 1 for r in ok], dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(ok), size=(n_boot, len(ok)))
    boot = (v[idx] * w[idx]).sum(1) / w[idx].sum(1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"n": len(ok), "mean": round(float((v * w).sum() / w.sum()), 4), "ci95": [round(float(lo), 4), round(float(hi), 4)]}


def paired_bootstrap(sys_items: list[dict], base_items: list[dict], metric: str, n_boot: int = 10000,
                     seed: int = 0) -> dict | None:
    """Per-clip difference system − baseline on the clips both scored: mean, 95 % bootstrap CI, clips where higher."""
    import numpy as np

    base = {r["id"]: r.get(metric) for r in base_items}
    d = np.array([r[metric] - base[r["id"]] for r in sys_items
                  if r.get(metric) is not None and base.get(r["id"]) is not None])
    if not len(d):
        return None
    boot = np.random.default_rng(seed).choice(d, size=(n_boot, len(d))).mean(1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"n": len(d), "mean": float(d.mean()), "ci95": [float(lo), float(hi)], "wins": int((d > 0).sum())}


def format_table(summary: dict) -> str:
    metrics = [m for m in ALL_METRICS if m in summary["overall"]]
    head = [summary["group_by"], "n"] + metrics
    rows = [[g, str(v["n"])] + [_fmt(v.get(m)) for m in metrics] for g, v in summary["groups"].items()]
    rows.append(["ALL", str(summary["overall"]["n"])] + [_fmt(summary["overall"].get(m)) for m in metrics])
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def write_report(summary: dict, path: str | Path) -> None:
    write_text_atomic(path, json.dumps(summary, indent=1, ensure_ascii=False))
