"""Generalization scorer: a model on everyday sentences it never saw, in its default voice and in real recorded
voices it never heard (the issue "Generalize"). One command, resumable (audio already written is reused):

    python recipes/mini/generalize_eval.py --model recipes/mini/checkpoints/dualtts-mini --out exp/generalize/shipped

Sets (both kept out of training; recipes/mini/generalize/SOURCES.md):
- natural: the first ``--natural`` sentences of recipes/mini/generalize/natural_test.txt (a seeded order), said in the
  default voice -> ``natural_wer``;
- real voices: exp/real-voices/manifest.jsonl (recipes/mini/generalize/real_voices.py). Each speaker's prompt is one
  clip with its transcript; ``--real-per-speaker`` of the same natural sentences are said with it -> ``real_prompt_wer``,
  and by the default voice -> ``real_prompt_default_wer`` (the default voice's own outputs of those sentences). Speaker
  similarity (resemblyzer) of each output to the speaker's OTHER clips (joined into one reference) ->
  ``real_prompt_sim``, next to the default voice's similarity to the same reference -> ``real_prompt_default_sim``;
  their paired difference is what cloning brings.
- ``--engine-voices``: the natural sentences said by speech engines, as the natural set's ground-truth stand-in
  (there are no recordings of them) -> ``engines_natural_wer``.
WER and SIM go through ``dualtts evaluate`` (dualtts.evaluate.evaluate; Whisper base). Writes OUT/report.json.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dualtts.data.atomic import write_text_atomic  # noqa: E402
from dualtts.evaluate import bootstrap_ci, evaluate, paired_bootstrap  # noqa: E402

HEADLINE = ("natural_wer", "real_prompt_wer", "real_prompt_default_wer", "real_prompt_sim", "real_prompt_default_sim")
HERE = Path(__file__).resolve().parent
NATURAL = HERE / "generalize" / "natural_test.txt"
REAL = Path("exp/real-voices/manifest.jsonl")


def natural_sentences(path: Path, n: int, seed: int = 0) -> list[str]:
    lines = [x.strip() for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    random.Random(seed).shuffle(lines)
    return lines[:n]


def real_speakers(manifest: Path, seed: int = 0) -> dict[str, dict]:
    """speaker -> {prompt: clip row, others: [clip rows]}; one prompt per speaker (the clip nearest 6 s), speakers
    with a single clip are left out (no other clip to compare with)."""
    rows = [json.loads(x) for x in manifest.read_text(encoding="utf-8").splitlines() if x.strip()]
    by = defaultdict(list)
    for r in rows:
        by[r["speaker"]].append(r)
    out = {}
    for spk, clips in sorted(by.items()):
        clips = sorted(clips, key=lambda r: r["id"])
        if len(clips) < 2:
            continue
        p = min(clips, key=lambda r: (abs(float(r["duration"]) - 6.0), r["id"]))
        out[spk] = {"prompt": p, "others": [c for c in clips if c is not p]}
    return out


def joined_reference(clips: list[dict], path: Path, max_seconds: float = 30.0) -> str:
    """The speaker's other clips, joined (at the first clip's rate), as one reference wav for similarity."""
    if not path.is_file():
        parts, sr, total = [], None, 0.0
        for c in clips:
            w, r = sf.read(c["audio"], dtype="float32", always_2d=False)
            sr = sr or r
            if r != sr:
                import soxr

                w = soxr.resample(w, r, sr)
            parts.append(w)
            total += len(w) / sr
            if total >= max_seconds:
                break
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.concatenate(parts), sr)
    return str(path.resolve())  # (manifests resolve relative paths against their own folder)


def synthesize_all(tts, items: list[dict], out: Path, what: str, **kw) -> None:
    """Each item {id, text, prompt?, prompt_text?} -> out/<id>.wav (written atomically). Audio already there is
    reused only when out/items.json says it was made for the same item (text and prompt); otherwise it is made again,
    so that a changed sentence list never scores old audio against new text."""
    out.mkdir(parents=True, exist_ok=True)
    index_path = out / "items.json"
    index = json.loads(index_path.read_text(encoding="utf-8")) if index_path.is_file() else {}
    key = lambda it: {k: it.get(k) for k in ("text", "prompt", "prompt_text")} | {"settings": {k: str(v) for k, v in kw.items()}}
    todo = [it for it in items if not (out / f"{it['id']}.wav").is_file() or index.get(it["id"]) != key(it)]
    for it in tqdm(todo, desc=what, file=sys.stderr, disable=None):
        wav = tts(it["text"], prompt=it.get("prompt"), prompt_text=it.get("prompt_text"), seed=0,
                  **{k: v for k, v in kw.items() if k != "content_states"})  # (set on tts; recorded in the key only)
        tmp = out / f".{it['id']}.tmp.wav"
        sf.write(tmp, wav, tts.tokenizer.sample_rate)
        tmp.replace(out / f"{it['id']}.wav")
        index[it["id"]] = key(it)
        write_text_atomic(index_path, json.dumps(index, indent=0))


def write_manifest(rows: list[dict], path: Path) -> Path:
    write_text_atomic(path, "".join(json.dumps({"duration": 0.0, "phonemes": None, **r}) + "\n" for r in rows))
    return path


def engines_natural(sentences: list[str], voices: list[str], out: Path) -> dict:
    """The natural sentences said by engine voices (``engine:name``): their WER, the set's stand-in ground truth."""
    from dualtts.data.corpus_maker.engines import available_voices, synthesize

    have = {v.key: v for v in available_voices()}
    rows = []
    for key in voices:
        if key not in have:
            raise SystemExit(f"error: engine voice {key} is not installed (dualtts make-corpus --list-engines)")
        d = out / key.replace(":", "_")
        d.mkdir(parents=True, exist_ok=True)
        for i, text in enumerate(tqdm(sentences, desc=f"engine {key}", file=sys.stderr, disable=None)):
            f = d / f"n{i:04d}.wav"
            if not f.is_file():
                sf.write(f, synthesize(have[key], text, 24000), 24000)
            rows.append({"id": f"n{i:04d}", "audio": str(f), "text": text, "speaker": key})
    res = {}
    for key in voices:
        sub = [r for r in rows if r["speaker"] == key]
        m = write_manifest(sub, out / f"ref-{key.replace(':', '_')}.jsonl")
        res[key] = evaluate(m, out / key.replace(":", "_"), metrics=("wer",), by="speaker")["overall"]["wer"]
    return {"per_voice": res, "mean": round(float(np.mean(list(res.values()))), 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the default model)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--natural", type=int, default=100, help="natural sentences scored in the default voice")
    ap.add_argument("--real-per-speaker", type=int, default=10, help="sentences per real voice")
    ap.add_argument("--real-manifest", default=str(REAL))
    ap.add_argument("--candidates", type=int, default=None, help="LM samples per sentence (default: the model's)")
    ap.add_argument("--content-prompt", choices=["prompt", "default"], default=None,
                    help="what the LM continues with a real prompt (default: the Synthesizer's default)")
    ap.add_argument("--prompt-normalize", choices=["on", "off"], default=None,
                    help="trim, band-limit and level a real prompt first (default: the model's setting)")
    ap.add_argument("--prompt-eq", choices=["on", "off"], default=None,
                    help="filter real-prompt outputs by the prompt-matched EQ (dualtts.voice_eq; default: the model's setting)")
    ap.add_argument("--content-states", choices=["prompt", "content"], default=None,
                    help="with content prompt 'default': the target's LM states read after the real prompt or after the default voice")
    ap.add_argument("--adapt-steps", type=int, default=0, help="test-time adaptation of the NAR to each real prompt")
    ap.add_argument("--engine-voices", default="", help="comma list of engine:voice for engines_natural_wer")
    ap.add_argument("--sets", default="natural,real", help="comma list: natural, real")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--results", default=None,
                    help="also write the headline fields into this results.json (recipes/mini/results.json for the shipped model)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    sets = set(a.sets.split(","))
    sentences = natural_sentences(NATURAL, a.natural)
    from dualtts import Synthesizer

    tts = Synthesizer.from_pretrained(a.model, device=a.device)
    if a.prompt_normalize:
        tts.prompt_normalize = a.prompt_normalize == "on"
    if a.prompt_eq:
        tts.prompt_eq = a.prompt_eq == "on"
    if a.content_states:
        tts.content_states = a.content_states
    kw = {"candidates": a.candidates} if a.candidates else {}
    report = {"model": a.model or "default", "candidates": a.candidates or tts.default_candidates,
              "content_prompt": a.content_prompt or tts.content_prompt, "prompt_normalize": tts.prompt_normalize, "prompt_eq": tts.prompt_eq,
              "content_states": tts.content_states, "adapt_steps": a.adapt_steps, "natural_source": str(NATURAL.relative_to(HERE.parents[1]))}

    nat_items = [{"id": f"n{i:04d}", "text": t} for i, t in enumerate(sentences)]
    synthesize_all(tts, nat_items, out / "natural", "natural (default voice)", **kw)
    nat_ref = write_manifest([{**it, "audio": "", "speaker": "default"} for it in nat_items], out / "natural_ref.jsonl")
    if "natural" in sets:
        ev = evaluate(nat_ref, out / "natural", metrics=("wer",), by="speaker")
        write_text_atomic(out / "eval-natural.json", json.dumps(ev, indent=1))
        report.update(natural_wer=ev["overall"]["wer"], natural_n=ev["n"], natural_wer_ci=bootstrap_ci(ev["items"], "wer"))

    if "real" in sets:
        spk = real_speakers(Path(a.real_manifest))
        if not spk:
            raise SystemExit(f"error: {a.real_manifest}: no speaker with two or more clips "
                             "(run recipes/mini/generalize/real_voices.py)")
        items, refs = [], []
        for s_i, (s, d) in enumerate(spk.items()):
            ref = joined_reference(d["others"], out / "refs" / f"{s}.wav")
            for k in range(a.real_per_speaker):
                j = (s_i * a.real_per_speaker + k) % len(sentences)
                iid = f"{s}__n{j:04d}"
                items.append({"id": iid, "text": sentences[j], "prompt": d["prompt"]["audio"], "prompt_text": d["prompt"]["text"]})
                refs.append({"id": iid, "audio": ref, "text": sentences[j], "speaker": s})
        ckw = kw | ({"content_prompt": a.content_prompt} if a.content_prompt else {}) | {
            "prompt_eq": tts.prompt_eq, "content_states": tts.content_states} | ({"adapt_steps": a.adapt_steps} if a.adapt_steps else {})
        synthesize_all(tts, items, out / "real", "real prompts", **ckw)
        dflt = out / "real-default"  # the default voice's outputs of the same sentences, under the real items' ids
        dflt.mkdir(exist_ok=True)
        for it in items:
            link, target = dflt / f"{it['id']}.wav", (out / "natural" / f"{it['id'].split('__')[1]}.wav").resolve()
            if link.is_symlink() and link.resolve() != target:  # a folder moved since: point at this one
                link.unlink()
            if not link.exists():
                link.symlink_to(target)
        ref_m = write_manifest(refs, out / "real_ref.jsonl")
        ev_r = evaluate(ref_m, out / "real", metrics=("wer", "sim"), by="speaker")
        ev_d = evaluate(ref_m, dflt, metrics=("wer", "sim"), by="speaker")
        write_text_atomic(out / "eval-real.json", json.dumps(ev_r, indent=1))
        write_text_atomic(out / "eval-real-default.json", json.dumps(ev_d, indent=1))
        report.update(
            real_prompt_wer=ev_r["overall"]["wer"], real_prompt_default_wer=ev_d["overall"]["wer"],
            real_prompt_sim=ev_r["overall"]["sim"], real_prompt_default_sim=ev_d["overall"]["sim"], real_prompt_n=ev_r["n"],
            real_prompt_speakers={s: {"prompt": d["prompt"]["id"], "prompt_seconds": d["prompt"]["duration"],
                                      "source": d["prompt"].get("source"), "wer": ev_r["groups"][s]["wer"],
                                      "default_wer": ev_d["groups"][s]["wer"], "sim": ev_r["groups"][s]["sim"],
                                      "default_sim": ev_d["groups"][s]["sim"]} for s, d in spk.items()},
            real_prompt_wer_minus_default=paired_bootstrap(ev_r["items"], ev_d["items"], "wer"),
            real_prompt_sim_minus_default=paired_bootstrap(ev_r["items"], ev_d["items"], "sim"))
    if a.engine_voices:
        report["engines_natural_wer"] = engines_natural(sentences, a.engine_voices.split(","), out / "engines")
    write_text_atomic(out / "report.json", json.dumps(report, indent=1))
    if a.results:
        res = json.loads(Path(a.results).read_text(encoding="utf-8")) if Path(a.results).is_file() else {}
        res.update({k: report[k] for k in HEADLINE if k in report})
        if "engines_natural_wer" in report:
            res["engines_natural_wer"] = report["engines_natural_wer"]["mean"]
            res["ground_truth_natural_wer"] = None  # no recordings of these sentences: the engines' WER stands in
        res["generalize_sets"] = {"natural": report.get("natural_n"), "real_prompt": report.get("real_prompt_n"),
                                  "real_speakers": len(report.get("real_prompt_speakers", {})), "report": str(out / "report.json")}
        write_text_atomic(Path(a.results), json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
