"""Fine-tune a TTS model folder (default: the shipped dualtts-mini) on your own recordings: ``dualtts finetune``.

    summary = finetune("my_clips/", "exp/my_voice")       # -> exp/my_voice/model
    tts = Synthesizer.from_pretrained("exp/my_voice/model")

``data``: a folder of ``clip.wav`` + ``clip.txt`` pairs (.flac/.ogg/.mp3 too; in per-speaker subfolders the
speaker is the subfolder's name), or a CSV/PSV file of ``path|text[|speaker]`` rows (``,`` when the first line
has no ``|``; paths relative to the file's folder). Every clip and transcript is checked first, and the first
problem is one line naming the file. Then, under ``out``, each step skipped when its output is there, training
continued from the latest checkpoint when interrupted (or when ``steps`` grows):

  1. data/       phonemized manifests (all, train, dev) on the base LM's phoneme table
  2. tokens/     the base codec's tokens of every clip
  3. lm/         the semantic LM, fine-tuned from the base model's
  4. lm-states/  the fine-tuned LM's states of every clip (what the acoustic stage reads)
  5. flow/       the acoustic stage (the base's ``flow/``, a NAR or a flow), fine-tuned from the base model's
  6. model/      codec (the base's), lm, flow, prompt.wav + prompt.txt (one of your clips), bundle.json
"""
from __future__ import annotations

import csv
import json
import random
import sys
from collections import Counter
from pathlib import Path

from dualtts.data.atomic import write_text_atomic
from dualtts.data.audio import AudioError, load_audio
from dualtts.data.checkpoint import read_config, resolve_device
from dualtts.data.manifest import Utterance, read_manifest, write_manifest
from dualtts.data.text import Phonemizer, SymbolTable, TextError, check_text
from dualtts.model_path import default_model_dir

AUDIO_EXT = (".wav", ".flac", ".ogg", ".mp3")
MIN_SECONDS, MAX_SECONDS = 0.5, 30.0
N_STEPS = 6


def _say(i: int, what: str, msg: str) -> None:
    print(f"[{i}/{N_STEPS}] {what}: {msg}", file=sys.stderr, flush=True)


# --- 1. the user's data ----------------------------------------------------------------------------------
def read_rows(data: str | Path, exclude: Path | None = None) -> list[tuple[Path, str, str, str]]:
    """``(audio path, transcript, speaker, source)`` of every clip of a folder (but those under ``exclude``) or of a
    CSV/PSV file; ``source`` names the clip in errors (the audio file, or ``file.csv:LINE``). Only file names
    and texts are read here."""
    data = Path(data)
    if data.is_dir():
        return _read_folder(data, exclude)
    if data.is_file():
        return _read_table(data)
    raise FileNotFoundError(f"{data}: no such folder or CSV file")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise TextError(str(path), "not UTF-8 text") from None


def _read_folder(root: Path, exclude: Path | None) -> list:
    clips = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXT and p.is_file()
                   and not any(s.startswith(".") for s in p.relative_to(root).parts)
                   and not (exclude and p.resolve().is_relative_to(exclude)))
    if not clips:
        raise ValueError(f"{root}: no audio files ({' '.join(AUDIO_EXT)}) in the folder")
    rows = []
    for p in clips:
        txt = p.with_suffix(".txt")
        if not txt.is_file():
            raise TextError(str(p), f"no transcript (expected {txt.name} next to it)")
        rel = p.relative_to(root).parts
        rows.append((p, _read_text(txt), rel[0] if len(rel) > 1 else root.resolve().name, str(p)))
    return rows


def _read_table(path: Path) -> list:
    lines = _read_text(path).splitlines()
    sep = "|" if lines and "|" in lines[0] else ","
    reader = csv.reader(lines, delimiter=sep, quoting=csv.QUOTE_NONE if sep == "|" else csv.QUOTE_MINIMAL)
    rows = []
    for n, r in enumerate(reader, 1):
        if not r or not any(c.strip() for c in r):
            continue
        if n == 1 and [c.strip().lower() for c in r[:2]] == ["path", "text"]:
            continue  # a header
        src = f"{path}:{n}"
        if len(r) < 2:
            raise ValueError(f"{src}: expected path{sep}text[{sep}speaker], got {sep.join(r)!r}")
        audio = Path(r[0].strip())
        audio = audio if audio.is_absolute() else path.parent / audio
        if not audio.is_file():
            raise AudioError(src, f"{audio}: file not found")
        speaker = r[2].strip() if len(r) > 2 and r[2].strip() else path.stem
        rows.append((audio, r[1], speaker, src))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def fingerprint(rows) -> list:
    """What the manifests were built from (paths, sizes, times, texts, speakers): a rerun on changed data is
    told apart from a resume."""
    return [[str(a.resolve()), a.stat().st_size, a.stat().st_mtime_ns, t, s] for a, t, s, _ in rows]


def fit_phonemes(ph: str, symbols: SymbolTable, source: str) -> str:
    """``ph`` on the base LM's table: punctuation the table lacks is dropped (as the Synthesizer does), an
    unknown phoneme is an error naming the clip."""
    ph = symbols.drop_missing_punctuation(ph)
    try:
        symbols.encode(ph, source=source)
    except TextError as e:
        raise TextError(source, f"{e.problem} of the base model (reword the transcript or leave the clip out)") from None
    return ph


def build_utterances(rows, symbols: SymbolTable, language: str = "en-us") -> list[Utterance]:
    """Load and check every clip (readable, 0.5-30 s, not silent) and transcript (not empty, sayable, on the base
    model's phoneme table); one-line errors naming the clip."""
    from tqdm import tqdm

    utts, texts, seen = [], [], set()
    for audio, text, speaker, src in tqdm(rows, desc="checking clips", unit="clip", file=sys.stderr, disable=None):
        try:
            wav, sr = load_audio(audio, None, min_seconds=MIN_SECONDS, max_seconds=MAX_SECONDS, require_speech=True)
        except AudioError as e:
            raise AudioError(src, e.problem if src == str(audio) else str(e)) from None
        text = " ".join(text.split())
        if not text:
            raise TextError(src, "empty transcript")
        texts.append(check_text(text, language, source=src))
        uid = audio.stem if audio.stem not in seen else f"{speaker}_{audio.stem}"
        uid = uid if uid not in seen else f"{uid}_{len(seen)}"
        seen.add(uid)
        utts.append(Utterance(id=uid, audio=str(audio.resolve()), duration=round(len(wav) / sr, 4), speaker=speaker, text=text))
    srcs = [r[3] for r in rows]
    for u, ph, src in zip(utts, Phonemizer(language).batch(texts, sources=srcs), srcs):
        u.phonemes = fit_phonemes(ph, symbols, src)
    return utts


def split_dev(utts: list[Utterance], seed: int = 0) -> tuple[list[Utterance], list[Utterance] | None]:
    """(train, dev): about 5 % of the clips held out (2-50) when there are at least 20; else no dev (validate on train)."""
    if len(utts) < 20:
        return utts, None
    k = max(2, min(50, round(0.05 * len(utts))))
    dev = set(random.Random(seed).sample(range(len(utts)), k))
    return [u for i, u in enumerate(utts) if i not in dev], [u for i, u in enumerate(utts) if i in dev]


# --- 3. and 5.: training ---------------------------------------------------------------------------------
def _latest(out_dir: Path) -> tuple[int, Path | None]:
    f = out_dir / "checkpoints" / "latest"
    if not f.is_file():
        return 0, None
    ckpt = out_dir / "checkpoints" / f.read_text().strip()
    return json.loads((ckpt / "state.json").read_text())["step"], ckpt


def _train(i: int, what: str, task_cls, cfg, out_dir: Path, steps: int) -> Path:
    """Train to ``steps`` (continuing from the latest checkpoint) unless done; the last checkpoint's folder."""
    from dualtts.training.loop import Trainer

    step, ckpt = _latest(out_dir)
    if step >= steps:
        _say(i, what, f"done (step {step}), skipped")
        return ckpt
    _say(i, what, f"fine-tuning {'from step 0' if not step else f'continued from step {step}'} to {steps}")
    Trainer(cfg.train, task_cls(cfg)).fit(resume=True)
    return _latest(out_dir)[1]


def _train_config(out_dir: Path, steps: int, lr: float, device):
    from dualtts.training.loop import TrainConfig

    return TrainConfig(out_dir=str(out_dir), max_steps=steps, lr=lr, betas=(0.9, 0.98), weight_decay=0.01,
                       warmup_steps=min(50, max(1, steps // 10)), log_every=1, val_every=max(10, steps // 4),
                       save_every=max(10, steps // 4), keep_checkpoints=1, mixed_precision="auto", cpu=device.type == "cpu")


def _last_val(out_dir: Path) -> dict:
    f = out_dir / "validation.jsonl"
    lines = f.read_text().splitlines() if f.is_file() else []
    return {k: round(v, 4) for k, v in json.loads(lines[-1]).items()} if lines else {}


# --- the whole run ---------------------------------------------------------------------------------------
def finetune(data: str | Path, out: str | Path, base: str | Path | None = None, steps: int = 300,
             flow_steps: int | None = None, lr: float = 2e-4, batch_size: int = 8, device="auto",
             language: str = "en-us") -> dict:
    """Fine-tune ``base`` (a model folder with codec/ lm/ flow/) on ``data``; writes ``out/model``. ``steps``: LM
    steps (and the acoustic stage's unless ``flow_steps``). Returns a summary."""
    from dualtts.codec.tokenizer import load_tokenizer
    from dualtts.codec.extract import extract_tokens
    from dualtts.bundle import write_model_folder
    from dualtts.zeroshot import lm_states
    from dualtts.lm.model import SemanticLM
    from dualtts.lm.train import LMTask, LMTrainConfig

    base, out, device = Path(base or default_model_dir()).resolve(), Path(out).resolve(), resolve_device(device)
    for part in ("codec", "lm", "flow"):
        if not (base / part / "model.safetensors").is_file():
            raise FileNotFoundError(f"{base}: not a DualTTS model folder (missing {part}/model.safetensors)")
    if not (base / "lm" / "symbols.json").is_file():
        raise FileNotFoundError(f"{base / 'lm'}: no symbols.json (the phoneme table)")
    flow_steps = steps if flow_steps is None else flow_steps
    if steps < 1 or flow_steps < 1 or batch_size < 1:
        raise ValueError("steps and batch size must be at least 1")
    rows = read_rows(data, exclude=out)  # (before anything is written: bad input leaves no folder behind)
    symbols = SymbolTable.load(base / "lm" / "symbols.json")
    settings = {"data": str(Path(data).resolve()), "base": str(base), "language": language, "clips": fingerprint(rows)}

    # 1. manifests
    d = out / "data"
    if (out / "finetune.json").is_file() and (d / "train.jsonl").is_file():
        old = json.loads((out / "finetune.json").read_text(encoding="utf-8"))
        if old != settings:
            what = next(k for k in settings if old.get(k) != settings[k])
            was = "other clips or transcripts" if what == "clips" else f"{what} {old.get(what)}"
            raise ValueError(f"{out}: fine-tuned on {was} before; give another --out (or delete this one)")
        _say(1, "data", f"done ({len(rows)} clips), skipped")
    else:
        utts = build_utterances(rows, symbols, language)
        train, dev = split_dev(utts)
        write_manifest(d / "all.jsonl", utts)
        write_manifest(d / "dev.jsonl", dev or train)
        write_manifest(d / "train.jsonl", train)
        symbols.save(d / "symbols.json")
        write_text_atomic(out / "finetune.json", json.dumps(settings, indent=0, ensure_ascii=False))
        _say(1, "data", f"{len(utts)} clips, {len(set(u.speaker for u in utts))} speaker(s), "
                        f"{sum(u.duration for u in utts) / 60:.1f} min; " + (f"{len(dev)} held out" if dev else
                        "too few clips to hold some out (< 20): validating on the training clips"))
    utts = read_manifest(d / "all.jsonl")
    dev_ids = {u.id for u in read_manifest(d / "dev.jsonl")}
    train_ids = {u.id for u in read_manifest(d / "train.jsonl")}

    # 2. tokens
    tk = out / "tokens"
    if (tk / "train.jsonl").is_file():
        _say(2, "tokens", "done, skipped")
    else:
        _say(2, "tokens", f"{len(utts)} clips through {base / 'codec'}")
        tok = load_tokenizer(f"dualcodec:{base / 'codec'}", device)
        summary = extract_tokens(tok, d / "all.jsonl", tk, batch_size=batch_size, max_seconds=MAX_SECONDS, device=device)
        if summary["skipped"]:
            raise AudioError(str(d / "all.jsonl"), f"{summary['skipped']} clip(s) could not be tokenized: "
                             f"{(tk / 'skipped.txt').read_text().splitlines()[0]}")
        rows_tk = read_manifest(tk / "manifest.jsonl")
        write_manifest(tk / "dev.jsonl", [u for u in rows_tk if u.id in dev_ids])
        write_manifest(tk / "train.jsonl", [u for u in rows_tk if u.id in train_ids])

    # 3. the semantic LM
    lm_cfg = LMTrainConfig(init=str(base / "lm"), train_manifest=str(tk / "train.jsonl"), val_manifest=str(tk / "dev.jsonl"),
                           symbols=str(d / "symbols.json"), batch_size=batch_size,
                           train=_train_config(out / "lm", steps, lr, device))
    lm_ckpt = _train(3, "lm", LMTask, lm_cfg, out / "lm", steps) / "lm"

    # 4. the LM's states, for the acoustic stage
    st = out / "lm-states"
    flow_cfg_file = read_config(base / "flow")
    if not flow_cfg_file.get("cond_dim"):
        _say(4, "lm-states", f"not needed ({base / 'flow'} does not read LM states)")
    elif (st / "source.json").is_file() and json.loads((st / "source.json").read_text()).get("lm") == str(lm_ckpt):
        _say(4, "lm-states", "done, skipped")
    else:
        _say(4, "lm-states", f"{len(utts)} clips through {lm_ckpt}")
        lm = SemanticLM.from_pretrained(lm_ckpt, device)
        lm_states(lm, lm.symbols(), tk / "manifest.jsonl", st, batch_size=batch_size)
        write_text_atomic(st / "source.json", json.dumps({"lm": str(lm_ckpt)}))

    # 5. the acoustic stage
    states = str(st) if flow_cfg_file.get("cond_dim") else None
    common = dict(init=str(base / "flow"), train_manifest=str(tk / "train.jsonl"), val_manifest=str(tk / "dev.jsonl"),
                  lm_states=states, batch_size=batch_size, train=_train_config(out / "flow", flow_steps, lr, device))
    if flow_cfg_file.get("stage") == "nar":
        from dualtts.flow.nar_train import NARTask as task, NARTrainConfig

        fcfg, sub = NARTrainConfig(**common), "nar"
    else:
        from dualtts.flow.train import FlowTask as task, FlowTrainConfig

        fcfg, sub = FlowTrainConfig(tokenizer=f"dualcodec:{base / 'codec'}", val_utterances=0, **common), "flow"
    flow_ckpt = _train(5, "flow", task, fcfg, out / "flow", flow_steps) / sub

    # 6. the model folder
    sources = {"codec": str(base / "codec"), "lm": str(lm_ckpt), "flow": str(flow_ckpt)}
    bundle = out / "model" / "bundle.json"
    if bundle.is_file() and json.loads(bundle.read_text()).get("sources") == sources:
        _say(6, "model", f"done ({out / 'model'}), skipped")
    else:
        voice = Counter(u.speaker for u in utts).most_common(1)[0][0]
        prompt = min((u for u in utts if u.speaker == voice), key=lambda u: (abs(u.duration - 5.0), u.id))
        info = {"base": str(base), "data": str(data), "sources": sources, "prompt": prompt.audio,
                "steps": {"lm": _latest(out / "lm")[0], "flow": _latest(out / "flow")[0]},
                "validation": {"lm": _last_val(out / "lm"), "flow": _last_val(out / "flow")}}
        write_model_folder(out / "model", base / "codec", lm_ckpt, flow_ckpt, prompt.audio, prompt.text, info=info)
        _say(6, "model", f"{out / 'model'} (default voice: {Path(prompt.audio).name})")
    info = json.loads(bundle.read_text())
    return {"model": str(out / "model"), "clips": len(utts), "train": len(train_ids),
            "dev": len(dev_ids) if dev_ids != train_ids else 0, "steps": info["steps"], "validation": info["validation"]}
